import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IoStatus, type BlockRequest } from '@iscsi-target/ctl-core';
import { BufferPool, FileBackend, nodeFileIo, RamdiskBackend, type FileIo } from '../src/index.js';
import { loadHoleOps, type HoleOps } from '../src/hole-ops.js';
import { MAX_UNMAP_DESCRIPTORS, UNLIMITED_UNMAP_BLOCKS, ZERO_FILL_MAX_UNMAP_BYTES } from '../src/provisioning-info.js';
import { FakeCtl, randomBytes, rng } from '@iscsi-target/ctl-core/testing';

const BS = 512;
const MiB = 1024 * 1024;
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-block-thin-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The native helper is part of the package build; only CTL_BLOCK_NATIVE=0 turns it off on purpose. */
const nativeExpected = process.platform === 'linux' && process.env.CTL_BLOCK_NATIVE !== '0';

interface Status {
  lba: number;
  blocks: number;
  status: number;
}

function decodeLbaStatus(data: Buffer): Status[] {
  const out: Status[] = [];
  const len = data.readUInt32BE(0) + 4;
  for (let off = 8; off + 16 <= Math.min(len, data.length); off += 16) {
    out.push({ lba: Number(data.readBigUInt64BE(off)), blocks: data.readUInt32BE(off + 8), status: data[off + 12] ?? -1 });
  }
  return out;
}

async function run(be: FileBackend | RamdiskBackend, request: BlockRequest, payload?: Buffer): Promise<{ ctl: FakeCtl; data: Buffer }> {
  const ctl = new FakeCtl(payload ? { payload: () => payload } : {});
  const io = await ctl.submit(be, request);
  expect(ctl.sense.get(io)).toBeUndefined();
  expect(io.status).toBe(IoStatus.Success);
  expect(ctl.doneCount.get(io)).toBe(1);
  return { ctl, data: ctl.readData(io) };
}

async function lbaStatus(be: FileBackend | RamdiskBackend, lba: number, descriptors = 8): Promise<Status[]> {
  const { data } = await run(be, { op: 'getLbaStatus', lba, blocks: be.numBlocks - lba, allocationLength: 8 + 16 * descriptors });
  return decodeLbaStatus(data);
}

async function readAll(be: FileBackend | RamdiskBackend): Promise<Buffer> {
  return (await run(be, { op: 'read', lba: 0, blocks: be.numBlocks })).data;
}

/** Writes `content` and makes it durable, so the file system has allocated it. */
async function fillFile(be: FileBackend, content: Buffer): Promise<void> {
  await run(be, { op: 'write', lba: 0, blocks: content.length / BS, fua: true }, content);
}

function unmapReq(extents: { lba: number; blocks: number }[]): BlockRequest {
  const lba = Math.min(...extents.map((e) => e.lba));
  const end = Math.max(...extents.map((e) => e.lba + e.blocks));
  return { op: 'unmap', lba, blocks: end - lba, extents };
}

describe.runIf(nativeExpected)('file backend: hole punching with the native helper', () => {
  it('the native helper is built and loads', () => {
    expect(loadHoleOps()).not.toBeNull();
  });

  it('UNMAP frees space (stat.blocks drops), reads zeros there, leaves everything else intact', async () => {
    const file = path.join(dir, 'thin.img');
    const be = await FileBackend.open({ path: file, size: 8 * MiB });
    expect(be.deallocates).toBe(true);
    const content = randomBytes(rng(7), 8 * MiB);
    await fillFile(be, content);
    const before = fs.statSync(file).blocks;
    expect(before).toBeGreaterThanOrEqual((8 * MiB) / 512);
    // 2 MiB from LBA 2048, plus 3 blocks that do not cover a whole file-system block.
    await run(be, unmapReq([{ lba: 2048, blocks: 4096 }, { lba: 10000, blocks: 3 }]));
    const after = fs.statSync(file).blocks;
    expect(before - after).toBeGreaterThanOrEqual((2 * MiB) / 512);
    expect(fs.statSync(file).size).toBe(8 * MiB); // KEEP_SIZE
    const expected = Buffer.from(content);
    expected.fill(0, 2048 * BS, 6144 * BS);
    expected.fill(0, 10000 * BS, 10003 * BS);
    expect((await readAll(be)).equals(expected)).toBe(true);
    await be.shutdown();
  });

  it('GET LBA STATUS reports the real holes, rounded so a block holding data is mapped', async () => {
    const file = path.join(dir, 'thin.img');
    const be = await FileBackend.open({ path: file, size: 8 * MiB });
    await fillFile(be, randomBytes(rng(3), 8 * MiB));
    await run(be, unmapReq([{ lba: 2048, blocks: 4096 }, { lba: 10000, blocks: 3 }]));
    expect(await lbaStatus(be, 0)).toEqual([
      { lba: 0, blocks: 2048, status: 0 },
      { lba: 2048, blocks: 4096, status: 1 },
      { lba: 6144, blocks: 16384 - 6144, status: 0 },
    ]);
    expect(await lbaStatus(be, 3000, 1)).toEqual([{ lba: 3000, blocks: 6144 - 3000, status: 1 }]);
    // A fresh sparse file is one hole.
    const fresh = await FileBackend.open({ path: path.join(dir, 'fresh.img'), size: 4 * MiB });
    expect(await lbaStatus(fresh, 5)).toEqual([{ lba: 5, blocks: 8192 - 5, status: 1 }]);
    await be.shutdown();
    await fresh.shutdown();
  });

  it('WRITE SAME with UNMAP punches the range; WRITE SAME without UNMAP maps it again', async () => {
    const file = path.join(dir, 'ws.img');
    const be = await FileBackend.open({ path: file, size: 4 * MiB });
    const content = randomBytes(rng(11), 4 * MiB);
    await fillFile(be, content);
    const block = randomBytes(rng(99), BS);
    await run(be, { op: 'writeSame', lba: 1024, blocks: 2048, unmap: true, ndob: false, fua: false }, block);
    expect(await lbaStatus(be, 0, 3)).toEqual([
      { lba: 0, blocks: 1024, status: 0 },
      { lba: 1024, blocks: 2048, status: 1 },
      { lba: 3072, blocks: 8192 - 3072, status: 0 },
    ]);
    const expected = Buffer.from(content);
    expected.fill(0, 1024 * BS, 3072 * BS);
    expect((await readAll(be)).equals(expected)).toBe(true);
    await run(be, { op: 'writeSame', lba: 1024, blocks: 2048, unmap: false, ndob: false, fua: false }, block);
    for (let b = 1024; b < 3072; b++) block.copy(expected, b * BS);
    expect((await readAll(be)).equals(expected)).toBe(true);
    expect(await lbaStatus(be, 0, 1)).toEqual([{ lba: 0, blocks: 8192, status: 0 }]);
    await be.shutdown();
  });

  it('reports LBPRZ, the file-system block as unmap granularity, and no UNMAP LBA limit', async () => {
    const be = await FileBackend.open({ path: path.join(dir, 'v.img'), size: MiB });
    const blksize = fs.statSync(path.join(dir, 'v.img')).blksize;
    expect(be.provisioning).toEqual({
      unmap: true,
      lbprz: true,
      maxUnmapBlocks: UNLIMITED_UNMAP_BLOCKS,
      maxUnmapDescriptors: MAX_UNMAP_DESCRIPTORS,
      unmapGranularity: blksize / BS,
      maxWriteSameBlocks: (1024 * MiB) / BS,
    });
    await be.shutdown();
  });
});

describe('file backend: zero-fill fallback (no hole punching)', () => {
  it('holeOps: null: UNMAP writes zeros, space is not freed, everything reads as mapped', async () => {
    const file = path.join(dir, 'fb.img');
    const be = await FileBackend.open({ path: file, size: 4 * MiB, holeOps: null });
    expect(be.deallocates).toBe(false);
    expect(be.provisioning).toMatchObject({
      unmap: true,
      lbprz: true,
      unmapGranularity: 0,
      maxUnmapBlocks: ZERO_FILL_MAX_UNMAP_BYTES / BS,
    });
    const content = randomBytes(rng(5), 4 * MiB);
    await fillFile(be, content);
    const before = fs.statSync(file).blocks;
    await run(be, unmapReq([{ lba: 100, blocks: 2000 }]));
    await run(be, { op: 'writeSame', lba: 5000, blocks: 10, unmap: true, ndob: true, fua: false });
    expect(fs.statSync(file).blocks).toBeGreaterThanOrEqual(before);
    const expected = Buffer.from(content);
    expected.fill(0, 100 * BS, 2100 * BS);
    expected.fill(0, 5000 * BS, 5010 * BS);
    expect((await readAll(be)).equals(expected)).toBe(true);
    expect(await lbaStatus(be, 0)).toEqual([{ lba: 0, blocks: 8192, status: 0 }]);
    await be.shutdown();
  });

  it('a file system that cannot punch holes is detected at open and falls back', async () => {
    const calls: string[] = [];
    const noPunch: HoleOps = {
      punchHole: () => (calls.push('punch'), Promise.reject(Object.assign(new Error('nope'), { code: 'EOPNOTSUPP' }))),
      seekData: () => 0,
      seekHole: () => 0,
    };
    const be = await FileBackend.open({ path: path.join(dir, 'np.img'), size: MiB, holeOps: noPunch });
    expect(calls).toEqual(['punch']);
    expect(be.deallocates).toBe(false);
    await run(be, unmapReq([{ lba: 0, blocks: 8 }]));
    expect(calls).toEqual(['punch']); // never tried again
    await be.shutdown();
  });

  it('EOPNOTSUPP at run time switches to zero-fill for that and later UNMAPs, data stays right', async () => {
    let punches = 0;
    const native = loadHoleOps();
    const flaky: HoleOps = {
      punchHole: () =>
        ++punches === 1 ? Promise.resolve() : Promise.reject(Object.assign(new Error('gone'), { code: 'EOPNOTSUPP' })),
      seekData: (fd, off) => (native ? native.seekData(fd, off) : off),
      seekHole: (fd, off) => (native ? native.seekHole(fd, off) : -1),
    };
    const writes: number[] = [];
    const io: FileIo = { ...nodeFileIo, writev: (fd, b, pos) => (writes.push(pos), nodeFileIo.writev(fd, b, pos)) };
    const be = await FileBackend.open({ path: path.join(dir, 'rt.img'), size: MiB, holeOps: flaky, fileIo: io });
    const content = randomBytes(rng(9), MiB);
    await fillFile(be, content);
    writes.length = 0;
    await run(be, unmapReq([{ lba: 16, blocks: 16 }]));
    expect(writes).toEqual([16 * BS]); // zero-filled
    const expected = Buffer.from(content);
    expected.fill(0, 16 * BS, 32 * BS);
    expect((await readAll(be)).equals(expected)).toBe(true);
    await be.shutdown();
  });

  it('a punch failing with another error is a storage error (MEDIUM ERROR, WRITE ERROR)', async () => {
    let punches = 0;
    const failing: HoleOps = {
      punchHole: () => (++punches === 1 ? Promise.resolve() : Promise.reject(Object.assign(new Error('io'), { code: 'EIO' }))),
      seekData: () => 0,
      seekHole: () => -1,
    };
    const be = await FileBackend.open({ path: path.join(dir, 'eio.img'), size: MiB, holeOps: failing });
    const ctl = new FakeCtl();
    const req = unmapReq([{ lba: 0, blocks: 8 }]);
    const ioDone = await ctl.submit(be, req);
    expect(ctl.sense.get(ioDone)).toEqual({ senseKey: 0x03, asc: 0x0c, ascq: 0x00 });
    await be.shutdown();
  });
});

describe('WRITE SAME without UNMAP: bounded pieces', () => {
  it('replicates the block through one pooled piece of at most maxIoSize, written again and again', async () => {
    const pool = new BufferPool({ segmentSize: 16 * 1024, maxBytes: 4 * MiB });
    const writes: { pos: number; len: number }[] = [];
    const io: FileIo = {
      ...nodeFileIo,
      writev: (fd, b, pos) => (writes.push({ pos, len: b.reduce((n, x) => n + x.length, 0) }), nodeFileIo.writev(fd, b, pos)),
    };
    const be = await FileBackend.open({ path: path.join(dir, 'p.img'), size: 4 * MiB, pool, maxIoSize: 64 * 1024, fileIo: io });
    const block = randomBytes(rng(1), BS);
    await run(be, { op: 'writeSame', lba: 10, blocks: 1000, unmap: false, ndob: false, fua: false }, block);
    // 1000 blocks = 500 KiB: seven 64 KiB pieces and one of 52 KiB.
    expect(writes.map((w) => w.len)).toEqual([...new Array<number>(7).fill(64 * 1024), 52 * 1024]);
    expect(writes[0]?.pos).toBe(10 * BS);
    expect(pool.stats.highWater).toBeLessThanOrEqual(4); // one 64 KiB piece of 16 KiB segments
    expect(pool.stats.inUse).toBe(0);
    const data = await readAll(be);
    for (let b = 10; b < 1010; b++) expect(data.subarray(b * BS, (b + 1) * BS).equals(block)).toBe(true);
    expect(data.subarray(0, 10 * BS).every((x) => x === 0)).toBe(true);
    expect(data.subarray(1010 * BS).every((x) => x === 0)).toBe(true);
    await be.shutdown();
  });

  it('a RAM disk whose maxIoSize exceeds the pool cap writes in pool-sized pieces', async () => {
    const pool = new BufferPool({ segmentSize: 16 * 1024, maxBytes: 64 * 1024 });
    const be = new RamdiskBackend({ size: MiB, pool, maxIoSize: 512 * 1024 });
    const block = randomBytes(rng(4), BS);
    await run(be, { op: 'writeSame', lba: 0, blocks: 2048, unmap: false, ndob: false, fua: false }, block);
    expect(pool.stats.highWater).toBe(4);
    const data = await readAll(be);
    for (let b = 0; b < 2048; b++) expect(data.subarray(b * BS, (b + 1) * BS).equals(block)).toBe(true);
    await be.shutdown();
  });

  it('NDOB writes zeros without a Data-Out transfer', async () => {
    const be = await FileBackend.open({ path: path.join(dir, 'n.img'), size: MiB });
    await fillFile(be, Buffer.alloc(MiB, 0xee));
    const { ctl } = await run(be, { op: 'writeSame', lba: 4, blocks: 4, unmap: false, ndob: true, fua: false });
    expect(ctl.datamoves).toHaveLength(0);
    const data = await readAll(be);
    expect(data.subarray(4 * BS, 8 * BS).every((x) => x === 0)).toBe(true);
    expect(data.subarray(0, 4 * BS).every((x) => x === 0xee)).toBe(true);
    expect(data.subarray(8 * BS).every((x) => x === 0xee)).toBe(true);
    await be.shutdown();
  });

  it('stops between pieces when the command is aborted, and a read-only LUN refuses', async () => {
    const be = await FileBackend.open({ path: path.join(dir, 'a.img'), size: MiB, maxIoSize: 4096 });
    const ctl = new FakeCtl({ payload: () => Buffer.alloc(BS, 1), abort: () => true });
    const io = await ctl.submit(be, { op: 'writeSame', lba: 0, blocks: 64, unmap: false, ndob: false, fua: false });
    expect(io.aborted).toBe(true);
    expect((await readAll(be)).every((x) => x === 0)).toBe(true);
    await be.shutdown();
    const ro = await FileBackend.open({ path: path.join(dir, 'a.img'), readOnly: true });
    const c2 = new FakeCtl();
    const io2 = await c2.submit(ro, unmapReq([{ lba: 0, blocks: 1 }]));
    expect(c2.sense.get(io2)).toEqual({ senseKey: 0x07, asc: 0x27, ascq: 0x00 });
    await ro.shutdown();
  });
});

describe('RAM disk: UNMAP frees pages', () => {
  it('drops whole pages, zeroes partial ones, reads zeros, and GET LBA STATUS shows the freed pages', async () => {
    const be = new RamdiskBackend({ size: 2 * MiB, pageSize: 64 * 1024 });
    const content = randomBytes(rng(21), 2 * MiB);
    await run(be, { op: 'write', lba: 0, blocks: 4096, fua: false }, content);
    expect(be.stats.allocatedPages).toBe(32);
    expect(be.provisioning).toMatchObject({ unmap: true, lbprz: true, unmapGranularity: 128 });
    // Pages 1-2 entirely, plus 10 blocks inside page 5.
    await run(be, unmapReq([{ lba: 128, blocks: 256 }, { lba: 640 + 7, blocks: 10 }]));
    expect(be.stats.allocatedPages).toBe(30);
    const expected = Buffer.from(content);
    expected.fill(0, 128 * BS, 384 * BS);
    expected.fill(0, 647 * BS, 657 * BS);
    expect((await readAll(be)).equals(expected)).toBe(true);
    expect(await lbaStatus(be, 0)).toEqual([
      { lba: 0, blocks: 128, status: 0 },
      { lba: 128, blocks: 256, status: 1 },
      { lba: 384, blocks: 4096 - 384, status: 0 },
    ]);
    // Unmapping the rest of page 5 leaves it all zeros: it is dropped too.
    await run(be, unmapReq([{ lba: 640, blocks: 7 }, { lba: 657, blocks: 111 }]));
    expect(be.stats.allocatedPages).toBe(29);
    await run(be, { op: 'writeSame', lba: 0, blocks: 4096, unmap: true, ndob: true, fua: false });
    expect(be.stats.allocatedPages).toBe(0);
    expect(await lbaStatus(be, 0)).toEqual([{ lba: 0, blocks: 4096, status: 1 }]);
    await be.shutdown();
  });

  it('a page a reader still holds keeps its bytes when unmapped', async () => {
    const be = new RamdiskBackend({ size: MiB, pageSize: 64 * 1024 });
    await run(be, { op: 'write', lba: 0, blocks: 256, fua: false }, Buffer.alloc(128 * 1024, 0x5a));
    const ctl = new FakeCtl({ holdRefs: true });
    await ctl.submit(be, { op: 'read', lba: 0, blocks: 256 });
    const held = ctl.held.flatMap((h) => h.views);
    await run(be, unmapReq([{ lba: 0, blocks: 200 }]));
    expect(held.every((v) => v.every((x) => x === 0x5a))).toBe(true);
    ctl.releaseHeld();
    const data = await readAll(be);
    expect(data.subarray(0, 200 * BS).every((x) => x === 0)).toBe(true);
    expect(data.subarray(200 * BS, 256 * BS).every((x) => x === 0x5a)).toBe(true);
    await be.shutdown();
  });
});
