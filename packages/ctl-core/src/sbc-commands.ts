/**
 * Block command handlers (SBC-3): READ/WRITE(6/10/12/16),
 * SYNCHRONIZE CACHE(10/16), READ CAPACITY(10/16) (START STOP UNIT is in
 * start-stop-unit.ts; VERIFY and the other data-integrity commands in
 * sbc-integrity.ts). The core
 * decodes and range-checks the CDB and hands a `BlockRequest` to the
 * backend, which moves the data (see backend.ts).
 *
 * Does NOT move payload: READ/WRITE data never passes through here, so the
 * core copies (and counts) nothing on those paths. Reserved-bit checks are
 * done before, from the command table's usage masks.
 */
import {
  good,
  invalidFieldInCdb,
  lbaOutOfRange,
  type CommandHost,
} from './command.js';
import type { IoState } from './io-state.js';
import { dataOutBlocks } from './sbc-integrity.js';
import { decodeExtent, writeUInt64 } from './extent.js';
import { ScsiOpcode } from './scsi-proto.js';
import { lbprzReported } from './lbp.js';

/** Records the extent on the I/O state for ordering (ser-table.ts). */
export function rwExtent(state: IoState): void {
  const e = decodeExtent(state.io.cdb);
  state.lba = e.lba;
  state.blocks = e.blocks;
}

/** SYNCHRONIZE CACHE extent: 0 blocks means "to the end of the medium". */
export function syncExtent(state: IoState): void {
  const e = decodeExtent(state.io.cdb);
  const numBlocks = state.lun?.be.numBlocks ?? 0;
  state.lba = e.lba;
  state.blocks = e.blocks === 0 ? Math.max(0, numBlocks - e.lba) : e.blocks;
}

function outOfRange(lba: number, blocks: number, numBlocks: number): boolean {
  return lba + blocks > numBlocks;
}

/** READ and WRITE, all four sizes (SBC-3). */
export function readWrite(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('READ/WRITE without a LUN');
  const io = state.io;
  const op = io.cdb[0];
  const isWrite =
    op === ScsiOpcode.Write6 || op === ScsiOpcode.Write10 || op === ScsiOpcode.Write12 || op === ScsiOpcode.Write16;
  const is6 = op === ScsiOpcode.Read6 || op === ScsiOpcode.Write6;
  const b1 = is6 ? 0 : (io.cdb[1] ?? 0);
  // SBC-3 protection information: no protection information, so RDPROTECT/WRPROTECT must be 0.
  if ((b1 & 0xe0) !== 0) return invalidFieldInCdb(state, host, 1, 7);
  const { lba, blocks, lengthByte } = decodeExtent(io.cdb);
  const be = lun.be;
  // SBC-3 READ/WRITE: the last LBA must exist (a zero-length transfer may start at capacity).
  if (outOfRange(lba, blocks, be.numBlocks)) return lbaOutOfRange(state, host);
  // SBC-3 READ(10): a TRANSFER LENGTH of 0 transfers nothing and is not an error.
  if (blocks === 0) return good(state, host);
  // SBC-3 §6.5.3: longer than MAXIMUM TRANSFER LENGTH is an invalid field.
  if (be.maxTransferBlocks > 0 && blocks > be.maxTransferBlocks) {
    return invalidFieldInCdb(state, host, lengthByte, 7);
  }
  io.kernTotalLen = blocks * be.blockSize;
  if (isWrite) {
    // RFC 7143 §11.4.5.1: with an EDTL below the transfer length only the blocks EDTL covers arrive.
    const n = dataOutBlocks(state, host, blocks);
    if (n === null) return;
    if (n === 0) return good(state, host);
    // With WCE cleared by MODE SELECT, a write-back backend must write through.
    const fua = (b1 & 0x08) !== 0 || (be.writeCache && !lun.mode.wce);
    host.submit(state, { op: 'write', lba, blocks: n, fua });
  } else {
    host.submit(state, { op: 'read', lba, blocks });
  }
}

/** SYNCHRONIZE CACHE(10/16) (SBC-3): `blocks` 0 = through the last LBA. */
export function synchronizeCache(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('SYNCHRONIZE CACHE without a LUN');
  const { lba, blocks } = decodeExtent(state.io.cdb);
  if (outOfRange(lba, blocks, lun.be.numBlocks)) return lbaOutOfRange(state, host);
  const immed = ((state.io.cdb[1] ?? 0) & 0x02) !== 0;
  host.submit(state, { op: 'flush', lba, blocks, immed });
}

/** READ CAPACITY(10) (SBC-3): 8 bytes, FFFFFFFFh if the last LBA does not fit. */
export function readCapacity10(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('READ CAPACITY without a LUN');
  const cdb = state.io.cdb;
  // SBC-3 READ CAPACITY(10): with PMI = 0 the LOGICAL BLOCK ADDRESS field must be 0.
  if (((cdb[8] ?? 0) & 0x01) === 0 && cdb.readUInt32BE(2) !== 0) return invalidFieldInCdb(state, host, 2);
  const data = Buffer.alloc(8);
  const lastLba = Math.max(0, lun.be.numBlocks - 1);
  data.writeUInt32BE(lastLba >= 0xffffffff ? 0xffffffff : lastLba, 0);
  data.writeUInt32BE(lun.be.blockSize, 4);
  host.sendData(state, data, data.length);
}

/** Length of READ CAPACITY(16) parameter data. */
const READ_CAPACITY_16_LENGTH = 32;

/** READ CAPACITY(16) (SBC-3): last LBA, block size, exponent, LBPME. */
export function readCapacity16(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('READ CAPACITY without a LUN');
  const cdb = state.io.cdb;
  const pmi = ((cdb[14] ?? 0) & 0x01) !== 0;
  if (!pmi && (cdb.readUInt32BE(2) !== 0 || cdb.readUInt32BE(6) !== 0)) return invalidFieldInCdb(state, host, 2);
  const be = lun.be;
  const data = Buffer.alloc(READ_CAPACITY_16_LENGTH);
  const lastLba = Math.max(0, be.numBlocks - 1);
  writeUInt64(data, lastLba, 0);
  data.writeUInt32BE(be.blockSize, 8);
  data[12] = 0; // P_TYPE = 0, PROT_EN = 0
  data[13] = be.physicalBlockExponent & 0x0f; // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT
  // SBC-3 §5.16.2: LBPME | LBPRZ (lbp.ts); LOWEST ALIGNED LBA = 0.
  data[14] = (be.thinProvisioned ? 0x80 : 0x00) | (lbprzReported(be) ? 0x40 : 0x00);
  host.sendData(state, data, cdb.readUInt32BE(10));
}
