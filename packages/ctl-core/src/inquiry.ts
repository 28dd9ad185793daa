/**
 * INQUIRY data (SPC-4 §6.6, §7.8; SBC-3 §6.5): the standard INQUIRY data (TPGS
 * = 01b, implicit ALUA) and
 * the vital product data pages 00h, 80h, 83h, B0h, B1h and B2h.
 *
 * Does NOT parse the CDB or apply the allocation length (the INQUIRY handler
 * in spc-commands.ts does). Every buffer returned is freshly allocated and
 * owned by the caller; none of this is payload, so nothing is counted as a
 * copy.
 */
import type { BackendLunInfo } from './backend.js';
import { maxCompareAndWriteBlocks } from './sbc-integrity.js';
import {
  Association,
  CodeSet,
  DesignatorType,
  PeripheralDeviceType,
  PeripheralQualifier,
  PROTOCOL_IDENTIFIER_ISCSI,
  SPC_VERSION_SPC4,
  VpdPage,
} from './scsi-proto.js';
import { buildThirdPartyCopyVpd, DEFAULT_TPC_LIMITS, type TpcLimits } from './tpc-proto.js';
import { buildLogicalBlockProvisioningVpd, writeProvisioningLimits } from './lbp.js';

/** VPD pages supported for an existing LUN, ascending (SPC-4 §7.8.13). */
export const SUPPORTED_VPD_PAGES: readonly number[] = [
  VpdPage.SupportedVpdPages,
  VpdPage.UnitSerialNumber,
  VpdPage.DeviceIdentification,
  0x8f, // Third-party Copy (SPC-4 §7.8.17)
  VpdPage.BlockLimits,
  VpdPage.BlockDeviceCharacteristics,
  VpdPage.LogicalBlockProvisioning,
];

/** Version descriptors claimed in standard INQUIRY data (SPC-4 §6.4.3, table 147). */
export const VERSION_DESCRIPTORS: readonly number[] = [
  0x00a0, // SAM-5 (no version claimed)
  0x0460, // SPC-4 (no version claimed)
  0x04c0, // SBC-3 (no version claimed)
  0x0960, // iSCSI (no version claimed)
];

/** Length of the standard INQUIRY data we return. */
export const STANDARD_INQUIRY_LENGTH = 96;

/** Identity used for standard INQUIRY data. */
export interface InquiryIdentity {
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
}

/** Peripheral qualifier + device type byte (SPC-4 §6.4.2). */
export function peripheralByte(lunExists: boolean): number {
  return lunExists
    ? (PeripheralQualifier.Connected << 5) | PeripheralDeviceType.DirectAccessBlock
    : (PeripheralQualifier.NotCapable << 5) | PeripheralDeviceType.Unknown;
}

/** Writes `text` as ASCII left-aligned and space padded into `width` bytes. */
function writePadded(buf: Buffer, offset: number, width: number, text: string): void {
  buf.fill(0x20, offset, offset + width);
  buf.write(text.slice(0, width), offset, width, 'latin1');
}

/**
 * Standard INQUIRY data (SPC-4 §6.4.2): version SPC-4, response data format
 * 2, HISUP, CMDQUE, T10 vendor/product/revision space padded, and version
 * descriptors. `lunExists` false gives peripheral qualifier 011b, type 1Fh.
 * `removable` sets RMB (a LUN configured with a removable medium, removable.ts).
 */
export function buildStandardInquiry(id: InquiryIdentity, lunExists: boolean, removable = false): Buffer {
  const buf = Buffer.alloc(STANDARD_INQUIRY_LENGTH);
  buf[0] = peripheralByte(lunExists);
  buf[1] = removable ? 0x80 : 0x00; // SPC-4 §6.4.2 RMB: removable medium
  buf[2] = SPC_VERSION_SPC4;
  buf[3] = 0x10 | 0x02; // HISUP | RESPONSE DATA FORMAT 2
  buf[4] = STANDARD_INQUIRY_LENGTH - 5; // ADDITIONAL LENGTH
  // TPGS = 01b: implicit ALUA only (alua.ts; REPORT TARGET PORT GROUPS, no SET TARGET PORT GROUPS);
  // 3PC: EXTENDED COPY (SPC-4 §6.4.2); no SCCS, ACC, PROTECT.
  buf[5] = 0x10 | 0x08;
  buf[6] = 0x00;
  buf[7] = 0x02; // CMDQUE
  writePadded(buf, 8, 8, id.vendor);
  writePadded(buf, 16, 16, id.product);
  writePadded(buf, 32, 4, id.revision);
  let off = 58;
  for (const v of VERSION_DESCRIPTORS) {
    buf.writeUInt16BE(v, off);
    off += 2;
  }
  return buf;
}

/** What the VPD builders need to know besides the LUN. */
export interface VpdContext {
  /** The LUN's backend description, or null if the LUN does not exist. */
  readonly lun: BackendLunInfo | null;
  /** SCSI target name (iSCSI name of the target). */
  readonly targetName: string;
  /** SCSI target port name (iSCSI: "<target name>,t,0x<TPGT>"). */
  readonly targetPortName: string;
  /** Relative target port identifier, 1..65535. */
  readonly relativeTargetPort: number;
  /** Target port group of the port (alua.ts), 1..65535. */
  readonly targetPortGroup: number;
  /** The copy manager's limits for VPD 8Fh (default `DEFAULT_TPC_LIMITS`). */
  readonly thirdPartyCopy?: TpcLimits;
}

function vpdHeader(pageCode: number, lunExists: boolean, pageLength: number): Buffer {
  const buf = Buffer.alloc(4 + pageLength);
  buf[0] = peripheralByte(lunExists);
  buf[1] = pageCode;
  buf.writeUInt16BE(pageLength, 2);
  return buf;
}

/** One designation descriptor (SPC-4 §7.8.6.1). */
function designator(protocolId: number, codeSet: number, piv: boolean, assoc: number, type: number, id: Buffer): Buffer {
  const d = Buffer.alloc(4 + id.length);
  d[0] = ((protocolId & 0x0f) << 4) | (codeSet & 0x0f);
  d[1] = (piv ? 0x80 : 0) | ((assoc & 0x03) << 4) | (type & 0x0f);
  d[3] = id.length;
  id.copy(d, 4);
  return d;
}

/**
 * SCSI name string (SPC-4 §7.8.6.11): UTF-8, null terminated, padded with
 * nulls to a multiple of 4 bytes.
 */
export function scsiNameString(name: string): Buffer {
  const bytes = Buffer.from(name, 'utf8');
  const len = (bytes.length + 4) & ~3; // at least one terminating null
  const buf = Buffer.alloc(Math.min(len, 252)); // DESIGNATOR LENGTH is one byte
  bytes.copy(buf, 0, 0, Math.min(bytes.length, buf.length - 1));
  return buf;
}

/** Device Identification VPD page (SPC-4 §7.8.6). */
function deviceIdentification(ctx: VpdContext, lun: BackendLunInfo): Buffer {
  const t10Id = Buffer.alloc(8 + Buffer.byteLength(lun.deviceId, 'latin1'), 0x20);
  t10Id.write(lun.vendor.slice(0, 8), 0, 8, 'latin1');
  t10Id.write(lun.deviceId, 8, 'latin1');
  const relPort = Buffer.alloc(4);
  relPort.writeUInt16BE(ctx.relativeTargetPort & 0xffff, 2);
  const tpg = Buffer.alloc(4);
  tpg.writeUInt16BE(ctx.targetPortGroup & 0xffff, 2);
  const descriptors = [
    // NAA, logical unit (SPC-4 §7.8.6.6).
    designator(0, CodeSet.Binary, false, Association.LogicalUnit, DesignatorType.Naa, lun.naa),
    // T10 vendor ID based, logical unit (SPC-4 §7.8.6.4).
    designator(0, CodeSet.Ascii, false, Association.LogicalUnit, DesignatorType.T10VendorId, t10Id),
    // Relative target port (SPC-4 §7.8.6.7).
    designator(
      PROTOCOL_IDENTIFIER_ISCSI,
      CodeSet.Binary,
      true,
      Association.TargetPort,
      DesignatorType.RelativeTargetPort,
      relPort,
    ),
    // Target port group (SPC-4 §7.8.6.8): the ALUA group of this port.
    designator(
      PROTOCOL_IDENTIFIER_ISCSI,
      CodeSet.Binary,
      true,
      Association.TargetPort,
      DesignatorType.TargetPortGroup,
      tpg,
    ),
    // SCSI name string of the target port (iSCSI: "<name>,t,0x<TPGT>").
    designator(
      PROTOCOL_IDENTIFIER_ISCSI,
      CodeSet.Utf8,
      true,
      Association.TargetPort,
      DesignatorType.ScsiNameString,
      scsiNameString(ctx.targetPortName),
    ),
    // SCSI name string of the target device (the iSCSI target name).
    designator(
      PROTOCOL_IDENTIFIER_ISCSI,
      CodeSet.Utf8,
      true,
      Association.TargetDevice,
      DesignatorType.ScsiNameString,
      scsiNameString(ctx.targetName),
    ),
  ];
  let len = 0;
  for (const d of descriptors) len += d.length;
  const buf = vpdHeader(VpdPage.DeviceIdentification, true, len);
  let off = 4;
  for (const d of descriptors) {
    d.copy(buf, off);
    off += d.length;
  }
  return buf;
}

/** Block Limits VPD page (SBC-3 §6.5.3); the UNMAP / WRITE SAME fields come from lbp.ts. */
function blockLimits(lun: BackendLunInfo): Buffer {
  const buf = vpdHeader(VpdPage.BlockLimits, true, 0x3c);
  // OPTIMAL TRANSFER LENGTH GRANULARITY: one physical block.
  // MAXIMUM COMPARE AND WRITE LENGTH (SBC-3 §6.5.3): COMPARE AND WRITE is supported (sbc-integrity.ts).
  buf[5] = maxCompareAndWriteBlocks(lun.maxTransferBlocks);
  buf.writeUInt16BE(Math.min(0xffff, 2 ** lun.physicalBlockExponent), 6);
  buf.writeUInt32BE(Math.min(0xffffffff, lun.maxTransferBlocks), 8);
  buf.writeUInt32BE(Math.min(0xffffffff, lun.optimalTransferBlocks), 12);
  writeProvisioningLimits(buf, lun);
  return buf;
}

/** Block Device Characteristics VPD page (SBC-3 §6.5.2). */
function blockDeviceCharacteristics(lun: BackendLunInfo): Buffer {
  const buf = vpdHeader(VpdPage.BlockDeviceCharacteristics, true, 0x3c);
  buf.writeUInt16BE(lun.rotationRate & 0xffff, 4); // MEDIUM ROTATION RATE
  buf[6] = 0; // PRODUCT TYPE: not indicated
  buf[7] = 0; // NOMINAL FORM FACTOR: not reported
  return buf;
}

/** Logical Block Provisioning VPD page (SBC-3 §6.5.4). */
function logicalBlockProvisioning(lun: BackendLunInfo): Buffer {
  return buildLogicalBlockProvisioningVpd(lun, peripheralByte(true), VpdPage.LogicalBlockProvisioning);
}

/** Builds VPD page `pageCode`, or returns null if it is not supported. */
export function buildVpdPage(pageCode: number, ctx: VpdContext): Buffer | null {
  const lun = ctx.lun;
  if (lun === null) {
    // A LUN that does not exist supports only the supported-pages page.
    if (pageCode !== VpdPage.SupportedVpdPages) return null;
    const buf = vpdHeader(pageCode, false, 1);
    buf[4] = VpdPage.SupportedVpdPages;
    return buf;
  }
  switch (pageCode) {
    case VpdPage.SupportedVpdPages: {
      const buf = vpdHeader(pageCode, true, SUPPORTED_VPD_PAGES.length);
      SUPPORTED_VPD_PAGES.forEach((p, i) => (buf[4 + i] = p));
      return buf;
    }
    case VpdPage.UnitSerialNumber: {
      const serial = Buffer.from(lun.serialNumber, 'latin1');
      const buf = vpdHeader(pageCode, true, serial.length);
      serial.copy(buf, 4);
      return buf;
    }
    case VpdPage.DeviceIdentification:
      return deviceIdentification(ctx, lun);
    case VpdPage.BlockLimits:
      return blockLimits(lun);
    case VpdPage.BlockDeviceCharacteristics:
      return blockDeviceCharacteristics(lun);
    case VpdPage.LogicalBlockProvisioning:
      return logicalBlockProvisioning(lun);
    case 0x8f:
      return buildThirdPartyCopyVpd(peripheralByte(true), ctx.thirdPartyCopy ?? DEFAULT_TPC_LIMITS);
    default:
      return null;
  }
}
