import { describe, expect, it } from 'vitest';
import { Harness } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectGood, expectInvalidField } from './helpers/expect.js';

describe('READ CAPACITY(10) (SBC-3 §5.15)', () => {
  it('returns the last LBA and block length', async () => {
    const h = new Harness({ lun: { numBlocks: 2048, blockSize: 512 } });
    await h.clearUa();
    const r = await h.exec(C.readCapacity10());
    expectGood(r);
    expect([...r.data]).toEqual([0x00, 0x00, 0x07, 0xff, 0x00, 0x00, 0x02, 0x00]);
  });

  it('returns FFFFFFFFh when the last LBA does not fit in 32 bits', async () => {
    const h = new Harness({ lun: { numBlocks: 8 } });
    h.lun.numBlocks = 0x1_0000_0001; // capacity beyond 32 bits (store not touched)
    await h.clearUa();
    const r = await h.exec(C.readCapacity10());
    expect(r.data.readUInt32BE(0)).toBe(0xffffffff);
    h.lun.numBlocks = 0x1_0000_0000; // last LBA FFFFFFFFh exactly
    expect((await h.exec(C.readCapacity10())).data.readUInt32BE(0)).toBe(0xffffffff);
    h.lun.numBlocks = 0xffff_ffff; // last LBA FFFFFFFEh fits
    expect((await h.exec(C.readCapacity10())).data.readUInt32BE(0)).toBe(0xfffffffe);
  });

  it('rejects a non-zero LBA without PMI', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(C.readCapacity10(5)), 2);
    expectGood(await h.exec(C.readCapacity10(5, true)));
  });
});

describe('READ CAPACITY(16) (SBC-3 §5.16)', () => {
  it('returns 64-bit last LBA, block length, exponent and LBPME', async () => {
    const h = new Harness({ lun: { blockSize: 4096, numBlocks: 16, physicalBlockExponent: 3, thinProvisioned: true } });
    h.lun.numBlocks = 0x1_2345_6789;
    await h.clearUa();
    const r = await h.exec(C.readCapacity16(32));
    expectGood(r);
    expect(r.data.length).toBe(32);
    expect(r.data.readBigUInt64BE(0)).toBe(0x1_2345_6788n);
    expect(r.data.readUInt32BE(8)).toBe(4096);
    expect(r.data[12]).toBe(0);
    expect(r.data[13]).toBe(3);
    expect(r.data[14]).toBe(0x80);
    expect(r.data.subarray(15)).toEqual(Buffer.alloc(17));
  });

  it('LBPME is clear for a fully provisioned LUN; allocation length honoured', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(C.readCapacity16(12));
    expect(r.data.length).toBe(12);
    expect(r.io.kernTotalLen).toBe(12);
    const full = await h.exec(C.readCapacity16(32));
    expect(full.data[14]).toBe(0);
  });

  it('rejects an unsupported SERVICE ACTION IN(16) service action at byte 1', async () => {
    const h = new Harness();
    await h.clearUa();
    const cdb = C.readCapacity16(32);
    cdb[1] = 0x13; // not a supported service action (0x10 READ CAPACITY(16), 0x12 GET LBA STATUS are)
    expectInvalidField(await h.exec(cdb), 1, 4);
  });
});
