import { describe, expect, it } from 'vitest';
import { Harness } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood, expectInvalidField } from './helpers/expect.js';
import { thinLun } from './helpers/thin-lun.js';

const BS = 512;

function fill(h: Harness, lba: number, blocks: number, byte: number): void {
  h.lun.store.fill(byte, lba * BS, (lba + blocks) * BS);
}

async function thinHarness(over = {}): Promise<Harness> {
  const h = new Harness({ lun: thinLun(over) });
  await h.clearUa();
  return h;
}

describe('UNMAP (SBC-3 §5.28)', () => {
  it('unmaps every non-empty extent and leaves the other blocks untouched', async () => {
    const h = await thinHarness();
    fill(h, 0, 2048, 0xaa);
    const list = C.unmapList([
      { lba: 10, blocks: 5 },
      { lba: 100, blocks: 0 },
      { lba: 2040, blocks: 8 },
    ]);
    const r = await h.exec(C.unmap(list.length), { dataOut: list });
    expectGood(r);
    const req = h.lun.submitted.at(-1)?.request;
    expect(req).toEqual({
      op: 'unmap',
      lba: 10,
      blocks: 2038,
      extents: [
        { lba: 10, blocks: 5 },
        { lba: 2040, blocks: 8 },
      ],
    });
    expect(h.lun.store.subarray(10 * BS, 15 * BS).every((b) => b === 0)).toBe(true);
    expect(h.lun.store.subarray(9 * BS, 10 * BS).every((b) => b === 0xaa)).toBe(true);
    expect(h.lun.store.subarray(15 * BS, 2040 * BS).every((b) => b === 0xaa)).toBe(true);
    expect(h.lun.store.subarray(2040 * BS).every((b) => b === 0)).toBe(true);
  });

  it('a PARAMETER LIST LENGTH of 0 is GOOD and reaches no backend', async () => {
    const h = await thinHarness();
    expectGood(await h.exec(C.unmap(0)));
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('only zero-length descriptors (or none) complete GOOD without a backend request', async () => {
    const h = await thinHarness();
    const list = C.unmapList([
      { lba: 0, blocks: 0 },
      { lba: 2048, blocks: 0 },
    ]);
    expectGood(await h.exec(C.unmap(list.length), { dataOut: list }));
    const empty = C.unmapList([]);
    expectGood(await h.exec(C.unmap(empty.length), { dataOut: empty }));
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('a PARAMETER LIST LENGTH of 1..7 is PARAMETER LIST LENGTH ERROR (05/1A/00)', async () => {
    const h = await thinHarness();
    for (const len of [1, 7]) {
      expectCheck(await h.exec(C.unmap(len), { dataOut: Buffer.alloc(len) }), 0x05, 0x1a, 0x00);
    }
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('ANCHOR = 1 is INVALID FIELD IN CDB at byte 1 bit 0 (ANC_SUP = 0)', async () => {
    const h = await thinHarness();
    expectInvalidField(await h.exec(C.unmap(24, true), { dataOut: C.unmapList([{ lba: 0, blocks: 1 }]) }), 1, 0);
  });

  it('a reserved CDB bit is INVALID FIELD IN CDB with its bit pointer', async () => {
    const h = await thinHarness();
    const cdb = C.unmap(0);
    cdb[1] = 0x02;
    expectInvalidField(await h.exec(cdb), 1, 1);
    const cdb2 = C.unmap(0);
    cdb2[2] = 0x01;
    expectInvalidField(await h.exec(cdb2), 2, 0);
  });

  it('an extent past the last LBA is LBA OUT OF RANGE and nothing is unmapped', async () => {
    const h = await thinHarness();
    fill(h, 0, 2048, 0x55);
    for (const bad of [
      { lba: 2047, blocks: 2 },
      { lba: 2049, blocks: 0 },
      { lba: 0xffffffffffffffffn, blocks: 1 },
    ]) {
      const list = C.unmapList([{ lba: 0, blocks: 4 }, bad]);
      expectCheck(await h.exec(C.unmap(list.length), { dataOut: list }), 0x05, 0x21, 0x00);
    }
    expect(h.lun.submitted).toHaveLength(0);
    expect(h.lun.store.every((b) => b === 0x55)).toBe(true);
  });

  it('more descriptors than MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT: INVALID FIELD IN PARAMETER LIST at byte 2', async () => {
    const h = await thinHarness();
    const list = C.unmapList([0, 1, 2, 3, 4].map((i) => ({ lba: i * 10, blocks: 1 })));
    expectCheck(await h.exec(C.unmap(list.length), { dataOut: list }), 0x05, 0x26, 0x00, { field: 2, cd: false });
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('more blocks than MAXIMUM UNMAP LBA COUNT: INVALID FIELD IN PARAMETER LIST at the count that crossed it', async () => {
    const h = await thinHarness();
    const list = C.unmapList([
      { lba: 0, blocks: 1000 },
      { lba: 1000, blocks: 24 },
      { lba: 1024, blocks: 1 },
    ]);
    // Descriptor 2 (offset 8 + 32) has its NUMBER OF LOGICAL BLOCKS at byte 48.
    expectCheck(await h.exec(C.unmap(list.length), { dataOut: list }), 0x05, 0x26, 0x00, { field: 48, cd: false });
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('header lengths larger than the parameter list: INVALID FIELD IN PARAMETER LIST', async () => {
    const h = await thinHarness();
    const list = C.unmapList([{ lba: 0, blocks: 1 }]);
    const bigBddl = Buffer.from(list);
    bigBddl.writeUInt16BE(32, 2);
    expectCheck(await h.exec(C.unmap(list.length), { dataOut: bigBddl }), 0x05, 0x26, 0x00, { field: 2, cd: false });
    const bigUdl = Buffer.from(list);
    bigUdl.writeUInt16BE(list.length, 0);
    expectCheck(await h.exec(C.unmap(list.length), { dataOut: bigUdl }), 0x05, 0x26, 0x00, { field: 0, cd: false });
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('ignores a trailing partial descriptor (BLOCK DESCRIPTOR DATA LENGTH not a multiple of 16)', async () => {
    const h = await thinHarness();
    const list = Buffer.concat([C.unmapList([{ lba: 4, blocks: 2 }]), Buffer.alloc(8, 0xff)]);
    list.writeUInt16BE(list.length - 2, 0);
    list.writeUInt16BE(24, 2);
    expectGood(await h.exec(C.unmap(list.length), { dataOut: list }));
    expect(h.lun.submitted.at(-1)?.request).toEqual({ op: 'unmap', lba: 4, blocks: 2, extents: [{ lba: 4, blocks: 2 }] });
  });

  it('a LUN that does not unmap answers INVALID COMMAND OPERATION CODE', async () => {
    for (const lun of [{}, { thinProvisioned: true }, thinLun({ thinProvisioned: false })]) {
      const h = new Harness({ lun });
      await h.clearUa();
      const list = C.unmapList([{ lba: 0, blocks: 1 }]);
      expectCheck(await h.exec(C.unmap(list.length), { dataOut: list }), 0x05, 0x20, 0x00, { field: 0 });
    }
  });

  it('a write-protected LUN answers DATA PROTECT / WRITE PROTECTED', async () => {
    const h = await thinHarness({ readOnly: true });
    const list = C.unmapList([{ lba: 0, blocks: 1 }]);
    expectCheck(await h.exec(C.unmap(list.length), { dataOut: list }), 0x07, 0x27, 0x00);
  });

  it('waits for an overlapping write that arrived first', async () => {
    const h = await thinHarness({ hold: true });
    const w = h.start(C.rw10(0x2a, 2000, 1), { dataOut: Buffer.alloc(BS, 0x11) });
    const list = C.unmapList([{ lba: 0, blocks: 1 }]);
    const u = h.start(C.unmap(list.length), { dataOut: list });
    await new Promise((r) => setImmediate(r));
    expect(h.lun.submitted.map((s) => s.request.op)).toEqual(['write']);
    h.lun.release();
    await h.port.whenDone(w);
    await new Promise((r) => setImmediate(r));
    h.lun.release();
    await h.port.whenDone(u);
    expect(h.lun.submitted.map((s) => s.request.op)).toEqual(['write', 'unmap']);
  });
});
