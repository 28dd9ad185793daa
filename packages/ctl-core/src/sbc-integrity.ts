/**
 * Data-integrity block commands (SBC-3, FreeBSD `ctl.c` `ctl_verify`,
 * `ctl_cnw`, the WRITE AND VERIFY / ORWRITE cases of `ctl_read_write`, and
 * PRE-FETCH): CDB decoding and checks, then a `BlockRequest` for the backend.
 * - VERIFY(10/12/16): BYTCHK 00b → medium verification (`verify`), 01b →
 *   compare with Data-Out, 11b → compare one Data-Out block with every block
 *   (`compare`); 10b is reserved.
 * - WRITE AND VERIFY(10/12/16): BYTCHK 00b / 01b (`writeVerify`); 1xb reserved.
 * - ORWRITE(16): `orWrite` (ORPROTECT must be 000b).
 * - COMPARE AND WRITE: `compareAndWrite`, NUMBER OF LOGICAL BLOCKS up to
 *   `MAX_COMPARE_AND_WRITE_BLOCKS` (reported in the Block Limits VPD page).
 * - PRE-FETCH(10/16): range checks only, then GOOD (see `preFetch`).
 * Also the EDTL rule for commands with Data-Out (`dataOutBlocks`).
 *
 * Does NOT compare or move data (the backend does: ctl-block's
 * block-integrity.ts), and does NOT implement protection information:
 * RDPROTECT/WRPROTECT/VRPROTECT/ORPROTECT != 000b is INVALID FIELD IN CDB,
 * as SBC-3 requires of a logical unit formatted without protection
 * information. WRITE ATOMIC(16) is deliberately not in the command table
 * (INVALID COMMAND OPERATION CODE; see docs/decisions.md). Atomicity of
 * COMPARE AND WRITE / ORWRITE against other I/O comes from the ordering
 * rules: they are Write-class commands with their LBA extent (ser-table.ts).
 */
import {
  checkCondition,
  good,
  invalidFieldInCdb,
  lbaOutOfRange,
  type CommandHost,
} from './command.js';
import type { IoState } from './io-state.js';
import { decodeExtent, readUInt64, type Extent } from './extent.js';
import { Asc, ScsiOpcode, SenseKey } from './scsi-proto.js';

/** MAXIMUM COMPARE AND WRITE LENGTH (SBC-3 Block Limits VPD page, byte 5): the 8-bit field's maximum. */
export const MAX_COMPARE_AND_WRITE_BLOCKS = 255;

/** LBA and length: as any block command (extent.ts), but COMPARE AND WRITE has a one-byte NUMBER OF LOGICAL BLOCKS at byte 13. */
export function integrityExtent(cdb: Buffer): Extent {
  if (cdb[0] === ScsiOpcode.CompareAndWrite) return { lba: readUInt64(cdb, 2), blocks: cdb[13] ?? 0, lengthByte: 13 };
  return decodeExtent(cdb);
}

/** Records the extent on the I/O state for ordering (ser-table.ts). */
export function integrityExtentOf(state: IoState): void {
  const e = integrityExtent(state.io.cdb);
  state.lba = e.lba;
  state.blocks = e.blocks;
}

/** PRE-FETCH extent: a length of 0 means through the last LBA. */
export function preFetchExtent(state: IoState): void {
  const e = integrityExtent(state.io.cdb);
  const numBlocks = state.lun?.be.numBlocks ?? 0;
  state.lba = e.lba;
  state.blocks = e.blocks === 0 ? Math.max(0, numBlocks - e.lba) : e.blocks;
}

/** SBC-3: *PROTECT (CDB byte 1, bits 7-5) != 000b without protection information → INVALID FIELD IN CDB. */
function protectFieldSet(state: IoState, host: CommandHost): boolean {
  if (((state.io.cdb[1] ?? 0) & 0xe0) === 0) return false;
  invalidFieldInCdb(state, host, 1, 7);
  return true;
}

/**
 * Common checks of an LBA range (SBC-3): LOGICAL BLOCK ADDRESS OUT OF RANGE
 * past the capacity; with `transfers`, a length above MAXIMUM TRANSFER
 * LENGTH (SBC-3 §6.5.3) is an invalid field. Returns false if the command
 * was completed.
 */
function rangeOk(state: IoState, host: CommandHost, e: Extent, transfers: boolean): boolean {
  const be = state.lun!.be;
  if (e.lba + e.blocks > be.numBlocks) {
    lbaOutOfRange(state, host);
    return false;
  }
  if (transfers && be.maxTransferBlocks > 0 && e.blocks > be.maxTransferBlocks) {
    invalidFieldInCdb(state, host, e.lengthByte, 7);
    return false;
  }
  return true;
}

/** ILLEGAL REQUEST / INVALID FIELD IN COMMAND INFORMATION UNIT (0Eh/03h, FreeBSD `ctl_set_invalid_field_ciu`). */
function invalidFieldInCiu(state: IoState, host: CommandHost): void {
  checkCondition(state, host, SenseKey.IllegalRequest, Asc.InvalidFieldInCommandInformationUnit);
}

/**
 * How many of `blocks` blocks a write-type command (WRITE, WRITE AND VERIFY,
 * ORWRITE) writes, given the initiator's Expected Data Transfer Length: an
 * EDTL below the CDB's transfer means only EDTL bytes will arrive (RFC 7143
 * §11.4.5.1: the rest is a residual overflow), so the whole blocks they
 * cover are written and the response reports the overflow; an EDTL that
 * ends inside a block cannot be written: INVALID FIELD IN COMMAND
 * INFORMATION UNIT, returning null. `io.kernTotalLen` must already hold the
 * CDB's transfer length (the residual is computed from it).
 */
export function dataOutBlocks(state: IoState, host: CommandHost, blocks: number): number | null {
  const io = state.io;
  const bs = state.lun!.be.blockSize;
  const edtl = io.expectedDataTransferLength;
  if (edtl >= blocks * bs) return blocks;
  if (edtl % bs !== 0) {
    invalidFieldInCiu(state, host);
    return null;
  }
  return edtl / bs;
}

/** VERIFY(10/12/16) (SBC-3 §5.x VERIFY): BYTCHK selects medium verification or a compare. */
export function verifyCommand(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('VERIFY without a LUN');
  const io = state.io;
  if (protectFieldSet(state, host)) return; // VRPROTECT
  const bytchk = ((io.cdb[1] ?? 0) >> 1) & 0x03;
  // SBC-3 VERIFY: BYTCHK 10b is reserved.
  if (bytchk === 0b10) return invalidFieldInCdb(state, host, 1, 2);
  const e = integrityExtent(io.cdb);
  if (!rangeOk(state, host, e, bytchk !== 0)) return;
  const bs = lun.be.blockSize;
  io.kernTotalLen = bytchk === 0b00 ? 0 : bytchk === 0b11 ? bs : e.blocks * bs;
  // SBC-3 VERIFY: a VERIFICATION LENGTH of zero verifies nothing and is not an error.
  if (e.blocks === 0) {
    io.kernTotalLen = 0;
    return good(state, host);
  }
  if (bytchk === 0b00) return host.submit(state, { op: 'verify', lba: e.lba, blocks: e.blocks, bytchk: false });
  // A compare needs all of its Data-Out: less than that cannot be verified.
  if (io.expectedDataTransferLength < io.kernTotalLen) return invalidFieldInCiu(state, host);
  host.submit(state, { op: 'compare', lba: e.lba, blocks: e.blocks, single: bytchk === 0b11 });
}

/** WRITE AND VERIFY(10/12/16) (SBC-3): BYTCHK 0 verifies the medium, 1 also compares with the data. */
export function writeAndVerifyCommand(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('WRITE AND VERIFY without a LUN');
  const io = state.io;
  if (protectFieldSet(state, host)) return; // WRPROTECT
  const bytchk = ((io.cdb[1] ?? 0) >> 1) & 0x03;
  // SBC-4 WRITE AND VERIFY: BYTCHK 10b and 11b are reserved here (no single-block write-and-compare).
  if (bytchk >= 0b10) return invalidFieldInCdb(state, host, 1, 2);
  const e = integrityExtent(io.cdb);
  if (!rangeOk(state, host, e, true)) return;
  io.kernTotalLen = e.blocks * lun.be.blockSize;
  // SBC-3 WRITE AND VERIFY: a VERIFICATION LENGTH of zero transfers nothing and is not an error.
  if (e.blocks === 0) return good(state, host);
  const blocks = dataOutBlocks(state, host, e.blocks);
  if (blocks === null) return;
  if (blocks === 0) return good(state, host);
  host.submit(state, { op: 'writeVerify', lba: e.lba, blocks, bytchk: bytchk === 0b01 });
}

/** Whether a write must reach the medium before GOOD: FUA, or a write-back backend with WCE cleared. */
function forceUnitAccess(state: IoState): boolean {
  const lun = state.lun!;
  return ((state.io.cdb[1] ?? 0) & 0x08) !== 0 || (lun.be.writeCache && !lun.mode.wce);
}

/** ORWRITE(16) (SBC-3): medium := medium OR data, for the range, atomically w.r.t. other I/O. */
export function orWriteCommand(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('ORWRITE without a LUN');
  const io = state.io;
  if (protectFieldSet(state, host)) return; // ORPROTECT
  const e = integrityExtent(io.cdb);
  if (!rangeOk(state, host, e, true)) return;
  io.kernTotalLen = e.blocks * lun.be.blockSize;
  // SBC-3 ORWRITE: a TRANSFER LENGTH of zero transfers nothing and is not an error.
  if (e.blocks === 0) return good(state, host);
  const blocks = dataOutBlocks(state, host, e.blocks);
  if (blocks === null) return;
  if (blocks === 0) return good(state, host);
  host.submit(state, { op: 'orWrite', lba: e.lba, blocks, fua: forceUnitAccess(state) });
}

/** The MAXIMUM COMPARE AND WRITE LENGTH a LUN reports: also bounded by its MAXIMUM TRANSFER LENGTH. */
export function maxCompareAndWriteBlocks(maxTransferBlocks: number): number {
  return maxTransferBlocks > 0 ? Math.min(MAX_COMPARE_AND_WRITE_BLOCKS, maxTransferBlocks) : MAX_COMPARE_AND_WRITE_BLOCKS;
}

/** COMPARE AND WRITE (SBC-3 §5.2): compare NUMBER OF LOGICAL BLOCKS blocks, write them only on a full match. */
export function compareAndWriteCommand(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('COMPARE AND WRITE without a LUN');
  const io = state.io;
  if (protectFieldSet(state, host)) return; // WRPROTECT
  const e = integrityExtent(io.cdb);
  // SBC-3 COMPARE AND WRITE: more than MAXIMUM COMPARE AND WRITE LENGTH blocks is an invalid field.
  if (e.blocks > maxCompareAndWriteBlocks(lun.be.maxTransferBlocks)) return invalidFieldInCdb(state, host, 13, 7);
  io.kernTotalLen = 2 * e.blocks * lun.be.blockSize;
  // The compare and the write are one atomic operation: with a Data-Out buffer of any other size
  // than 2 x NUMBER OF LOGICAL BLOCKS blocks the NUMBER OF LOGICAL BLOCKS field is inconsistent with
  // the command the initiator sends, so it is reported as the invalid field (nothing is compared).
  if (io.expectedDataTransferLength !== io.kernTotalLen) return invalidFieldInCdb(state, host, 13, 7);
  if (!rangeOk(state, host, e, false)) return;
  // SBC-3 COMPARE AND WRITE: NUMBER OF LOGICAL BLOCKS 0 reads, compares and writes nothing; not an error.
  if (e.blocks === 0) return good(state, host);
  host.submit(state, { op: 'compareAndWrite', lba: e.lba, blocks: e.blocks, fua: forceUnitAccess(state) });
}

/**
 * PRE-FETCH(10/16) (SBC-3): checks the range (LOGICAL BLOCK ADDRESS OUT OF
 * RANGE past the capacity; a PREFETCH LENGTH of 0 means through the last
 * LBA) and returns GOOD. The target keeps no cache of its own (the file
 * backend relies on the OS page cache), so it never claims the blocks are
 * cached: SBC-3 specifies GOOD rather than CONDITION MET when the cache
 * cannot take the blocks, with or without IMMED.
 */
export function preFetchCommand(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('PRE-FETCH without a LUN');
  const e = integrityExtent(state.io.cdb);
  if (!rangeOk(state, host, e, false)) return;
  good(state, host);
}
