/**
 * Third-party copy wire constants and the copy manager's advertised limits
 * (SPC-4 §5.16, §6.4 EXTENDED COPY, §6.18 RECEIVE COPY RESULTS, §7.8.17 the
 * Third-party Copy VPD page), with the builders of the two pages that only
 * report those limits: VPD 8Fh and RECEIVE COPY RESULTS / OPERATING PARAMETERS.
 *
 * Does NOT parse parameter lists (tpc-parse.ts) or run copies (tpc.ts).
 * Buffers returned are fresh and owned by the caller; none is payload.
 */
import type { BackendLunInfo } from './backend.js';

/** Operation codes (SPC-4 §6.4, §6.18). */
export const TpcOpcode = {
  /** EXTENDED COPY; service action in CDB byte 1. */
  ExtendedCopy: 0x83,
  /** RECEIVE COPY RESULTS (LID1 service actions). */
  ReceiveCopyResults: 0x84,
} as const;

/** EXTENDED COPY service actions (SPC-4 table 34). Only LID1 is implemented. */
export const ExtendedCopySa = { Lid1: 0x00 } as const;

/** RECEIVE COPY RESULTS service actions (SPC-4 table 115) this copy manager implements. */
export const ReceiveCopyResultsSa = {
  CopyStatus: 0x00,
  OperatingParameters: 0x03,
  FailedSegmentDetails: 0x04,
} as const;

/** CSCD descriptor type codes (SPC-4 table 38) and segment descriptor type codes (table 37) accepted. */
export const TpcDescriptorType = {
  /** Block device to block device segment descriptor. */
  BlockToBlock: 0x02,
  /** Identification descriptor CSCD descriptor (names a LU by a VPD 83h designator). */
  IdentificationCscd: 0xe4,
} as const;

/** CSCD descriptor ID meaning "the logical unit that received the EXTENDED COPY" (SPC-4 §6.4.6.1). */
export const CSCD_ID_THIS_LUN = 0xffff;

/** LIST ID USAGE values of the parameter list header (SPC-4 table 36). */
export const ListIdUsage = {
  /** Hold the results for RECEIVE COPY RESULTS; list id unique per I_T nexus. */
  Hold: 0,
  /** Reserved. */
  Reserved: 1,
  /** Do not hold results; list id unique while the copy runs. */
  NoHold: 2,
  /** List id ignored (must be zero); no RECEIVE COPY RESULTS possible. */
  None: 3,
} as const;

/** COPY MANAGER STATUS of the COPY STATUS response (SPC-4 table 117). */
export const CopyManagerStatus = { InProgress: 0x00, CompletedGood: 0x01, CompletedError: 0x02 } as const;

/** Sizes of the fixed-size structures (SPC-4 §6.4.3, §6.4.6.1, §6.4.7.5). */
export const PARAMETER_LIST_HEADER_SIZE = 16;
export const CSCD_DESCRIPTOR_SIZE = 32;
export const B2B_SEGMENT_SIZE = 28;
/** Largest designator an identification CSCD descriptor holds (bytes 8..27). */
export const CSCD_MAX_DESIGNATOR = 20;

/** ASC/ASCQ pairs of the copy manager (SPC-4 Annex D). */
export const TpcAsc = {
  NoAdditionalSenseInformation: { asc: 0x00, ascq: 0x00 },
  OperationInProgress: { asc: 0x00, ascq: 0x16 },
  UnreachableCopyTarget: { asc: 0x08, ascq: 0x04 },
  ThirdPartyDeviceFailure: { asc: 0x0d, ascq: 0x01 },
  ParameterListLengthError: { asc: 0x1a, ascq: 0x00 },
  InvalidFieldInParameterList: { asc: 0x26, ascq: 0x00 },
  TooManyTargetDescriptors: { asc: 0x26, ascq: 0x06 },
  UnsupportedTargetDescriptorTypeCode: { asc: 0x26, ascq: 0x07 },
  TooManySegmentDescriptors: { asc: 0x26, ascq: 0x08 },
  UnsupportedSegmentDescriptorTypeCode: { asc: 0x26, ascq: 0x09 },
  UnexpectedInexactSegment: { asc: 0x26, ascq: 0x0a },
  InsufficientResources: { asc: 0x55, ascq: 0x03 },
} as const;

/** Limits the copy manager advertises (VPD 8Fh, OPERATING PARAMETERS) and enforces. */
export interface TpcLimits {
  /** MAXIMUM CSCD DESCRIPTOR COUNT. */
  readonly maxCscdDescriptors: number;
  /** MAXIMUM SEGMENT DESCRIPTOR COUNT. */
  readonly maxSegmentDescriptors: number;
  /** MAXIMUM DESCRIPTOR LIST LENGTH: CSCD list + segment list, bytes. */
  readonly maxDescriptorListLength: number;
  /** TOTAL CONCURRENT COPIES (and MAXIMUM IDENTIFIED CONCURRENT COPIES). */
  readonly maxConcurrentCopies: number;
}

/** The limits with the default `TpcOptions` (see tpc.ts `TPC_DEFAULTS`). */
export const DEFAULT_TPC_LIMITS: TpcLimits = {
  maxCscdDescriptors: 32,
  maxSegmentDescriptors: 32,
  maxDescriptorListLength: 32 * CSCD_DESCRIPTOR_SIZE + 32 * B2B_SEGMENT_SIZE,
  maxConcurrentCopies: 16,
};

/** Third-party copy descriptor types of VPD 8Fh (SPC-4 table 589). */
const TpcVpdDescriptor = {
  SupportedCommands: 0x0001,
  ParameterData: 0x0008,
  SupportedDescriptors: 0x000c,
  SupportedCscdIds: 0x000d,
  GeneralCopyOperations: 0x8001,
} as const;

/** Segment and CSCD descriptor type codes implemented, ascending. */
const IMPLEMENTED_DESCRIPTORS = [TpcDescriptorType.BlockToBlock, TpcDescriptorType.IdentificationCscd] as const;

function tpcDescriptor(type: number, body: Buffer): Buffer {
  // SPC-4 §7.8.17: every third-party copy descriptor is a multiple of 4 bytes long.
  const len = (body.length + 3) & ~3;
  const d = Buffer.alloc(4 + len);
  d.writeUInt16BE(type, 0);
  d.writeUInt16BE(len, 2); // DESCRIPTOR LENGTH (n - 3)
  body.copy(d, 4);
  return d;
}

/** Third-party Copy VPD page 8Fh (SPC-4 §7.8.17) for an existing LUN. */
export function buildThirdPartyCopyVpd(peripheral: number, limits: TpcLimits): Buffer {
  // Supported Commands (SPC-4 §7.8.17.3): opcode, SA list length, SAs.
  const cmds = Buffer.from([
    TpcOpcode.ExtendedCopy,
    1,
    ExtendedCopySa.Lid1,
    TpcOpcode.ReceiveCopyResults,
    3,
    ReceiveCopyResultsSa.CopyStatus,
    ReceiveCopyResultsSa.OperatingParameters,
    ReceiveCopyResultsSa.FailedSegmentDetails,
  ]);
  const sc = Buffer.concat([Buffer.from([cmds.length]), cmds]); // COMMANDS SUPPORTED LIST LENGTH
  // Parameter Data (SPC-4 §7.8.17.4).
  const pd = Buffer.alloc(28);
  pd.writeUInt16BE(limits.maxCscdDescriptors, 4);
  pd.writeUInt16BE(limits.maxSegmentDescriptors, 6);
  pd.writeUInt32BE(limits.maxDescriptorListLength, 8);
  pd.writeUInt32BE(0, 12); // MAXIMUM INLINE DATA LENGTH: inline data not supported
  // Supported Descriptors (SPC-4 §7.8.17.5).
  const sd = Buffer.from([IMPLEMENTED_DESCRIPTORS.length, ...IMPLEMENTED_DESCRIPTORS]);
  // Supported CSCD Descriptor IDs (SPC-4 §7.8.17.6): FFFFh, the copy manager's own LU.
  const sdid = Buffer.alloc(4);
  sdid.writeUInt16BE(2, 0);
  sdid.writeUInt16BE(CSCD_ID_THIS_LUN, 2);
  // General Copy Operations (SPC-4 §7.8.17.14).
  const gco = Buffer.alloc(32);
  gco.writeUInt32BE(limits.maxConcurrentCopies, 0); // TOTAL CONCURRENT COPIES
  gco.writeUInt32BE(Math.min(255, limits.maxConcurrentCopies), 4); // MAXIMUM IDENTIFIED CONCURRENT COPIES
  gco.writeUInt32BE(0, 8); // MAXIMUM SEGMENT LENGTH: no limit
  gco[12] = 0; // DATA SEGMENT GRANULARITY
  gco[13] = 0; // INLINE DATA GRANULARITY
  const descriptors = [
    tpcDescriptor(TpcVpdDescriptor.SupportedCommands, sc),
    tpcDescriptor(TpcVpdDescriptor.ParameterData, pd),
    tpcDescriptor(TpcVpdDescriptor.SupportedDescriptors, sd),
    tpcDescriptor(TpcVpdDescriptor.SupportedCscdIds, sdid),
    tpcDescriptor(TpcVpdDescriptor.GeneralCopyOperations, gco),
  ];
  const body = Buffer.concat(descriptors);
  const page = Buffer.alloc(4 + body.length);
  page[0] = peripheral;
  page[1] = 0x8f;
  page.writeUInt16BE(body.length, 2);
  body.copy(page, 4);
  return page;
}

/** RECEIVE COPY RESULTS / OPERATING PARAMETERS data (SPC-4 §6.18.4). */
export function buildOperatingParameters(limits: TpcLimits): Buffer {
  const buf = Buffer.alloc(44 + IMPLEMENTED_DESCRIPTORS.length);
  buf.writeUInt32BE(buf.length - 4, 0); // AVAILABLE DATA (n - 3)
  buf[4] = 0x01; // SNLID: LIST ID USAGE 11b supported
  buf.writeUInt16BE(limits.maxCscdDescriptors, 8);
  buf.writeUInt16BE(limits.maxSegmentDescriptors, 10);
  buf.writeUInt32BE(limits.maxDescriptorListLength, 12);
  buf.writeUInt32BE(0, 16); // MAXIMUM SEGMENT LENGTH: no limit
  buf.writeUInt32BE(0, 20); // MAXIMUM INLINE DATA LENGTH
  buf.writeUInt32BE(0, 24); // HELD DATA LIMIT: no data is held
  buf.writeUInt32BE(0, 28); // MAXIMUM STREAM DEVICE TRANSFER SIZE: no stream devices
  buf.writeUInt16BE(Math.min(0xffff, limits.maxConcurrentCopies), 34); // TOTAL CONCURRENT COPIES
  buf[36] = Math.min(255, limits.maxConcurrentCopies); // MAXIMUM CONCURRENT COPIES
  buf[37] = 0; // DATA SEGMENT GRANULARITY
  buf[38] = 0; // INLINE DATA GRANULARITY
  buf[39] = 0; // HELD DATA GRANULARITY
  buf[43] = IMPLEMENTED_DESCRIPTORS.length; // IMPLEMENTED DESCRIPTOR LIST LENGTH
  IMPLEMENTED_DESCRIPTORS.forEach((c, i) => (buf[44 + i] = c));
  return buf;
}

/**
 * The logical unit designators of a LUN that an identification CSCD
 * descriptor may name: the NAA and T10 vendor ID designators of VPD 83h
 * (see inquiry.ts), as code set, designator type and bytes (association 00b).
 */
export function lunDesignators(lun: BackendLunInfo): { codeSet: number; type: number; id: Buffer }[] {
  const t10 = Buffer.alloc(8 + Buffer.byteLength(lun.deviceId, 'latin1'), 0x20);
  t10.write(lun.vendor.slice(0, 8), 0, 8, 'latin1');
  t10.write(lun.deviceId, 8, 'latin1');
  return [
    { codeSet: 0x1, type: 0x3, id: lun.naa }, // binary, NAA
    { codeSet: 0x2, type: 0x1, id: t10 }, // ASCII, T10 vendor ID based
  ];
}
