import { describe, expect, it } from 'vitest';
import { ctlCopyCounters, newCtlCopyCounters, DataOutMode, ScsiOpcode as Op } from '@iscsi-target/ctl-core';
import { Harness } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood, expectInvalidField } from './helpers/expect.js';

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}

describe('READ/WRITE', () => {
  it.each([
    ['6', (op: number, lba: number, n: number) => C.rw6(op === 16 ? Op.Write6 : Op.Read6, lba, n)],
    ['10', (op: number, lba: number, n: number) => C.rw10(op === 16 ? Op.Write10 : Op.Read10, lba, n)],
    ['12', (op: number, lba: number, n: number) => C.rw12(op === 16 ? Op.Write12 : Op.Read12, lba, n)],
    ['16', (op: number, lba: number, n: number) => C.rw16(op === 16 ? Op.Write16 : Op.Read16, lba, n)],
  ])('(%s) writes then reads back the same blocks', async (_size, build) => {
    const h = new Harness();
    await h.clearUa();
    const data = pattern(3 * 512, 3);
    const w = await h.exec(build(16, 10, 3), { dataOut: data });
    expectGood(w);
    expect(h.lun.store.subarray(10 * 512, 13 * 512)).toEqual(data);
    const r = await h.exec(build(8, 10, 3));
    expectGood(r);
    expect(r.data).toEqual(data);
    expect(r.io.kernTotalLen).toBe(3 * 512);
    expect(h.lun.submitted.map((s) => s.request)).toEqual([
      { op: 'write', lba: 10, blocks: 3, fua: false },
      { op: 'read', lba: 10, blocks: 3 },
    ]);
  });

  it('works with Copy-mode Data-Out too', async () => {
    const h = new Harness({ lun: { dataOutMode: DataOutMode.Copy } });
    await h.clearUa();
    const data = pattern(1024, 9);
    expectGood(await h.exec(C.rw10(Op.Write10, 0, 2), { dataOut: data }));
    expect(h.lun.store.subarray(0, 1024)).toEqual(data);
  });

  it('READ(6)/WRITE(6) transfer length 0 means 256 blocks', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(C.rw6(Op.Read6, 0, 0));
    expectGood(r);
    expect(h.lun.submitted[0]?.request).toEqual({ op: 'read', lba: 0, blocks: 256 });
    expect(r.data.length).toBe(256 * 512);
  });

  it('transfer length 0 on READ(10)/WRITE(16) is GOOD without a transfer', async () => {
    const h = new Harness();
    await h.clearUa();
    expectGood(await h.exec(C.rw10(Op.Read10, 5, 0)));
    expectGood(await h.exec(C.rw16(Op.Write16, 2048, 0)));
    expect(h.lun.submitted.length).toBe(0);
    expect(h.port.moves.length).toBe(0);
  });

  it('LBA + length beyond capacity is LOGICAL BLOCK ADDRESS OUT OF RANGE', async () => {
    const h = new Harness({ lun: { numBlocks: 100 } });
    await h.clearUa();
    expectCheck(await h.exec(C.rw10(Op.Read10, 99, 2)), 0x05, 0x21, 0x00);
    expectCheck(await h.exec(C.rw16(Op.Write16, 2n ** 63n, 1)), 0x05, 0x21, 0x00);
    expectCheck(await h.exec(C.rw6(Op.Read6, 100, 1)), 0x05, 0x21, 0x00);
    expectCheck(await h.exec(C.rw10(Op.Read10, 101, 0)), 0x05, 0x21, 0x00);
    expectGood(await h.exec(C.rw10(Op.Read10, 99, 1)));
    expect(h.lun.submitted.length).toBe(1);
  });

  it('WRITE to a read-only LUN is DATA PROTECT / WRITE PROTECTED', async () => {
    const h = new Harness({ lun: { readOnly: true } });
    await h.clearUa();
    for (const cdb of [C.rw6(Op.Write6, 0, 1), C.rw10(Op.Write10, 0, 1), C.rw12(Op.Write12, 0, 1), C.rw16(Op.Write16, 0, 1)]) {
      expectCheck(await h.exec(cdb, { dataOut: Buffer.alloc(512) }), 0x07, 0x27, 0x00);
    }
    expectGood(await h.exec(C.rw10(Op.Read10, 0, 1)));
    expect(h.lun.submitted.map((s) => s.request.op)).toEqual(['read']);
  });

  it('passes FUA to the backend and accepts DPO', async () => {
    const h = new Harness();
    await h.clearUa();
    expectGood(await h.exec(C.rw10(Op.Write10, 0, 1, 0x08 | 0x10), { dataOut: Buffer.alloc(512) }));
    expectGood(await h.exec(C.rw16(Op.Write16, 0, 1, 0x10), { dataOut: Buffer.alloc(512) }));
    expectGood(await h.exec(C.rw12(Op.Read12, 0, 1, 0x18)));
    expect(h.lun.submitted.map((s) => s.request)).toEqual([
      { op: 'write', lba: 0, blocks: 1, fua: true },
      { op: 'write', lba: 0, blocks: 1, fua: false },
      { op: 'read', lba: 0, blocks: 1 },
    ]);
  });

  it('RDPROTECT/WRPROTECT != 0 is INVALID FIELD IN CDB (byte 1, bit 7)', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(C.rw10(Op.Read10, 0, 1, 0x20)), 1, 7);
    expectInvalidField(await h.exec(C.rw16(Op.Write16, 0, 1, 0x60)), 1, 7);
    expect(h.lun.submitted.length).toBe(0);
  });

  it('rejects reserved bits, the group number high bits and NACA', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(C.rw10(Op.Read10, 0, 1, 0x04)), 1, 2);
    const g = C.rw10(Op.Read10, 0, 1);
    g[6] = 0x20;
    expectInvalidField(await h.exec(g), 6, 5);
    const naca = C.rw16(Op.Read16, 0, 1);
    naca[15] = 0x04;
    expectInvalidField(await h.exec(naca), 15, 2);
    const r6 = C.rw6(Op.Read6, 0, 1);
    r6[1] = 0x20;
    expectInvalidField(await h.exec(r6), 1, 5);
  });

  it('longer than the Block Limits maximum transfer length is an invalid field', async () => {
    const h = new Harness({ lun: { maxTransferBlocks: 8 } });
    await h.clearUa();
    expectInvalidField(await h.exec(C.rw10(Op.Read10, 0, 9)), 7, 7);
    expectInvalidField(await h.exec(C.rw16(Op.Read16, 0, 9)), 10, 7);
    expectGood(await h.exec(C.rw10(Op.Read10, 0, 8)));
  });

  it('with WCE cleared, writes to a write-back backend are forced to FUA', async () => {
    const h = new Harness({ lun: { writeCache: true } });
    await h.clearUa();
    // MODE SELECT(6): header + caching page with WCE = 0.
    const page = Buffer.alloc(4 + 20);
    page[4] = 0x08;
    page[5] = 0x12;
    expectGood(await h.exec(C.modeSelect6(page.length), { dataOut: page }));
    expectGood(await h.exec(C.rw10(Op.Write10, 0, 1), { dataOut: Buffer.alloc(512) }));
    expect(h.lun.submitted[0]?.request).toEqual({ op: 'flush', lba: 0, blocks: 0, immed: false });
    expect(h.lun.submitted[1]?.request).toEqual({ op: 'write', lba: 0, blocks: 1, fua: true });
  });

  it('CTL copies no payload', async () => {
    const counters = newCtlCopyCounters();
    const h = new Harness({ ctl: { counters } });
    await h.clearUa();
    await h.exec(C.rw10(Op.Write10, 0, 4), { dataOut: pattern(2048, 1) });
    await h.exec(C.rw10(Op.Read10, 0, 4));
    await h.exec(C.inquiry(false, 0, 96));
    expect({ ...counters }).toEqual({ copiedIn: 0, copiedOut: 0, referencedIn: 0, referencedOut: 0 });
    expect(h.ctl.counters).toBe(counters);
    expect(new Harness().ctl.counters).toBe(ctlCopyCounters);
  });
});

describe('SYNCHRONIZE CACHE, VERIFY', () => {
  it('SYNCHRONIZE CACHE(10/16) calls flush after a range check', async () => {
    const h = new Harness({ lun: { numBlocks: 100 } });
    await h.clearUa();
    expectGood(await h.exec(C.syncCache10(0, 0)));
    expectGood(await h.exec(C.syncCache10(10, 5, true)));
    expectGood(await h.exec(C.syncCache16(0, 100)));
    expectCheck(await h.exec(C.syncCache16(90, 11)), 0x05, 0x21, 0x00);
    expect(h.lun.submitted.map((s) => s.request)).toEqual([
      { op: 'flush', lba: 0, blocks: 0, immed: false },
      { op: 'flush', lba: 10, blocks: 5, immed: true },
      { op: 'flush', lba: 0, blocks: 100, immed: false },
    ]);
  });

  it('SYNCHRONIZE CACHE works on a read-only LUN', async () => {
    const h = new Harness({ lun: { readOnly: true } });
    await h.clearUa();
    expectGood(await h.exec(C.syncCache10(0, 0)));
  });

  it('VERIFY(10/16) with BYTCHK=0 goes to the backend; VRPROTECT!=0 is refused', async () => {
    const h = new Harness({ lun: { numBlocks: 100 } });
    await h.clearUa();
    expectGood(await h.exec(C.rw10(Op.Verify10, 1, 2)));
    expectGood(await h.exec(C.rw16(Op.Verify16, 3, 4)));
    expectInvalidField(await h.exec(C.rw10(Op.Verify10, 1, 2, 0x04)), 1, 2);
    expectInvalidField(await h.exec(C.rw10(Op.Verify10, 1, 2, 0x20)), 1, 7);
    expectCheck(await h.exec(C.rw10(Op.Verify10, 99, 2)), 0x05, 0x21, 0x00);
    expect(h.lun.submitted.map((s) => s.request)).toEqual([
      { op: 'verify', lba: 1, blocks: 2, bytchk: false },
      { op: 'verify', lba: 3, blocks: 4, bytchk: false },
    ]);
  });
});
