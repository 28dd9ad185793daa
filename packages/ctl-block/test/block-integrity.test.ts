import { describe, expect, it } from 'vitest';
import { DataDirection, IoStatus } from '@iscsi-target/ctl-core';
import { BufferPool, RamdiskBackend } from '../src/index.js';
import { sgFirstDifference, sgFirstDifferenceRepeated, sgOr } from '../src/block-compare.js';
import { FakeCtl, randomBytes, rng } from '@iscsi-target/ctl-core/testing';

const BS = 512;

/** Splits `b` into chunks of the given sizes (the last takes the rest). */
function chunks(b: Buffer, ...sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const n of sizes) {
    out.push(b.subarray(at, at + n));
    at += n;
  }
  if (at < b.length) out.push(b.subarray(at));
  return out;
}

describe('block-compare', () => {
  it('sgFirstDifference finds the first differing byte whatever the chunking', () => {
    const a = randomBytes(rng(1), 3000);
    const b = Buffer.from(a);
    expect(sgFirstDifference(chunks(a, 7, 1000), chunks(b, 1500, 1))).toBe(-1);
    b[2222] = (b[2222]! ^ 0x01) & 0xff;
    b[2500] = (b[2500]! ^ 0x80) & 0xff;
    expect(sgFirstDifference(chunks(a, 7, 1000), chunks(b, 1500, 1))).toBe(2222);
    expect(sgFirstDifference([a], [b])).toBe(2222);
    b[0] = (b[0]! + 1) & 0xff;
    expect(sgFirstDifference(chunks(a, 1), chunks(b, 2))).toBe(0);
  });

  it('sgFirstDifferenceRepeated compares one block with every block of a range', () => {
    const block = randomBytes(rng(2), BS);
    const range = Buffer.concat([block, block, block]);
    expect(sgFirstDifferenceRepeated(chunks(range, 100, 900), chunks(block, 3))).toBe(-1);
    range[2 * BS + 17] = (range[2 * BS + 17]! ^ 0xff) & 0xff;
    expect(sgFirstDifferenceRepeated(chunks(range, 100, 900), chunks(block, 3))).toBe(2 * BS + 17);
  });

  it('sgOr returns a new buffer with medium OR data and leaves both inputs alone', () => {
    const medium = Buffer.from([0x0f, 0xf0, 0x00, 0xaa]);
    const data = Buffer.from([0xf0, 0x0f, 0x00, 0x55]);
    const out = sgOr(chunks(medium, 1, 2), chunks(data, 3), 4);
    expect([...out]).toEqual([0xff, 0xff, 0x00, 0xff]);
    expect([...medium]).toEqual([0x0f, 0xf0, 0x00, 0xaa]);
    expect([...data]).toEqual([0xf0, 0x0f, 0x00, 0x55]);
  });
});

describe('data-integrity requests on the block engine (RAM disk)', () => {
  for (const copyMode of [false, true]) {
    const mode = copyMode ? 'copy mode' : 'views';

    function setup(payload: () => Buffer, readOnly = false) {
      const pool = new BufferPool({ segmentSize: 4096, maxBytes: 64 * 1024, poison: true });
      // 2 KiB pieces: every multi-block command below spans several pieces.
      const be = new RamdiskBackend({ size: 64 * 1024, pageSize: 4096, maxIoSize: 2048, copyMode, pool, name: 'i', readOnly });
      const ctl = new FakeCtl({ payload, pduSize: 700 });
      return { be, ctl, pool };
    }

    async function fill(be: RamdiskBackend, data: Buffer, lba: number): Promise<void> {
      const ctl = new FakeCtl({ payload: () => data });
      const io = await ctl.submit(be, { op: 'write', lba, blocks: data.length / BS, fua: false });
      expect(io.status).toBe(IoStatus.Success);
    }

    async function contents(be: RamdiskBackend, lba: number, blocks: number): Promise<Buffer> {
      const ctl = new FakeCtl();
      const io = await ctl.submit(be, { op: 'read', lba, blocks });
      expect(io.status).toBe(IoStatus.Success);
      return ctl.readData(io);
    }

    it(`compare: equal data is GOOD; a difference is MISCOMPARE with its offset (${mode})`, async () => {
      const medium = randomBytes(rng(3), 12 * BS);
      let payload = Buffer.from(medium);
      const { be, ctl, pool } = setup(() => payload);
      await fill(be, medium, 4);
      const ok = await ctl.submit(be, { op: 'compare', lba: 4, blocks: 12, single: false });
      expect(ok.status).toBe(IoStatus.Success);
      payload = Buffer.from(medium);
      payload[5 * BS + 3] = (payload[5 * BS + 3]! ^ 0x10) & 0xff; // in the 2nd of 3 pieces
      const bad = await ctl.submit(be, { op: 'compare', lba: 4, blocks: 12, single: false }, 2);
      expect(ctl.sense.get(bad)).toEqual({ senseKey: 0x0e, asc: 0x1d, ascq: 0x00, information: 5 * BS + 3 });
      // The compare stops at the miscompare: the third piece is never requested.
      const moves = ctl.datamoves.filter((m) => m.direction === DataDirection.Out);
      expect(moves.map((m) => m.relOffset)).toEqual([0, 2048, 4096, 0, 2048]);
      expect(pool.stats.inUse).toBe(0);
      await be.shutdown();
    });

    it(`compare with BYTCHK=11b: one block against every block (${mode})`, async () => {
      const block = randomBytes(rng(4), BS);
      const { be, ctl } = setup(() => block);
      await fill(be, Buffer.concat(Array.from({ length: 9 }, () => block)), 0);
      const ok = await ctl.submit(be, { op: 'compare', lba: 0, blocks: 9, single: true });
      expect(ok.status).toBe(IoStatus.Success);
      const odd = Buffer.from(block);
      odd[100] = (odd[100]! ^ 1) & 0xff;
      await fill(be, odd, 7);
      const bad = await ctl.submit(be, { op: 'compare', lba: 0, blocks: 9, single: true }, 2);
      expect(ctl.sense.get(bad)?.information).toBe(7 * BS + 100);
      await be.shutdown();
    });

    it(`compareAndWrite: writes the second half only after the first half matched (${mode})`, async () => {
      const before = randomBytes(rng(5), 6 * BS);
      const after = randomBytes(rng(6), 6 * BS);
      let payload = Buffer.concat([before, after]);
      const { be, ctl, pool } = setup(() => payload);
      await fill(be, before, 10);
      const io = await ctl.submit(be, { op: 'compareAndWrite', lba: 10, blocks: 6, fua: true });
      expect(io.status).toBe(IoStatus.Success);
      expect((await contents(be, 10, 6)).equals(after)).toBe(true);
      // Now the medium holds `after`: a compare against `before` miscompares at byte 0... unless equal.
      const diffAt = sgFirstDifference([before], [after]);
      payload = Buffer.concat([before, randomBytes(rng(7), 6 * BS)]);
      const bad = await ctl.submit(be, { op: 'compareAndWrite', lba: 10, blocks: 6, fua: false }, 2);
      expect(ctl.sense.get(bad)).toEqual({ senseKey: 0x0e, asc: 0x1d, ascq: 0x00, information: diffAt });
      expect((await contents(be, 10, 6)).equals(after)).toBe(true); // untouched
      expect(pool.stats.inUse).toBe(0);
      await be.shutdown();
    });

    it(`compareAndWrite: a miscompare in the last byte writes nothing (${mode})`, async () => {
      const medium = randomBytes(rng(8), 5 * BS);
      const verify = Buffer.from(medium);
      verify[5 * BS - 27] = (verify[5 * BS - 27]! ^ 0x43) & 0xff;
      const { be, ctl } = setup(() => Buffer.concat([verify, Buffer.alloc(5 * BS, 0x42)]));
      await fill(be, medium, 0);
      const io = await ctl.submit(be, { op: 'compareAndWrite', lba: 0, blocks: 5, fua: false });
      expect(ctl.sense.get(io)?.information).toBe(5 * BS - 27);
      expect((await contents(be, 0, 5)).equals(medium)).toBe(true);
      // The write half was never asked for.
      expect(ctl.datamoves.filter((m) => m.direction === DataDirection.Out).every((m) => m.relOffset < 5 * BS)).toBe(
        true,
      );
      await be.shutdown();
    });

    it(`orWrite: medium := medium OR data (${mode})`, async () => {
      const medium = randomBytes(rng(9), 7 * BS);
      const data = randomBytes(rng(10), 7 * BS);
      const { be, ctl, pool } = setup(() => data);
      await fill(be, medium, 3);
      const io = await ctl.submit(be, { op: 'orWrite', lba: 3, blocks: 7, fua: false });
      expect(io.status).toBe(IoStatus.Success);
      const expected = Buffer.alloc(7 * BS);
      for (let i = 0; i < expected.length; i++) expected[i] = medium[i]! | data[i]!;
      expect((await contents(be, 3, 7)).equals(expected)).toBe(true);
      expect(pool.stats.inUse).toBe(0);
      await be.shutdown();
    });

    it(`writeVerify: writes, and with BYTCHK reads back and compares (${mode})`, async () => {
      const data = randomBytes(rng(11), 9 * BS);
      const { be, ctl } = setup(() => data);
      const a = await ctl.submit(be, { op: 'writeVerify', lba: 0, blocks: 9, bytchk: true });
      expect(a.status).toBe(IoStatus.Success);
      expect((await contents(be, 0, 9)).equals(data)).toBe(true);
      const b = await ctl.submit(be, { op: 'writeVerify', lba: 20, blocks: 9, bytchk: false }, 2);
      expect(b.status).toBe(IoStatus.Success);
      expect((await contents(be, 20, 9)).equals(data)).toBe(true);
      await be.shutdown();
    });

    it(`writes on a read-only LUN are WRITE PROTECTED and move no data (${mode})`, async () => {
      const { be, ctl } = setup(() => Buffer.alloc(4 * BS, 1), true);
      for (const req of [
        { op: 'orWrite', lba: 0, blocks: 2, fua: false },
        { op: 'compareAndWrite', lba: 0, blocks: 2, fua: false },
        { op: 'writeVerify', lba: 0, blocks: 2, bytchk: true },
      ] as const) {
        const io = await ctl.submit(be, req);
        expect(ctl.sense.get(io)).toEqual({ senseKey: 0x07, asc: 0x27, ascq: 0x00 });
      }
      expect(ctl.datamoves).toHaveLength(0);
      await be.shutdown();
    });

    it(`a failed transfer in the compare half writes nothing (${mode})`, async () => {
      const medium = randomBytes(rng(12), 4 * BS);
      const pool = new BufferPool({ segmentSize: 4096, maxBytes: 64 * 1024, poison: true });
      const be = new RamdiskBackend({ size: 64 * 1024, pageSize: 4096, maxIoSize: 2048, copyMode, pool, name: 'f' });
      await fill(be, medium, 0);
      const ctl = new FakeCtl({
        payload: () => Buffer.concat([medium, Buffer.alloc(4 * BS, 0x77)]),
        portStatus: (_io, piece) => (piece === 0 ? 45 : 0),
      });
      const io = await ctl.submit(be, { op: 'compareAndWrite', lba: 0, blocks: 4, fua: false });
      expect(io.status).toBe(IoStatus.ScsiError);
      expect((await contents(be, 0, 4)).equals(medium)).toBe(true);
      expect(pool.stats.inUse).toBe(0);
      await be.shutdown();
    });
  }
});
