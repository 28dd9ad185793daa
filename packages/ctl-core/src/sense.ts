/**
 * Sense data (FreeBSD `ctl_error.c` analog): builders for fixed-format and
 * descriptor-format sense data (SPC-4 §4.5), `setSense` to complete an I/O
 * with CHECK CONDITION, and a small decoder for tests and frontends.
 *
 * Does NOT decide which format a LUN uses (the core does, from the Control
 * mode page D_SENSE bit or the REQUEST SENSE DESC bit), and does not track
 * pending unit attentions.
 *
 * Buffers returned here are freshly allocated and owned by the caller.
 */
import { IoStatus, ScsiStatus, type ScsiIo } from './io.js';
import { SenseDescriptorType, SenseResponseCode } from './scsi-proto.js';

/** Optional parts of sense data. */
export interface SenseOptions {
  /**
   * Byte offset of the offending field, in the CDB (`command: true`) or in the
   * parameter list (`command: false`). Sets SKSV (SPC-4 §4.5.2.4.2).
   */
  fieldPointer?: number;
  /** Bit (0-7) of the offending field's most significant bit; sets BPV. */
  bitPointer?: number;
  /** C/D bit: true if the field pointer refers to the CDB (default true). */
  command?: boolean;
  /** INFORMATION field (e.g. the failing LBA); sets VALID. */
  information?: number | bigint;
  /** Build descriptor format (0x72) instead of fixed format (0x70). */
  descriptor?: boolean;
  /**
   * COMMAND-SPECIFIC INFORMATION (SPC-4 §4.5.2.3; e.g. the segment number of a
   * failed EXTENDED COPY). Fixed format keeps the low 4 bytes.
   */
  commandSpecific?: number;
  /**
   * COPY ABORTED segment pointer (SPC-4 §4.5.2.4.5): the SD bit, set when the
   * field pointer is relative to the segment descriptor named by the
   * COMMAND-SPECIFIC INFORMATION rather than to the parameter list. Replaces C/D.
   */
  segmentDescriptor?: boolean;
}

/** A decoded or to-be-built sense datum, independent of format. */
export interface SenseInfo {
  senseKey: number;
  asc: number;
  ascq: number;
  fieldPointer?: number;
  bitPointer?: number;
  command?: boolean;
  information?: number | bigint;
}

/** Length of fixed-format sense data with sense-key specific bytes. */
export const FIXED_SENSE_LENGTH = 18;

function senseKeySpecific(opts: SenseOptions): Buffer | null {
  if (opts.fieldPointer === undefined) return null;
  const sks = Buffer.alloc(3);
  // SPC-4 §4.5.2.4.2: SKSV | C/D | BPV | BIT POINTER, FIELD POINTER.
  let b0 = 0x80;
  if (opts.segmentDescriptor !== undefined) {
    if (opts.segmentDescriptor) b0 |= 0x20; // SPC-4 §4.5.2.4.5 segment pointer: SD
  } else if (opts.command ?? true) b0 |= 0x40;
  if (opts.bitPointer !== undefined) b0 |= 0x08 | (opts.bitPointer & 0x07);
  sks[0] = b0;
  sks.writeUInt16BE(opts.fieldPointer & 0xffff, 1);
  return sks;
}

/** Builds fixed-format sense data (SPC-4 §4.5.3), 18 bytes. */
export function buildFixedSense(senseKey: number, asc: number, ascq: number, opts: SenseOptions = {}): Buffer {
  const buf = Buffer.alloc(FIXED_SENSE_LENGTH);
  buf[0] = SenseResponseCode.FixedCurrent;
  if (opts.information !== undefined) {
    const info = BigInt(opts.information);
    // The fixed format has only 4 bytes of INFORMATION; VALID only if it fits.
    if (info <= 0xffffffffn) {
      buf[0] = SenseResponseCode.FixedCurrent | 0x80;
      buf.writeUInt32BE(Number(info), 3);
    }
  }
  buf[2] = senseKey & 0x0f;
  buf[7] = FIXED_SENSE_LENGTH - 8; // ADDITIONAL SENSE LENGTH
  if (opts.commandSpecific !== undefined) buf.writeUInt32BE(opts.commandSpecific >>> 0, 8);
  buf[12] = asc;
  buf[13] = ascq;
  const sks = senseKeySpecific(opts);
  if (sks) sks.copy(buf, 15);
  return buf;
}

/** Builds descriptor-format sense data (SPC-4 §4.5.2). */
export function buildDescriptorSense(senseKey: number, asc: number, ascq: number, opts: SenseOptions = {}): Buffer {
  const sks = senseKeySpecific(opts);
  const hasInfo = opts.information !== undefined;
  const hasCsi = opts.commandSpecific !== undefined;
  const len = 8 + (hasInfo ? 12 : 0) + (hasCsi ? 12 : 0) + (sks ? 8 : 0);
  const buf = Buffer.alloc(len);
  buf[0] = SenseResponseCode.DescriptorCurrent;
  buf[1] = senseKey & 0x0f;
  buf[2] = asc;
  buf[3] = ascq;
  buf[7] = len - 8; // ADDITIONAL SENSE LENGTH
  let off = 8;
  if (opts.information !== undefined) {
    // SPC-4 §4.5.2.2 Information sense data descriptor.
    buf[off] = SenseDescriptorType.Information;
    buf[off + 1] = 0x0a;
    buf[off + 2] = 0x80; // VALID
    buf.writeBigUInt64BE(BigInt(opts.information), off + 4);
    off += 12;
  }
  if (opts.commandSpecific !== undefined) {
    // SPC-4 §4.5.2.3 Command-specific information sense data descriptor.
    buf[off] = SenseDescriptorType.CommandSpecificInformation;
    buf[off + 1] = 0x0a;
    buf.writeBigUInt64BE(BigInt(opts.commandSpecific), off + 4);
    off += 12;
  }
  if (sks) {
    // SPC-4 §4.5.2.4 Sense key specific sense data descriptor.
    buf[off] = SenseDescriptorType.SenseKeySpecific;
    buf[off + 1] = 0x06;
    sks.copy(buf, off + 4);
  }
  return buf;
}

/** Builds sense data in the format `opts.descriptor` selects. */
export function buildSense(senseKey: number, asc: number, ascq: number, opts: SenseOptions = {}): Buffer {
  return opts.descriptor === true
    ? buildDescriptorSense(senseKey, asc, ascq, opts)
    : buildFixedSense(senseKey, asc, ascq, opts);
}

/** Builds sense data from a `SenseInfo` in the requested format. */
export function buildSenseFromInfo(info: SenseInfo, descriptor: boolean): Buffer {
  const opts: SenseOptions = { descriptor };
  if (info.fieldPointer !== undefined) opts.fieldPointer = info.fieldPointer;
  if (info.bitPointer !== undefined) opts.bitPointer = info.bitPointer;
  if (info.command !== undefined) opts.command = info.command;
  if (info.information !== undefined) opts.information = info.information;
  return buildSense(info.senseKey, info.asc, info.ascq, opts);
}

/**
 * Completes `io` with CHECK CONDITION and the given sense (FreeBSD
 * `ctl_set_sense`). Does not call `done`; the caller completes the I/O.
 */
export function setSense(io: ScsiIo, senseKey: number, asc: number, ascq: number, opts: SenseOptions = {}): void {
  io.status = IoStatus.ScsiError;
  io.scsiStatus = ScsiStatus.CheckCondition;
  io.senseData = buildSense(senseKey, asc, ascq, opts);
}

/**
 * Decodes fixed or descriptor sense data (response codes 0x70-0x73) into a
 * `SenseInfo`. Returns null for anything else or truncated data.
 */
export function decodeSense(sense: Buffer): SenseInfo | null {
  if (sense.length < 8) return null;
  const rc = (sense[0] ?? 0) & 0x7f;
  if (rc === SenseResponseCode.FixedCurrent || rc === SenseResponseCode.FixedDeferred) {
    if (sense.length < 14) return null;
    const info: SenseInfo = { senseKey: (sense[2] ?? 0) & 0x0f, asc: sense[12] ?? 0, ascq: sense[13] ?? 0 };
    if (((sense[0] ?? 0) & 0x80) !== 0) info.information = sense.readUInt32BE(3);
    if (sense.length >= 18) decodeSks(sense.subarray(15, 18), info);
    return info;
  }
  if (rc === SenseResponseCode.DescriptorCurrent || rc === SenseResponseCode.DescriptorDeferred) {
    const info: SenseInfo = { senseKey: (sense[1] ?? 0) & 0x0f, asc: sense[2] ?? 0, ascq: sense[3] ?? 0 };
    const end = Math.min(sense.length, 8 + (sense[7] ?? 0));
    let off = 8;
    while (off + 2 <= end) {
      const type = sense[off] ?? 0;
      const dlen = sense[off + 1] ?? 0;
      if (off + 2 + dlen > end) break;
      if (type === SenseDescriptorType.Information && dlen >= 0x0a && ((sense[off + 2] ?? 0) & 0x80) !== 0) {
        info.information = sense.readBigUInt64BE(off + 4);
      } else if (type === SenseDescriptorType.SenseKeySpecific && dlen >= 6) {
        decodeSks(sense.subarray(off + 4, off + 7), info);
      }
      off += 2 + dlen;
    }
    return info;
  }
  return null;
}

function decodeSks(sks: Buffer, info: SenseInfo): void {
  const b0 = sks[0] ?? 0;
  if ((b0 & 0x80) === 0) return;
  info.command = (b0 & 0x40) !== 0;
  if ((b0 & 0x08) !== 0) info.bitPointer = b0 & 0x07;
  info.fieldPointer = sks.readUInt16BE(1);
}
