/**
 * EXTENDED COPY (LID1) parameter list decoding (SPC-4 §6.4.3): the header,
 * the CSCD descriptor list (identification descriptors, E4h) and the segment
 * descriptor list (block device to block device, 02h), with the limits of
 * `TpcLimits`. Every error names the sense SPC-4 requires and, where one
 * field is at fault, a field pointer into the parameter list (C/D = 0).
 *
 * Does NOT resolve CSCD descriptors to LUNs or check LBAs against capacity
 * (that needs the LUNs, see tpc.ts), and runs nothing. The input buffer is
 * borrowed only for the call: everything returned is copied out of it.
 */
import {
  B2B_SEGMENT_SIZE,
  CSCD_DESCRIPTOR_SIZE,
  CSCD_MAX_DESIGNATOR,
  ListIdUsage,
  PARAMETER_LIST_HEADER_SIZE,
  TpcAsc,
  TpcDescriptorType,
  type TpcLimits,
} from './tpc-proto.js';
import { SenseKey, type AscAscq } from './scsi-proto.js';

/** A decoded identification CSCD descriptor (SPC-4 §6.4.6.1, §6.4.6.2). */
export interface CscdDescriptor {
  /** Offset of the descriptor in the parameter list (for field pointers). */
  readonly offset: number;
  readonly codeSet: number;
  readonly association: number;
  readonly designatorType: number;
  readonly designator: Buffer;
  /** DISK BLOCK LENGTH (0 = the LU's own block length). */
  readonly diskBlockLength: number;
}

/** A decoded block device to block device segment descriptor (SPC-4 §6.4.7.5). */
export interface B2bSegment {
  /** Offset of the descriptor in the parameter list. */
  readonly offset: number;
  /** DC: NUMBER OF BLOCKS counts destination (true) or source (false) blocks. */
  readonly dc: boolean;
  readonly cat: boolean;
  readonly sourceId: number;
  readonly destinationId: number;
  readonly blocks: number;
  readonly sourceLba: bigint;
  readonly destinationLba: bigint;
}

/** A decoded parameter list. */
export interface CopyParameterList {
  readonly listId: number;
  readonly listIdUsage: number;
  readonly cscds: readonly CscdDescriptor[];
  readonly segments: readonly B2bSegment[];
}

/** An error found in the parameter list: CHECK CONDITION with this sense. */
export interface ParameterListError {
  readonly senseKey: number;
  readonly code: AscAscq;
  /** Byte of the parameter list at fault (sense-key specific field pointer, C/D = 0). */
  readonly fieldPointer?: number;
  readonly bitPointer?: number;
}

export type ParseResult = { readonly ok: true; readonly list: CopyParameterList } | { readonly ok: false; readonly error: ParameterListError };

function fail(code: AscAscq, fieldPointer?: number, bitPointer?: number): ParseResult {
  const error: { senseKey: number; code: AscAscq; fieldPointer?: number; bitPointer?: number } = {
    senseKey: SenseKey.IllegalRequest,
    code,
  };
  if (fieldPointer !== undefined) error.fieldPointer = fieldPointer;
  if (bitPointer !== undefined) error.bitPointer = bitPointer;
  return { ok: false, error };
}

/** Highest set bit of a non-zero byte (for bit pointers at reserved bits). */
function topBit(bits: number): number {
  return 31 - Math.clz32(bits & 0xff);
}

/**
 * Decodes an EXTENDED COPY (LID1) parameter list of `data.length` bytes (the
 * PARAMETER LIST LENGTH of the CDB, at least the 16-byte header).
 */
export function parseParameterList(data: Buffer, limits: TpcLimits): ParseResult {
  if (data.length < PARAMETER_LIST_HEADER_SIZE) return fail(TpcAsc.ParameterListLengthError);
  const listId = data[0] ?? 0;
  const b1 = data[1] ?? 0;
  // SPC-4 §6.4.3 table 35: byte 1 = reserved (7:6), STR, LIST ID USAGE (4:3), PRIORITY (2:0).
  if ((b1 & 0xc0) !== 0) return fail(TpcAsc.InvalidFieldInParameterList, 1, topBit(b1 & 0xc0));
  const listIdUsage = (b1 >> 3) & 0x03;
  if (listIdUsage === ListIdUsage.Reserved) return fail(TpcAsc.InvalidFieldInParameterList, 1, 4);
  // SPC-4 §6.4.3: with LIST ID USAGE 11b the LIST IDENTIFIER shall be zero.
  if (listIdUsage === ListIdUsage.None && listId !== 0) return fail(TpcAsc.InvalidFieldInParameterList, 0);
  for (let i = 4; i < 8; i++) {
    const v = data[i] ?? 0;
    if (v !== 0) return fail(TpcAsc.InvalidFieldInParameterList, i, topBit(v));
  }
  const cscdLength = data.readUInt16BE(2);
  const segmentLength = data.readUInt32BE(8);
  const inlineLength = data.readUInt32BE(12);
  // SPC-4 §6.4.3: descriptor lists longer than MAXIMUM DESCRIPTOR LIST LENGTH, inline
  // data beyond MAXIMUM INLINE DATA LENGTH (zero here), or lists that do not fit in the
  // PARAMETER LIST LENGTH: PARAMETER LIST LENGTH ERROR.
  if (cscdLength + segmentLength > limits.maxDescriptorListLength || inlineLength !== 0) {
    return fail(TpcAsc.ParameterListLengthError);
  }
  if (PARAMETER_LIST_HEADER_SIZE + cscdLength + segmentLength > data.length) {
    return fail(TpcAsc.ParameterListLengthError);
  }
  // SPC-4 §6.4.3: more CSCD descriptors than MAXIMUM CSCD DESCRIPTOR COUNT.
  if (Math.ceil(cscdLength / CSCD_DESCRIPTOR_SIZE) > limits.maxCscdDescriptors) {
    return fail(TpcAsc.TooManyTargetDescriptors);
  }
  const cscds: CscdDescriptor[] = [];
  const cscdEnd = PARAMETER_LIST_HEADER_SIZE + cscdLength;
  for (let off = PARAMETER_LIST_HEADER_SIZE; off < cscdEnd; off += CSCD_DESCRIPTOR_SIZE) {
    const r = parseCscd(data, off, cscdEnd);
    if ('code' in r) return { ok: false, error: r };
    cscds.push(r);
  }
  const segments: B2bSegment[] = [];
  const segEnd = cscdEnd + segmentLength;
  for (let off = cscdEnd; off < segEnd; ) {
    // SPC-4 §6.4.3: more segment descriptors than MAXIMUM SEGMENT DESCRIPTOR COUNT.
    if (segments.length >= limits.maxSegmentDescriptors) return fail(TpcAsc.TooManySegmentDescriptors);
    const type = data[off] ?? 0;
    // SPC-4 §6.4.7.1: a segment descriptor type the copy manager does not implement.
    if (type !== TpcDescriptorType.BlockToBlock) return fail(TpcAsc.UnsupportedSegmentDescriptorTypeCode, off);
    if (off + 4 > segEnd) return fail(TpcAsc.InvalidFieldInParameterList, off);
    const descLength = data.readUInt16BE(off + 2);
    // SPC-4 §6.4.7.5: DESCRIPTOR LENGTH of a block to block segment descriptor is 0018h.
    if (descLength !== B2B_SEGMENT_SIZE - 4 || off + B2B_SEGMENT_SIZE > segEnd) {
      return fail(TpcAsc.InvalidFieldInParameterList, off + 2);
    }
    const flags = data[off + 1] ?? 0;
    if ((flags & 0xfc) !== 0) return fail(TpcAsc.InvalidFieldInParameterList, off + 1, topBit(flags & 0xfc));
    for (const i of [8, 9]) {
      const v = data[off + i] ?? 0;
      if (v !== 0) return fail(TpcAsc.InvalidFieldInParameterList, off + i, topBit(v));
    }
    segments.push({
      offset: off,
      dc: (flags & 0x02) !== 0,
      cat: (flags & 0x01) !== 0,
      sourceId: data.readUInt16BE(off + 4),
      destinationId: data.readUInt16BE(off + 6),
      blocks: data.readUInt16BE(off + 10),
      sourceLba: data.readBigUInt64BE(off + 12),
      destinationLba: data.readBigUInt64BE(off + 20),
    });
    off += B2B_SEGMENT_SIZE;
  }
  return { ok: true, list: { listId, listIdUsage, cscds, segments } };
}

function parseCscd(data: Buffer, off: number, end: number): CscdDescriptor | ParameterListError {
  const err = (code: AscAscq, fieldPointer: number, bitPointer?: number): ParameterListError => {
    const r = fail(code, fieldPointer, bitPointer);
    if (r.ok) throw new Error('unreachable');
    return r.error;
  };
  const type = data[off] ?? 0;
  // SPC-4 §6.4.6.1: a CSCD descriptor type the copy manager does not implement.
  if (type !== TpcDescriptorType.IdentificationCscd) return err(TpcAsc.UnsupportedTargetDescriptorTypeCode, off);
  if (off + CSCD_DESCRIPTOR_SIZE > end) return err(TpcAsc.InvalidFieldInParameterList, off);
  const b1 = data[off + 1] ?? 0;
  // SPC-4 §6.4.6.1: bits 7..5 of byte 1 (SPC-3's LU ID TYPE and NUL) are obsolete and
  // ignored, as libiscsi expects of an SPC-4 copy manager; the designator names the LU.
  // PERIPHERAL DEVICE TYPE: only direct access block devices (00h) are copied.
  if ((b1 & 0x1f) !== 0) return err(TpcAsc.InvalidFieldInParameterList, off + 1, 4);
  const b4 = data[off + 4] ?? 0;
  if ((b4 & 0xf0) !== 0) return err(TpcAsc.InvalidFieldInParameterList, off + 4, topBit(b4 & 0xf0));
  const b5 = data[off + 5] ?? 0;
  if ((b5 & 0xc0) !== 0) return err(TpcAsc.InvalidFieldInParameterList, off + 5, topBit(b5 & 0xc0));
  const designatorLength = data[off + 7] ?? 0;
  // SPC-4 §6.4.6.2: the designator occupies bytes 8..27 (at most 20 bytes).
  if (designatorLength > CSCD_MAX_DESIGNATOR) return err(TpcAsc.InvalidFieldInParameterList, off + 7);
  // Block device type specific parameters (SPC-4 §6.4.6.4): byte 28 holds PAD (bit 2).
  const b28 = data[off + 28] ?? 0;
  if ((b28 & ~0x04 & 0xff) !== 0) return err(TpcAsc.InvalidFieldInParameterList, off + 28, topBit(b28 & ~0x04));
  return {
    offset: off,
    codeSet: b4 & 0x0f,
    association: (b5 >> 4) & 0x03,
    designatorType: b5 & 0x0f,
    designator: Buffer.from(data.subarray(off + 8, off + 8 + designatorLength)),
    diskBlockLength: data.readUIntBE(off + 29, 3),
  };
}
