/**
 * WRITE SAME(10) and WRITE SAME(16) (SBC-3 §5.41, §5.42): decodes the CDB
 * (UNMAP, ANCHOR, NDOB, LBA, NUMBER OF LOGICAL BLOCKS), checks it against
 * the LUN (capacity, MAXIMUM WRITE SAME LENGTH, whether the LUN unmaps) and
 * hands a `writeSame` request to the backend, which receives the one block
 * of data and writes (or unmaps) the range in bounded pieces.
 *
 * NUMBER OF LOGICAL BLOCKS = 0 means "through the last LBA" (WSNZ = 0 in the
 * Block Limits page) and is subject to MAXIMUM WRITE SAME LENGTH like any
 * other count. Does NOT support ANCHOR (ANC_SUP = 0), protection information
 * (WRPROTECT must be 0) or the obsolete LBDATA / PBDATA bits (rejected by
 * the command table's usage masks). Moves no payload itself.
 */
import { checkCondition, invalidFieldInCdb, lbaOutOfRange, type CommandHost } from './command.js';
import type { IoState } from './io-state.js';
import { unmapEnabled, WSNZ } from './lbp.js';
import { decodeExtent } from './extent.js';
import { Asc, ScsiOpcode, SenseKey } from './scsi-proto.js';

/** Ordering extent of WRITE SAME: the range written (0 blocks = through the last LBA). */
export function writeSameExtent(state: IoState): void {
  const { lba, blocks } = decodeExtent(state.io.cdb);
  const numBlocks = state.lun?.be.numBlocks ?? 0;
  state.lba = lba;
  state.blocks = blocks === 0 ? Math.max(0, numBlocks - lba) : blocks;
}

/** WRITE SAME(10) / WRITE SAME(16) handler. */
export function writeSame(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('WRITE SAME without a LUN');
  const be = lun.be;
  const cdb = state.io.cdb;
  const provisioning = be.provisioning;
  if (provisioning === undefined) {
    // The backend cannot execute WRITE SAME: the command is not implemented for this LUN.
    return checkCondition(state, host, SenseKey.IllegalRequest, Asc.InvalidCommandOperationCode, {
      fieldPointer: 0,
      command: true,
    });
  }
  const b1 = cdb[1] ?? 0;
  const is16 = cdb[0] === ScsiOpcode.WriteSame16;
  const anchor = (b1 & 0x10) !== 0;
  const unmap = (b1 & 0x08) !== 0;
  const ndob = is16 && (b1 & 0x01) !== 0;
  // SBC-3 §5.41: no protection information, so WRPROTECT must be 000b.
  if ((b1 & 0xe0) !== 0) return invalidFieldInCdb(state, host, 1, 7);
  // SBC-3 §5.41: ANCHOR = 1 with UNMAP = 0, or with ANC_SUP = 0, is an invalid field in the CDB.
  if (anchor) return invalidFieldInCdb(state, host, 1, 4);
  // SBC-3 §5.41: UNMAP = 1 on a LUN whose LBPWS / LBPWS10 bit is 0 is an invalid field in the CDB.
  if (unmap && !unmapEnabled(be)) return invalidFieldInCdb(state, host, 1, 3);
  const { lba, blocks: requested, lengthByte } = decodeExtent(cdb);
  let blocks = requested;
  if (requested === 0) {
    // SBC-3 §5.41 / §6.5.3: with WSNZ = 0, zero blocks means through the last LBA;
    // a starting LBA past the last one is out of range.
    if (lba >= be.numBlocks) return lbaOutOfRange(state, host);
    if (WSNZ) return invalidFieldInCdb(state, host, lengthByte);
    blocks = be.numBlocks - lba;
  } else if (lba + requested > be.numBlocks) {
    // SBC-3 §5.41: the last LBA must exist.
    return lbaOutOfRange(state, host);
  }
  // SBC-3 §6.5.3: more than MAXIMUM WRITE SAME LENGTH is an invalid field in the CDB.
  if (provisioning.maxWriteSameBlocks > 0 && blocks > provisioning.maxWriteSameBlocks) {
    return invalidFieldInCdb(state, host, lengthByte);
  }
  // SBC-3 §5.41: the Data-Out buffer holds exactly one logical block. A command whose expected
  // data transfer length says otherwise cannot be executed as written: ILLEGAL REQUEST,
  // INVALID FIELD IN CDB (no field pointer: no CDB field is wrong by itself), as LIO does.
  if (!ndob && state.io.expectedDataTransferLength !== be.blockSize) {
    return checkCondition(state, host, SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
  }
  state.io.kernTotalLen = ndob ? 0 : be.blockSize;
  // With WCE cleared by MODE SELECT, a write-back backend must write through (as for WRITE).
  const fua = be.writeCache && !lun.mode.wce;
  host.submit(state, { op: 'writeSame', lba, blocks, unmap, ndob, fua });
}
