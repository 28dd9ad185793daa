/** CDB builders for the core's tests (SPC-4 / SBC-3 layouts). */
import { ScsiOpcode } from '@iscsi-target/ctl-core';

export function tur(): Buffer {
  return Buffer.from([ScsiOpcode.TestUnitReady, 0, 0, 0, 0, 0]);
}

export function inquiry(evpd: boolean, page: number, alloc: number): Buffer {
  const c = Buffer.alloc(6);
  c[0] = ScsiOpcode.Inquiry;
  c[1] = evpd ? 1 : 0;
  c[2] = page;
  c.writeUInt16BE(alloc, 3);
  return c;
}

export function requestSense(desc: boolean, alloc: number): Buffer {
  return Buffer.from([ScsiOpcode.RequestSense, desc ? 1 : 0, 0, 0, alloc, 0]);
}

export function readCapacity10(lba = 0, pmi = false): Buffer {
  const c = Buffer.alloc(10);
  c[0] = ScsiOpcode.ReadCapacity10;
  c.writeUInt32BE(lba, 2);
  c[8] = pmi ? 1 : 0;
  return c;
}

export function readCapacity16(alloc: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = ScsiOpcode.ServiceActionIn16;
  c[1] = 0x10;
  c.writeUInt32BE(alloc, 10);
  return c;
}

export function rw6(op: number, lba: number, blocks: number): Buffer {
  return Buffer.from([op, (lba >> 16) & 0x1f, (lba >> 8) & 0xff, lba & 0xff, blocks & 0xff, 0]);
}

export function rw10(op: number, lba: number, blocks: number, b1 = 0): Buffer {
  const c = Buffer.alloc(10);
  c[0] = op;
  c[1] = b1;
  c.writeUInt32BE(lba, 2);
  c.writeUInt16BE(blocks, 7);
  return c;
}

export function rw12(op: number, lba: number, blocks: number, b1 = 0): Buffer {
  const c = Buffer.alloc(12);
  c[0] = op;
  c[1] = b1;
  c.writeUInt32BE(lba, 2);
  c.writeUInt32BE(blocks, 6);
  return c;
}

export function rw16(op: number, lba: number | bigint, blocks: number, b1 = 0): Buffer {
  const c = Buffer.alloc(16);
  c[0] = op;
  c[1] = b1;
  c.writeBigUInt64BE(BigInt(lba), 2);
  c.writeUInt32BE(blocks, 10);
  return c;
}

export function reportLuns(select: number, alloc: number): Buffer {
  const c = Buffer.alloc(12);
  c[0] = ScsiOpcode.ReportLuns;
  c[2] = select;
  c.writeUInt32BE(alloc, 6);
  return c;
}

export interface ModeSenseOpts {
  pc?: number;
  dbd?: boolean;
  llbaa?: boolean;
  subpage?: number;
  alloc?: number;
}

export function modeSense6(page: number, o: ModeSenseOpts = {}): Buffer {
  return Buffer.from([
    ScsiOpcode.ModeSense6,
    o.dbd ? 0x08 : 0,
    ((o.pc ?? 0) << 6) | page,
    o.subpage ?? 0,
    o.alloc ?? 255,
    0,
  ]);
}

export function modeSense10(page: number, o: ModeSenseOpts = {}): Buffer {
  const c = Buffer.alloc(10);
  c[0] = ScsiOpcode.ModeSense10;
  c[1] = (o.dbd ? 0x08 : 0) | (o.llbaa ? 0x10 : 0);
  c[2] = ((o.pc ?? 0) << 6) | page;
  c[3] = o.subpage ?? 0;
  c.writeUInt16BE(o.alloc ?? 4096, 7);
  return c;
}

export function modeSelect6(len: number, b1 = 0x10): Buffer {
  return Buffer.from([ScsiOpcode.ModeSelect6, b1, 0, 0, len, 0]);
}

export function modeSelect10(len: number, b1 = 0x10): Buffer {
  const c = Buffer.alloc(10);
  c[0] = ScsiOpcode.ModeSelect10;
  c[1] = b1;
  c.writeUInt16BE(len, 7);
  return c;
}

export function syncCache10(lba: number, blocks: number, immed = false): Buffer {
  const c = rw10(ScsiOpcode.SynchronizeCache10, lba, blocks);
  c[1] = immed ? 0x02 : 0;
  return c;
}

export function syncCache16(lba: number, blocks: number): Buffer {
  return rw16(ScsiOpcode.SynchronizeCache16, lba, blocks);
}

export function startStop(b4: number, b1 = 0): Buffer {
  return Buffer.from([ScsiOpcode.StartStopUnit, b1, 0, 0, b4, 0]);
}

/** UNMAP CDB (SBC-3 §5.28). */
export function unmap(parameterListLength: number, anchor = false): Buffer {
  const c = Buffer.alloc(10);
  c[0] = ScsiOpcode.Unmap;
  c[1] = anchor ? 0x01 : 0;
  c.writeUInt16BE(parameterListLength, 7);
  return c;
}

/** UNMAP parameter list: header + one 16-byte descriptor per extent. */
export function unmapList(extents: readonly { lba: number | bigint; blocks: number }[]): Buffer {
  const buf = Buffer.alloc(8 + 16 * extents.length);
  buf.writeUInt16BE(buf.length - 2, 0);
  buf.writeUInt16BE(16 * extents.length, 2);
  extents.forEach((e, i) => {
    buf.writeBigUInt64BE(BigInt(e.lba), 8 + 16 * i);
    buf.writeUInt32BE(e.blocks, 8 + 16 * i + 8);
  });
  return buf;
}

/** WRITE SAME(10) CDB (SBC-3 §5.41); `b1` carries WRPROTECT/ANCHOR/UNMAP/PBDATA/LBDATA. */
export function writeSame10(lba: number, blocks: number, b1 = 0): Buffer {
  const c = Buffer.alloc(10);
  c[0] = ScsiOpcode.WriteSame10;
  c[1] = b1;
  c.writeUInt32BE(lba, 2);
  c.writeUInt16BE(blocks, 7);
  return c;
}

/** WRITE SAME(16) CDB (SBC-3 §5.42); `b1` carries WRPROTECT/ANCHOR/UNMAP/NDOB. */
export function writeSame16(lba: number | bigint, blocks: number, b1 = 0): Buffer {
  const c = Buffer.alloc(16);
  c[0] = ScsiOpcode.WriteSame16;
  c[1] = b1;
  c.writeBigUInt64BE(BigInt(lba), 2);
  c.writeUInt32BE(blocks, 10);
  return c;
}

/** GET LBA STATUS CDB (SBC-3 §5.16). */
export function getLbaStatus(lba: number | bigint, alloc: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = ScsiOpcode.ServiceActionIn16;
  c[1] = 0x12;
  c.writeBigUInt64BE(BigInt(lba), 2);
  c.writeUInt32BE(alloc, 10);
  return c;
}
