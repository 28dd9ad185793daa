/**
 * The LBA and length fields of block-command CDBs (SBC-3), decoded by CDB
 * size from the opcode's group code (SPC-4 §4.3.2): READ(6)/WRITE(6) have
 * their own layout; 10-byte CDBs (groups 1 and 2) carry a 32-bit LBA at
 * byte 2 and a 16-bit length at byte 7, 12-byte CDBs (group 5) a 32-bit
 * length at byte 6, 16-byte CDBs (group 4) a 64-bit LBA at byte 2 and a
 * 32-bit length at byte 10. Used by READ/WRITE, VERIFY, SYNCHRONIZE CACHE,
 * WRITE SAME, PRE-FETCH and the data-integrity commands.
 *
 * Does NOT check anything: range checks and the commands' own fields are the
 * handlers' job. A 64-bit LBA above 2^53 decodes to an imprecise but still
 * out-of-range number.
 */
import { ScsiOpcode } from './scsi-proto.js';

/** A decoded LBA extent and where its length field sits in the CDB. */
export interface Extent {
  lba: number;
  blocks: number;
  /** CDB byte holding the TRANSFER LENGTH / NUMBER OF BLOCKS field. */
  lengthByte: number;
}

const TWO_POW_32 = 0x1_0000_0000;

/** A big-endian 64-bit unsigned integer as a number (exact below 2^53). */
export function readUInt64(buf: Buffer, offset: number): number {
  return buf.readUInt32BE(offset) * TWO_POW_32 + buf.readUInt32BE(offset + 4);
}

/** Writes `value` (below 2^53) as a big-endian 64-bit unsigned integer. */
export function writeUInt64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_POW_32), offset);
  buf.writeUInt32BE(value % TWO_POW_32, offset + 4);
}

/** LBA and length of a block command's CDB, by CDB size. */
export function decodeExtent(cdb: Buffer): Extent {
  const op = cdb[0] ?? 0;
  if (op === ScsiOpcode.Read6 || op === ScsiOpcode.Write6) {
    // SBC-3 READ(6): a 21-bit LBA; a TRANSFER LENGTH of 0 means 256 blocks.
    const lba = (((cdb[1] ?? 0) & 0x1f) << 16) | ((cdb[2] ?? 0) << 8) | (cdb[3] ?? 0);
    return { lba, blocks: cdb[4] === 0 ? 256 : (cdb[4] ?? 0), lengthByte: 4 };
  }
  const group = op >> 5;
  if (group === 1 || group === 2) return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt16BE(7), lengthByte: 7 };
  if (group === 5) return { lba: cdb.readUInt32BE(2), blocks: cdb.readUInt32BE(6), lengthByte: 6 };
  return { lba: readUInt64(cdb, 2), blocks: cdb.readUInt32BE(10), lengthByte: 10 };
}
