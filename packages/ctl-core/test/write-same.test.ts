import { describe, expect, it } from 'vitest';
import { Harness } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood, expectInvalidField } from './helpers/expect.js';
import { THIN_LIMITS, thinLun } from './helpers/thin-lun.js';

const BS = 512;
const UNMAP = 0x08;
const ANCHOR = 0x10;
const NDOB = 0x01;

async function thinHarness(over = {}): Promise<Harness> {
  const h = new Harness({ lun: thinLun(over) });
  await h.clearUa();
  return h;
}

function block(byte: number): Buffer {
  const b = Buffer.alloc(BS, byte);
  b[0] = 0x42; // not a uniform pattern
  return b;
}

describe('WRITE SAME(10/16) (SBC-3 §5.41, §5.42)', () => {
  it('WRITE SAME(10) writes the one block of Data-Out to every block of the range', async () => {
    const h = await thinHarness();
    h.lun.store.fill(0x99);
    const r = await h.exec(C.writeSame10(100, 7), { dataOut: block(0x3c), edtl: BS });
    expectGood(r);
    expect(r.io.kernTotalLen).toBe(BS);
    expect(h.lun.submitted.at(-1)?.request).toEqual({
      op: 'writeSame',
      lba: 100,
      blocks: 7,
      unmap: false,
      ndob: false,
      fua: false,
    });
    for (let b = 100; b < 107; b++) expect(h.lun.store.subarray(b * BS, (b + 1) * BS)).toEqual(block(0x3c));
    expect(h.lun.store.subarray(99 * BS, 100 * BS).every((x) => x === 0x99)).toBe(true);
    expect(h.lun.store.subarray(107 * BS, 108 * BS).every((x) => x === 0x99)).toBe(true);
  });

  it('WRITE SAME(16) with UNMAP unmaps the range', async () => {
    const h = await thinHarness();
    h.lun.store.fill(0x99);
    expectGood(await h.exec(C.writeSame16(2000, 48, UNMAP), { dataOut: block(0xff), edtl: BS }));
    expect(h.lun.submitted.at(-1)?.request).toMatchObject({ op: 'writeSame', lba: 2000, blocks: 48, unmap: true });
    expect(h.lun.store.subarray(2000 * BS).every((x) => x === 0)).toBe(true);
    expect([...h.lun.deallocated.subarray(1999)]).toEqual([0, ...new Array<number>(48).fill(1)]);
  });

  it('WRITE SAME(16) with NDOB transfers no data and writes zeros', async () => {
    const h = await thinHarness();
    h.lun.store.fill(0x99);
    const r = await h.exec(C.writeSame16(5, 3, NDOB));
    expectGood(r);
    expect(r.io.kernTotalLen).toBe(0);
    expect(h.lun.submitted.at(-1)?.request).toMatchObject({ op: 'writeSame', ndob: true, unmap: false });
    expect(h.lun.store.subarray(5 * BS, 8 * BS).every((x) => x === 0)).toBe(true);
    expect(h.lun.store.subarray(8 * BS, 9 * BS).every((x) => x === 0x99)).toBe(true);
  });

  it('NUMBER OF LOGICAL BLOCKS = 0 writes through the last LBA (WSNZ = 0)', async () => {
    const h = await thinHarness();
    expectGood(await h.exec(C.writeSame10(1800, 0), { dataOut: block(1), edtl: BS }));
    expect(h.lun.submitted.at(-1)?.request).toMatchObject({ lba: 1800, blocks: 248 });
    expectGood(await h.exec(C.writeSame16(2047, 0, UNMAP), { dataOut: block(1), edtl: BS }));
    expect(h.lun.submitted.at(-1)?.request).toMatchObject({ lba: 2047, blocks: 1, unmap: true });
  });

  it('more than MAXIMUM WRITE SAME LENGTH is INVALID FIELD IN CDB at NUMBER OF LOGICAL BLOCKS', async () => {
    const h = await thinHarness();
    expectInvalidField(await h.exec(C.writeSame10(0, 513), { dataOut: block(1), edtl: BS }), 7);
    expectInvalidField(await h.exec(C.writeSame16(0, 513, UNMAP), { dataOut: block(1), edtl: BS }), 10);
    // 0 blocks at LBA 0 means 2048 blocks, also over the limit.
    expectInvalidField(await h.exec(C.writeSame10(0, 0), { dataOut: block(1), edtl: BS }), 7);
    expectGood(await h.exec(C.writeSame10(0, 512), { dataOut: block(1), edtl: BS }));
    expect(h.lun.submitted).toHaveLength(1);
  });

  it('a range past the last LBA is LBA OUT OF RANGE', async () => {
    const h = await thinHarness();
    expectCheck(await h.exec(C.writeSame10(2047, 2), { dataOut: block(1), edtl: BS }), 0x05, 0x21, 0x00);
    expectCheck(await h.exec(C.writeSame10(2048, 0), { dataOut: block(1), edtl: BS }), 0x05, 0x21, 0x00);
    expectCheck(await h.exec(C.writeSame10(0xffffffff, 0), { dataOut: block(1), edtl: BS }), 0x05, 0x21, 0x00);
    expectCheck(await h.exec(C.writeSame16(0xffffffffffffffffn, 1), { dataOut: block(1), edtl: BS }), 0x05, 0x21, 0x00);
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('ANCHOR (with or without UNMAP) is INVALID FIELD IN CDB at byte 1 bit 4 (ANC_SUP = 0)', async () => {
    const h = await thinHarness();
    expectInvalidField(await h.exec(C.writeSame10(0, 1, ANCHOR), { dataOut: block(1), edtl: BS }), 1, 4);
    expectInvalidField(await h.exec(C.writeSame16(0, 1, ANCHOR | UNMAP), { dataOut: block(1), edtl: BS }), 1, 4);
  });

  it('UNMAP on a LUN that does not unmap is INVALID FIELD IN CDB at byte 1 bit 3; a plain write still works', async () => {
    const h = new Harness({ lun: thinLun({ provisioning: { ...THIN_LIMITS, unmap: false } }) });
    await h.clearUa();
    expectInvalidField(await h.exec(C.writeSame10(0, 1, UNMAP), { dataOut: block(1), edtl: BS }), 1, 3);
    expectGood(await h.exec(C.writeSame10(0, 1), { dataOut: block(1), edtl: BS }));
  });

  it('WRPROTECT, LBDATA and PBDATA are invalid fields with their bit pointers', async () => {
    const h = await thinHarness();
    expectInvalidField(await h.exec(C.writeSame10(0, 1, 0x20), { dataOut: block(1), edtl: BS }), 1, 7);
    expectInvalidField(await h.exec(C.writeSame10(0, 1, 0x02), { dataOut: block(1), edtl: BS }), 1, 1);
    expectInvalidField(await h.exec(C.writeSame10(0, 1, 0x04), { dataOut: block(1), edtl: BS }), 1, 2);
    expectInvalidField(await h.exec(C.writeSame16(0, 1, 0x06), { dataOut: block(1), edtl: BS }), 1, 2);
  });

  it('an expected data transfer length other than one block is INVALID FIELD IN CDB (no field pointer)', async () => {
    const h = await thinHarness();
    for (const edtl of [0, BS / 2, BS * 2]) {
      expectCheck(await h.exec(C.writeSame10(0, 1, UNMAP), { dataOut: block(1), edtl }), 0x05, 0x24, 0x00);
      expectCheck(await h.exec(C.writeSame16(0, 1), { dataOut: block(1), edtl }), 0x05, 0x24, 0x00);
    }
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('a write-protected LUN answers DATA PROTECT / WRITE PROTECTED', async () => {
    const h = await thinHarness({ readOnly: true });
    expectCheck(await h.exec(C.writeSame10(0, 1), { dataOut: block(1), edtl: BS }), 0x07, 0x27, 0x00);
    expectCheck(await h.exec(C.writeSame16(0, 1, UNMAP), { dataOut: block(1), edtl: BS }), 0x07, 0x27, 0x00);
  });

  it('a backend without provisioning support answers INVALID COMMAND OPERATION CODE', async () => {
    const h = new Harness();
    await h.clearUa();
    expectCheck(await h.exec(C.writeSame10(0, 1), { dataOut: block(1), edtl: BS }), 0x05, 0x20, 0x00, { field: 0 });
    expectCheck(await h.exec(C.writeSame16(0, 1), { dataOut: block(1), edtl: BS }), 0x05, 0x20, 0x00, { field: 0 });
  });

  it('with WCE cleared on a write-back LUN the request asks for FUA', async () => {
    const h = await thinHarness({ writeCache: true });
    h.lun.hold = false;
    const page = Buffer.alloc(4 + 20);
    page[4] = 0x08; // Caching page
    page[5] = 0x12;
    const sel = await h.exec(C.modeSelect6(page.length), { dataOut: page });
    expectGood(sel);
    expectGood(await h.exec(C.writeSame10(0, 1), { dataOut: block(1), edtl: BS }));
    expect(h.lun.submitted.at(-1)?.request).toMatchObject({ op: 'writeSame', fua: true });
  });
});
