import { describe, expect, it } from 'vitest';
import { DataDirection, DataOutMode, IoStatus } from '@iscsi-target/ctl-core';
import { BufferPool, RamdiskBackend, createBackend, InvalidOptionError } from '../src/index.js';
import { FakeCtl, randomBytes, rng } from '@iscsi-target/ctl-core/testing';

const BS = 512;

describe('RamdiskBackend', () => {
  for (const copyMode of [false, true]) {
    it(`round-trips random I/O across piece and page boundaries (copyMode=${copyMode})`, async () => {
      const size = 256 * 1024;
      const pool = new BufferPool({ segmentSize: 4096, maxBytes: 64 * 1024, poison: true });
      const be = new RamdiskBackend({ size, pageSize: 4096, maxIoSize: 8192, copyMode, pool, name: 't' });
      const model = Buffer.alloc(size);
      const rand = rng(copyMode ? 2 : 1);
      let payload: Buffer = Buffer.alloc(0);
      const ctl = new FakeCtl({ payload: () => payload, pduSize: 3000 });
      for (let i = 0; i < 60; i++) {
        const lba = Math.floor(rand() * (size / BS - 64));
        const blocks = 1 + Math.floor(rand() * 63);
        if (rand() < 0.5) {
          payload = randomBytes(rand, blocks * BS);
          const io = await ctl.submit(be, { op: 'write', lba, blocks, fua: rand() < 0.2 });
          expect(io.status).toBe(IoStatus.Success);
          payload.copy(model, lba * BS);
        } else {
          const io = await ctl.submit(be, { op: 'read', lba, blocks });
          expect(io.status).toBe(IoStatus.Success);
          expect(ctl.readData(io).equals(model.subarray(lba * BS, (lba + blocks) * BS))).toBe(true);
        }
      }
      await new Promise((r) => setImmediate(r));
      expect(ctl.refsOutstanding).toBe(0);
      const moves = ctl.datamoves;
      expect(moves.every((m) => m.length <= 8192)).toBe(true);
      const reads = moves.filter((m) => m.direction === DataDirection.In);
      const writes = moves.filter((m) => m.direction === DataDirection.Out);
      expect(reads.every((m) => m.hadRef === !copyMode)).toBe(true);
      expect(writes.every((m) => m.dataOutMode === (copyMode ? DataOutMode.Copy : DataOutMode.Views))).toBe(true);
      expect(pool.stats.inUse).toBe(0);
      if (!copyMode) expect(pool.stats.highWater).toBe(0); // no pool buffers at all without copy mode
      await be.shutdown();
    });
  }

  it('never changes bytes a frontend still references (copy-on-write)', async () => {
    const be = new RamdiskBackend({ size: 64 * 1024, pageSize: 4096 });
    let payload = Buffer.alloc(8192, 0xaa);
    const ctl = new FakeCtl({ payload: () => payload, holdRefs: true, pduSize: 1024 });
    await ctl.submit(be, { op: 'write', lba: 0, blocks: 16, fua: false });
    const read = await ctl.submit(be, { op: 'read', lba: 0, blocks: 16 });
    expect(read.status).toBe(IoStatus.Success);
    expect(ctl.held.length).toBe(8);
    payload = Buffer.alloc(512, 0x55);
    const w = await ctl.submit(be, { op: 'write', lba: 3, blocks: 1, fua: false });
    expect(w.status).toBe(IoStatus.Success);
    expect(be.stats.cowCopies).toBe(1);
    // What the "transport" still holds is the old data.
    expect(ctl.held.every((h) => h.views.every((v) => v.every((b) => b === 0xaa)))).toBe(true);
    ctl.releaseHeld();
    const again = await ctl.submit(be, { op: 'read', lba: 0, blocks: 16 });
    const data = ctl.readData(again);
    expect(data.subarray(3 * 512, 4 * 512).every((b) => b === 0x55)).toBe(true);
    expect(data.subarray(0, 3 * 512).every((b) => b === 0xaa)).toBe(true);
    ctl.releaseHeld();
  });

  it('reports SPACE ALLOCATION FAILED when overcommitted memory runs out', async () => {
    const be = new RamdiskBackend({ size: 1024 * 1024, pageSize: 4096, memoryLimit: 8192 });
    const payload = Buffer.alloc(3 * 4096, 1);
    const ctl = new FakeCtl({ payload: () => payload });
    const io = await ctl.submit(be, { op: 'write', lba: 0, blocks: 24, fua: false });
    expect(io.status).toBe(IoStatus.ScsiError);
    expect(ctl.sense.get(io)).toEqual({ senseKey: 0x07, asc: 0x27, ascq: 0x07 });
    expect(be.stats.allocatedPages).toBe(0);
  });

  it('verifies with BYTCHK and detects a miscompare', async () => {
    const be = new RamdiskBackend({ size: 64 * 1024, maxIoSize: 4096 });
    let payload = Buffer.alloc(16 * 512, 3);
    const ctl = new FakeCtl({ payload: () => payload });
    await ctl.submit(be, { op: 'write', lba: 8, blocks: 16, fua: false });
    const ok = await ctl.submit(be, { op: 'verify', lba: 8, blocks: 16, bytchk: true });
    expect(ok.status).toBe(IoStatus.Success);
    payload = Buffer.from(payload);
    payload[5000] = 4;
    const bad = await ctl.submit(be, { op: 'verify', lba: 8, blocks: 16, bytchk: true });
    expect(ctl.sense.get(bad)).toEqual({ senseKey: 0x0e, asc: 0x1d, ascq: 0x00 });
    const noBytchk = await ctl.submit(be, { op: 'verify', lba: 0, blocks: 100, bytchk: false });
    expect(noBytchk.status).toBe(IoStatus.Success);
    // write 2 pieces + good verify 2 + bad verify 2 (miscompare in the second); BYTCHK=0 moves nothing.
    expect(ctl.datamoves.filter((m) => m.direction === DataDirection.Out)).toHaveLength(6);
  });

  it('resizes, reports its identity and refuses writes when read-only', async () => {
    const be = new RamdiskBackend({ size: 8192, name: 'disk-a', pageSize: 4096 });
    expect(be.numBlocks).toBe(16);
    expect(be.rotationRate).toBe(1);
    expect(be.thinProvisioned).toBe(true);
    expect(be.serialNumber).toBe(new RamdiskBackend({ size: 512, name: 'disk-a' }).serialNumber);
    const payload = Buffer.alloc(8192, 9);
    const ctl = new FakeCtl({ payload: () => payload });
    await ctl.submit(be, { op: 'write', lba: 0, blocks: 16, fua: false });
    // A shrink discards data: refused unless allowed, and the refusal says how much.
    await expect(be.resize(2048)).rejects.toThrow(/would discard the last 6144 bytes \(6 KiB\)/);
    expect(be.numBlocks).toBe(16);
    expect(await be.resize(2048, { allowShrink: true })).toBe(4);
    expect(await be.resize(16384)).toBe(32);
    const r = await ctl.submit(be, { op: 'read', lba: 0, blocks: 32 });
    const data = ctl.readData(r);
    expect(data.subarray(0, 2048).every((b) => b === 9)).toBe(true);
    expect(data.subarray(2048).every((b) => b === 0)).toBe(true);
    // Growing the capacity also grows the default memory limit.
    const big = Buffer.alloc(16384, 1);
    const ctl2 = new FakeCtl({ payload: () => big });
    expect((await ctl2.submit(be, { op: 'write', lba: 0, blocks: 32, fua: false })).status).toBe(IoStatus.Success);

    const ro = new RamdiskBackend({ size: 8192, readOnly: true });
    const w = await ctl.submit(ro, { op: 'write', lba: 0, blocks: 1, fua: false });
    expect(ctl.sense.get(w)).toEqual({ senseKey: 0x07, asc: 0x27, ascq: 0x00 });
    await expect(be.resize(1000)).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('is created by createBackend and validates options', async () => {
    const be = await createBackend('ramdisk', { size: 4096 });
    expect(be).toBeInstanceOf(RamdiskBackend);
    expect(be.numBlocks).toBe(8);
    expect(() => new RamdiskBackend({ size: 1000 })).toThrow(InvalidOptionError);
    expect(() => new RamdiskBackend({ size: 4096, pageSize: 3000 })).toThrow(InvalidOptionError);
    expect(() => new RamdiskBackend({ size: 4096, blockSize: 4096, maxIoSize: 6144 })).toThrow(InvalidOptionError);
    await expect(createBackend('ramdisk', {} as never)).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(createBackend('nope' as 'ramdisk', { size: 4096 })).rejects.toBeInstanceOf(InvalidOptionError);
  });

  it('completes each command exactly once and refuses commands after shutdown', async () => {
    const be = new RamdiskBackend({ size: 8192 });
    const ctl = new FakeCtl();
    const r = await ctl.submit(be, { op: 'read', lba: 0, blocks: 16 });
    expect(ctl.doneCount.get(r)).toBe(1);
    const f = await ctl.submit(be, { op: 'flush', lba: 0, blocks: 0, immed: false });
    expect(f.status).toBe(IoStatus.Success);
    for (const req of [
      { op: 'read', lba: 3, blocks: 0 },
      { op: 'write', lba: 3, blocks: 0, fua: true },
      { op: 'verify', lba: 3, blocks: 0, bytchk: true },
    ] as const) {
      const z = await ctl.submit(be, req);
      expect(z.status, req.op).toBe(IoStatus.Success);
    }
    await be.shutdown();
    await be.shutdown();
    const late = await ctl.submit(be, { op: 'read', lba: 0, blocks: 1 });
    expect(ctl.sense.get(late)).toEqual({ senseKey: 0x02, asc: 0x04, ascq: 0x00 });
    expect(ctl.doneCount.get(late)).toBe(1);
    expect(ctl.datamoves).toHaveLength(1);
  });
});
