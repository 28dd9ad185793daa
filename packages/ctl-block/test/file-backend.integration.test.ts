import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DataDirection, DataOutMode, IoStatus } from '@iscsi-target/ctl-core';
import {
  BackendOpenError,
  BackendShutDownError,
  BufferPool,
  FileBackend,
  InvalidOptionError,
  ShrinkRefusedError,
  UnsupportedOperationError,
  createBackend,
  nodeFileIo,
  type FileIo,
} from '../src/index.js';
import { FakeCtl, randomBytes, rng } from '@iscsi-target/ctl-core/testing';

const BS = 512;
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-block-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** nodeFileIo with a call log and optional overrides (fault injection). */
function spyIo(overrides: Partial<FileIo> = {}): { io: FileIo; log: string[] } {
  const log: string[] = [];
  const base: FileIo = { ...nodeFileIo, ...overrides };
  const io: FileIo = {
    ...base,
    open: (p, flags, mode) => (log.push(`open:${String(flags)}`), base.open(p, flags, mode)),
    close: (fd) => (log.push('close'), base.close(fd)),
    readv: (fd, b, pos) => (log.push('readv'), base.readv(fd, b, pos)),
    writev: (fd, b, pos) => (log.push(`writev:${b.length}`), base.writev(fd, b, pos)),
    fdatasync: (fd) => (log.push('fdatasync'), base.fdatasync(fd)),
    ftruncate: (fd, len) => (log.push(`ftruncate:${len}`), base.ftruncate(fd, len)),
  };
  return { io, log };
}

const errno = (code: string) => Object.assign(new Error(code), { code });

describe('FileBackend: opening', () => {
  it('creates a missing file sparse and keeps its identity across reopen', async () => {
    const file = path.join(dir, 'lun0.img');
    const size = 256 * 1024 * 1024;
    const be = await FileBackend.open({ path: file, size });
    const st = fs.statSync(file);
    expect(st.size).toBe(size);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024); // sparse: (almost) nothing allocated
    expect(be.numBlocks).toBe(size / BS);
    expect(be.thinProvisioned).toBe(true);
    expect(be.isBlockDevice).toBe(false);
    expect(be.optimalTransferBlocks).toBe(2048);
    await be.shutdown();
    const again = await FileBackend.open({ path: path.relative(process.cwd(), file) });
    expect(again.path).toBe(file);
    expect(again.serialNumber).toBe(be.serialNumber);
    expect(again.naa.equals(be.naa)).toBe(true);
    expect(again.numBlocks).toBe(size / BS);
    await again.shutdown();
  });

  it('shrinks an existing file at open only with allowShrink, and says so', async () => {
    const file = path.join(dir, 'shrink-open.img');
    fs.writeFileSync(file, Buffer.alloc(1024 * 1024, 1));
    await expect(FileBackend.open({ path: file, size: 512 * 1024 })).rejects.toThrow(/holds 1048576 bytes \(1 MiB\); shrinking it to 524288 bytes \(512 KiB\) would discard the last 524288 bytes/);
    const be = await FileBackend.open({ path: file, size: 512 * 1024, allowShrink: true });
    expect(fs.statSync(file).size).toBe(512 * 1024);
    expect(be.shrunkFromBytes).toBe(1024 * 1024);
    expect(be.created).toBe(false);
    await be.shutdown();
  });

  it('grows an existing file but refuses to shrink it at open', async () => {
    const file = path.join(dir, 'lun.img');
    fs.writeFileSync(file, Buffer.alloc(1024 * 1024, 1));
    await expect(FileBackend.open({ path: file, size: 512 * 1024 })).rejects.toBeInstanceOf(ShrinkRefusedError);
    expect(fs.statSync(file).size).toBe(1024 * 1024);
    const be = await FileBackend.open({ path: file, size: 2 * 1024 * 1024, blockSize: 4096 });
    expect(fs.statSync(file).size).toBe(2 * 1024 * 1024);
    expect(be.numBlocks).toBe(512);
    await be.shutdown();
    // Without size: the file's size, rounded down to whole blocks.
    fs.appendFileSync(file, Buffer.alloc(100));
    const be2 = await FileBackend.open({ path: file, blockSize: 4096 });
    expect(be2.numBlocks).toBe(512);
    await be2.shutdown();
  });

  it('rejects bad options and unusable paths, removing a file it created and could not set up', async () => {
    await expect(FileBackend.open({ path: path.join(dir, 'missing') })).rejects.toBeInstanceOf(BackendOpenError);
    await expect(FileBackend.open({ path: dir })).rejects.toBeInstanceOf(BackendOpenError);
    await expect(FileBackend.open({ path: path.join(dir, 'x'), size: 1000 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(FileBackend.open({ path: path.join(dir, 'x'), size: 4096, blockSize: 1000 })).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
    const pool = new BufferPool({ segmentSize: 4096, maxBytes: 8192 });
    await expect(FileBackend.open({ path: path.join(dir, 'x'), size: 4096, pool, maxIoSize: 16384 })).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
    const { io } = spyIo({ ftruncate: () => Promise.reject(errno('EFBIG')) });
    const file = path.join(dir, 'y');
    await expect(FileBackend.open({ path: file, size: 4096, fileIo: io })).rejects.toMatchObject({ code: 'EFBIG' });
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('falls back to read-only when the file cannot be opened for writing', async () => {
    const file = path.join(dir, 'ro.img');
    fs.writeFileSync(file, Buffer.alloc(8192, 5));
    const { io, log } = spyIo({
      open: (p, flags, mode) => (flags === 'r+' ? Promise.reject(errno('EROFS')) : nodeFileIo.open(p, flags, mode)),
    });
    const be = await FileBackend.open({ path: file, fileIo: io });
    expect(be.readOnly).toBe(true);
    expect(log).toEqual(['open:r+', 'open:r']);
    const payload = Buffer.alloc(512, 1);
    const ctl = new FakeCtl({ payload: () => payload });
    const w = await ctl.submit(be, { op: 'write', lba: 0, blocks: 1, fua: false });
    expect(ctl.sense.get(w)).toEqual({ senseKey: 0x07, asc: 0x27, ascq: 0x00 });
    expect(ctl.datamoves).toHaveLength(0);
    const r = await ctl.submit(be, { op: 'read', lba: 0, blocks: 16 });
    expect(ctl.readData(r).every((b) => b === 5)).toBe(true);
    await expect(be.resize(16384)).rejects.toBeInstanceOf(UnsupportedOperationError);
    await be.shutdown();
    const explicit = await FileBackend.open({ path: file, readOnly: true });
    expect(explicit.readOnly).toBe(true);
    await explicit.shutdown();
  });

  it('sizes a block device from sysfs and treats it as thick', async () => {
    const file = path.join(dir, 'dev.img');
    fs.writeFileSync(file, Buffer.alloc(4096));
    const { io } = spyIo({
      fstat: async (fd) => {
        const st = await nodeFileIo.fstat(fd);
        return Object.assign(Object.create(st) as fs.Stats, {
          size: 0,
          rdev: 0x0810,
          isBlockDevice: () => true,
          isFile: () => false,
        });
      },
      readTextFile: (p) => (p === '/sys/dev/block/8:16/size' ? Promise.resolve('8\n') : Promise.reject(errno('ENOENT'))),
    });
    const be = await FileBackend.open({ path: file, fileIo: io });
    expect(be.isBlockDevice).toBe(true);
    expect(be.numBlocks).toBe(8);
    expect(be.thinProvisioned).toBe(false);
    await expect(be.resize(8192)).rejects.toBeInstanceOf(UnsupportedOperationError);
    await be.shutdown();
    await expect(FileBackend.open({ path: file, fileIo: io, size: 8192 })).rejects.toBeInstanceOf(BackendOpenError);
    const prefix = await FileBackend.open({ path: file, fileIo: io, size: 2048 });
    expect(prefix.numBlocks).toBe(4);
    await prefix.shutdown();
  });
});

describe('FileBackend: data path', () => {
  for (const copyMode of [false, true]) {
    it(`round-trips random I/O across piece boundaries (copyMode=${copyMode})`, async () => {
      const file = path.join(dir, 'rt.img');
      const size = 512 * 1024;
      const pool = new BufferPool({ segmentSize: 4096, maxBytes: 256 * 1024, poison: true });
      const { io, log } = spyIo();
      const be = await FileBackend.open({ path: file, size, pool, maxIoSize: 8192, copyMode, fileIo: io });
      const model = Buffer.alloc(size);
      const rand = rng(copyMode ? 11 : 10);
      let payload: Buffer = Buffer.alloc(0);
      const ctl = new FakeCtl({ payload: () => payload, pduSize: 3000 });
      let pieces = 0;
      for (let i = 0; i < 80; i++) {
        const lba = Math.floor(rand() * (size / BS - 64));
        const blocks = 1 + Math.floor(rand() * 63);
        if (rand() < 0.5) {
          payload = randomBytes(rand, blocks * BS);
          const w = await ctl.submit(be, { op: 'write', lba, blocks, fua: false });
          expect(w.status).toBe(IoStatus.Success);
          payload.copy(model, lba * BS);
          pieces += Math.ceil((blocks * BS) / 8192);
        } else {
          const r = await ctl.submit(be, { op: 'read', lba, blocks });
          expect(r.status).toBe(IoStatus.Success);
          expect(ctl.readData(r).equals(model.subarray(lba * BS, (lba + blocks) * BS))).toBe(true);
        }
      }
      await new Promise((r) => setImmediate(r));
      expect(ctl.refsOutstanding).toBe(0);
      expect(pool.stats.inUse).toBe(0);
      // One vectored write per piece; in views mode the frontend's chunks go straight to pwritev.
      const writevs = log.filter((l) => l.startsWith('writev'));
      expect(writevs).toHaveLength(pieces);
      const outs = ctl.datamoves.filter((m) => m.direction === DataDirection.Out);
      expect(outs.every((m) => m.dataOutMode === (copyMode ? DataOutMode.Copy : DataOutMode.Views))).toBe(true);
      if (!copyMode) expect(writevs.some((l) => Number(l.split(':')[1]) > 2)).toBe(true);
      const ins = ctl.datamoves.filter((m) => m.direction === DataDirection.In);
      expect(ins.every((m) => m.hadRef === !copyMode && m.length <= 8192)).toBe(true);
      // Success is set before the last piece of a read only.
      const multi = ins.filter((m) => m.relOffset > 0);
      expect(multi.length).toBeGreaterThan(0);
      await be.shutdown();
      expect(fs.readFileSync(file).equals(model)).toBe(true);
    });
  }

  it('sets success before the datamove of the last read piece only', async () => {
    const file = path.join(dir, 's.img');
    const be = await FileBackend.open({ path: file, size: 64 * 1024, maxIoSize: 4096 });
    const ctl = new FakeCtl();
    const r = await ctl.submit(be, { op: 'read', lba: 0, blocks: 24 });
    expect(r.status).toBe(IoStatus.Success);
    expect(ctl.datamoves.map((m) => [m.relOffset, m.length, m.statusAtDatamove])).toEqual([
      [0, 4096, IoStatus.None],
      [4096, 4096, IoStatus.None],
      [8192, 4096, IoStatus.Success],
    ]);
    await be.shutdown();
  });

  it('handles short reads and reads past the end of a shorter file as zeros', async () => {
    const file = path.join(dir, 'short.img');
    const { io, log } = spyIo({
      readv: async (fd, bufs, pos) => {
        // At most 1000 bytes per call, like an interrupted preadv.
        let left = 1000;
        const capped: Buffer[] = [];
        for (const b of bufs) {
          if (left === 0) break;
          const n = Math.min(left, b.length);
          capped.push(b.subarray(0, n));
          left -= n;
        }
        return nodeFileIo.readv(fd, capped, pos);
      },
    });
    const data = randomBytes(rng(3), 16384);
    fs.writeFileSync(file, data);
    const pool = new BufferPool({ segmentSize: 4096, maxBytes: 65536, poison: 0xee });
    const be = await FileBackend.open({ path: file, fileIo: io, pool, maxIoSize: 8192 });
    const ctl = new FakeCtl();
    const r = await ctl.submit(be, { op: 'read', lba: 1, blocks: 30 });
    expect(ctl.readData(r).equals(data.subarray(512, 31 * 512))).toBe(true);
    expect(log.filter((l) => l === 'readv').length).toBeGreaterThan(15);
    fs.truncateSync(file, 6000); // shorter than the LUN now
    const z = await ctl.submit(be, { op: 'read', lba: 8, blocks: 8 });
    const got = ctl.readData(z);
    expect(got.subarray(0, 6000 - 4096).equals(data.subarray(4096, 6000))).toBe(true);
    expect(got.subarray(6000 - 4096).every((b) => b === 0)).toBe(true); // not poison, not stale
    await be.shutdown();
  });

  it('FUA and WCE=0 writes call fdatasync after the write, plain writes do not', async () => {
    const file = path.join(dir, 'fua.img');
    const { io, log } = spyIo();
    const be = await FileBackend.open({ path: file, size: 65536, fileIo: io, maxIoSize: 4096 });
    const payload = Buffer.alloc(8192, 3);
    const ctl = new FakeCtl({ payload: () => payload });
    log.length = 0;
    await ctl.submit(be, { op: 'write', lba: 0, blocks: 16, fua: false });
    expect(log.filter((l) => l === 'fdatasync')).toHaveLength(0);
    log.length = 0;
    const w = await ctl.submit(be, { op: 'write', lba: 0, blocks: 16, fua: true });
    expect(w.status).toBe(IoStatus.Success);
    expect(log.map((l) => l.split(':')[0])).toEqual(['writev', 'writev', 'fdatasync']);
    await be.shutdown();

    const { io: io2, log: log2 } = spyIo();
    const noCache = await FileBackend.open({ path: file, fileIo: io2, writeCache: false });
    expect(noCache.writeCache).toBe(false);
    log2.length = 0;
    await ctl.submit(noCache, { op: 'write', lba: 2, blocks: 1, fua: false });
    expect(log2.map((l) => l.split(':')[0])).toEqual(['writev', 'fdatasync']);
    await noCache.shutdown();
  });

  it('writes nothing when the transfer failed or the task was aborted', async () => {
    const file = path.join(dir, 'ps.img');
    const original = Buffer.alloc(16384, 0x77);
    fs.writeFileSync(file, original);
    const pool = new BufferPool({ segmentSize: 4096, maxBytes: 65536 });
    for (const copyMode of [false, true]) {
      const { io, log } = spyIo();
      const be = await FileBackend.open({ path: file, fileIo: io, pool, copyMode, maxIoSize: 4096 });
      const payload = Buffer.alloc(8192, 0x11);
      const failing = new FakeCtl({ payload: () => payload, portStatus: () => 1 });
      const w = await failing.submit(be, { op: 'write', lba: 0, blocks: 16, fua: true });
      expect(failing.sense.get(w)).toEqual({ senseKey: 0x04, asc: 0x44, ascq: 0x00 });
      expect(failing.datamoves).toHaveLength(1); // stopped after the failed piece
      const aborting = new FakeCtl({ payload: () => payload, abort: () => true });
      const a = await aborting.submit(be, { op: 'write', lba: 0, blocks: 16, fua: false });
      expect(a.status).toBe(IoStatus.None); // the core reports the abort
      expect(aborting.doneCount.get(a)).toBe(1);
      // Failure on the second piece: the first was written, the second not.
      const second = new FakeCtl({ payload: () => payload, portStatus: (_io, piece) => (piece === 1 ? 5 : 0) });
      await second.submit(be, { op: 'write', lba: 16, blocks: 16, fua: false });
      expect(log.filter((l) => l.startsWith('writev'))).toHaveLength(1);
      expect(log).not.toContain('fdatasync');
      await be.shutdown();
      const now = fs.readFileSync(file);
      expect(now.subarray(0, 8192).equals(original.subarray(0, 8192))).toBe(true);
      expect(now.subarray(8192, 12288).every((b) => b === 0x11)).toBe(true);
      expect(now.subarray(12288).every((b) => b === 0x77)).toBe(true);
      fs.writeFileSync(file, original);
      expect(pool.stats.inUse).toBe(0);
    }
  });

  it('stops a read whose transfer failed and returns its buffers', async () => {
    const file = path.join(dir, 'rf.img');
    const pool = new BufferPool({ segmentSize: 4096, maxBytes: 65536 });
    const be = await FileBackend.open({ path: file, size: 65536, pool, maxIoSize: 4096 });
    const ctl = new FakeCtl({ portStatus: (_io, piece) => (piece === 1 ? 9 : 0) });
    const r = await ctl.submit(be, { op: 'read', lba: 0, blocks: 32 });
    expect(ctl.datamoves).toHaveLength(2);
    expect(ctl.sense.get(r)).toEqual({ senseKey: 0x04, asc: 0x44, ascq: 0x00 });
    await new Promise((res) => setImmediate(res));
    expect(pool.stats.inUse).toBe(0);
    await be.shutdown();
  });

  it('maps storage errors to sense and leaks no buffers', async () => {
    const file = path.join(dir, 'err.img');
    const pool = new BufferPool({ segmentSize: 4096, maxBytes: 65536 });
    const cases: [string, 'writev' | 'readv' | 'fdatasync', object][] = [
      ['ENOSPC', 'writev', { senseKey: 0x07, asc: 0x27, ascq: 0x07 }],
      ['EDQUOT', 'writev', { senseKey: 0x07, asc: 0x27, ascq: 0x07 }],
      ['EROFS', 'writev', { senseKey: 0x07, asc: 0x27, ascq: 0x00 }],
      ['EIO', 'writev', { senseKey: 0x03, asc: 0x0c, ascq: 0x00 }],
      ['EIO', 'readv', { senseKey: 0x03, asc: 0x11, ascq: 0x00 }],
      ['EIO', 'fdatasync', { senseKey: 0x04, asc: 0x44, ascq: 0x00 }],
    ];
    for (const [code, call, sense] of cases) {
      const { io } = spyIo({ [call]: () => Promise.reject(errno(code)) });
      for (const copyMode of [false, true]) {
        const be = await FileBackend.open({ path: file, size: 65536, fileIo: io, pool, copyMode });
        const payload = Buffer.alloc(4096, 1);
        const ctl = new FakeCtl({ payload: () => payload });
        const req =
          call === 'readv'
            ? ({ op: 'read', lba: 0, blocks: 8 } as const)
            : call === 'writev'
              ? ({ op: 'write', lba: 0, blocks: 8, fua: false } as const)
              : ({ op: 'flush', lba: 0, blocks: 0, immed: false } as const);
        const done = await ctl.submit(be, req);
        expect(ctl.sense.get(done), `${code} on ${call}`).toEqual(sense);
        expect(ctl.doneCount.get(done)).toBe(1);
        // The flush at shutdown fails the same way, and says so.
        if (call === 'fdatasync') await expect(be.shutdown()).rejects.toThrow('EIO');
        else await be.shutdown();
        expect(pool.stats.inUse).toBe(0);
      }
    }
  });

  it('SYNCHRONIZE CACHE with IMMED completes first; shutdown waits for the flush', async () => {
    const file = path.join(dir, 'immed.img');
    const gate = deferred();
    const { io, log } = spyIo({ fdatasync: (fd) => gate.promise.then(() => nodeFileIo.fdatasync(fd)) });
    const be = await FileBackend.open({ path: file, size: 8192, fileIo: io });
    const ctl = new FakeCtl();
    const f = await ctl.submit(be, { op: 'flush', lba: 0, blocks: 0, immed: true });
    expect(f.status).toBe(IoStatus.Success);
    expect(log).toContain('fdatasync');
    expect(be.stats.inflight).toBe(1);
    let closed = false;
    const shut = be.shutdown().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(false);
    expect(log).not.toContain('close');
    gate.resolve();
    await shut;
    expect(log.at(-1)).toBe('close');
    expect(be.stats.backgroundErrors).toBe(0);
  });

  it('shutdown waits for in-flight writes before closing, then refuses new commands', async () => {
    const file = path.join(dir, 'sd.img');
    const gate = deferred();
    const { io, log } = spyIo({ writev: (fd, b, p) => gate.promise.then(() => nodeFileIo.writev(fd, b, p)) });
    const be = await FileBackend.open({ path: file, size: 8192, fileIo: io });
    const payload = Buffer.alloc(1024, 0x3c);
    const ctl = new FakeCtl({ payload: () => payload });
    const write = ctl.submit(be, { op: 'write', lba: 2, blocks: 2, fua: false });
    while (!log.some((l) => l.startsWith('writev'))) await new Promise((r) => setImmediate(r));
    const shut = be.shutdown();
    const late = await ctl.submit(be, { op: 'read', lba: 0, blocks: 1 });
    expect(ctl.sense.get(late)).toEqual({ senseKey: 0x02, asc: 0x04, ascq: 0x00 });
    expect(log).not.toContain('close');
    gate.resolve();
    expect((await write).status).toBe(IoStatus.Success);
    await shut;
    expect(log.at(-1)).toBe('close');
    expect(fs.readFileSync(file).subarray(1024, 2048).every((b) => b === 0x3c)).toBe(true);
    await expect(be.resize(16384)).rejects.toBeInstanceOf(BackendShutDownError);
  });

  it('resizes the file both ways', async () => {
    const file = path.join(dir, 'rs.img');
    const be = await createBackend('block', { path: file, size: 8192 });
    expect(await be.resize(65536)).toBe(128);
    expect(fs.statSync(file).size).toBe(65536);
    expect(be.numBlocks).toBe(128);
    // A shrink discards data: refused unless allowed, the file untouched.
    const refused = be.resize(4096);
    await expect(refused).rejects.toBeInstanceOf(ShrinkRefusedError);
    await expect(refused).rejects.toThrow(/would discard the last 61440 bytes \(60 KiB\)/);
    expect(fs.statSync(file).size).toBe(65536);
    expect(await be.resize(4096, { allowShrink: true })).toBe(8);
    expect(fs.statSync(file).size).toBe(4096);
    await expect(be.resize(1000)).rejects.toBeInstanceOf(InvalidOptionError);
    await be.shutdown();
  });

  it('verifies with BYTCHK against the file', async () => {
    const file = path.join(dir, 'v.img');
    const data = randomBytes(rng(5), 8192);
    fs.writeFileSync(file, data);
    const be = await FileBackend.open({ path: file, maxIoSize: 2048 });
    let payload = data.subarray(1024, 5120);
    const ctl = new FakeCtl({ payload: () => payload });
    const ok = await ctl.submit(be, { op: 'verify', lba: 2, blocks: 8, bytchk: true });
    expect(ok.status).toBe(IoStatus.Success);
    payload = Buffer.from(payload);
    payload[4095] = payload[4095]! ^ 1;
    const bad = await ctl.submit(be, { op: 'verify', lba: 2, blocks: 8, bytchk: true });
    expect(ctl.sense.get(bad)).toEqual({ senseKey: 0x0e, asc: 0x1d, ascq: 0x00 });
    await be.shutdown();
  });
});

describe('FileBackend: shutdown flush', () => {
  it('fdatasyncs a read-write LUN before closing it, not a read-only one; reports a failed flush after closing', async () => {
    const file = path.join(dir, 'flush-at-shutdown.img');
    const rw = spyIo();
    const be = await FileBackend.open({ path: file, size: 8192, fileIo: rw.io });
    await be.shutdown();
    expect(rw.log.slice(-2)).toEqual(['fdatasync', 'close']);
    const ro = spyIo();
    const rbe = await FileBackend.open({ path: file, readOnly: true, fileIo: ro.io });
    await rbe.shutdown();
    expect(ro.log).not.toContain('fdatasync');
    expect(ro.log.at(-1)).toBe('close');
    const bad = spyIo({ fdatasync: () => Promise.reject(errno('EIO')) });
    const bbe = await FileBackend.open({ path: file, fileIo: bad.io });
    await expect(bbe.shutdown()).rejects.toThrow('EIO');
    expect(bad.log.at(-1)).toBe('close');
  });
});

describe('FileBackend: buffer lifetime', () => {
  it('keeps lent buffers valid after completion and shutdown, until the last kernDataRef(-1)', async () => {
    const file = path.join(dir, 'life.img');
    const data = randomBytes(rng(9), 24576);
    fs.writeFileSync(file, data);
    const pool = new BufferPool({ segmentSize: 4096, maxBytes: 65536, poison: true });
    const be = await FileBackend.open({ path: file, pool, maxIoSize: 8192 });
    const ctl = new FakeCtl({ holdRefs: true, pduSize: 2048 });
    const r = await ctl.submit(be, { op: 'read', lba: 0, blocks: 48 });
    expect(r.status).toBe(IoStatus.Success);
    await be.shutdown(); // the LUN is gone; the transport still holds 12 PDUs' worth of buffers
    expect(ctl.held).toHaveLength(12);
    expect(pool.stats.inUse).toBe(6);
    const views = ctl.held.flatMap((h) => h.views);
    expect(Buffer.concat(views).equals(data)).toBe(true);
    // Release all but the last PDU of the first piece: the piece's buffers stay lent.
    const firstPiece = ctl.held.splice(0, 4);
    for (const h of firstPiece.slice(0, 3)) h.ref(h.arg, -1);
    expect(pool.stats.inUse).toBe(6);
    expect(firstPiece[3]!.views.every((v) => v.every((b, i) => b === data[6144 + i]))).toBe(true);
    firstPiece[3]!.ref(firstPiece[3]!.arg, -1);
    expect(pool.stats.inUse).toBe(4);
    expect(firstPiece[0]!.views[0]!.every((b) => b === 0xdb)).toBe(true); // really returned (poisoned)
    ctl.releaseHeld();
    expect(pool.stats.inUse).toBe(0);
  });

  it('lets the I/O and the LUN be garbage collected while a transport holds buffers', async () => {
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { newScsiIo, TagType } = await import('@iscsi-target/ctl-core');
    const file = path.join(dir, 'gc.img');
    fs.writeFileSync(file, Buffer.alloc(8192, 0x61));
    const pool = new BufferPool({ segmentSize: 4096, maxBytes: 65536 });
    const held: { ref: (arg: unknown, diff: number) => void; arg: unknown; view: Buffer }[] = [];
    const weak = await (async () => {
      const be = await FileBackend.open({ path: file, pool });
      const io = newScsiIo({
        nexus: { initiatorIndex: 0, targetPort: 0, lun: 0 },
        tagNum: 1,
        tagType: TagType.Simple,
        cdb: Buffer.alloc(16),
        expectedDataTransferLength: 8192,
      });
      await new Promise<void>((resolve) => {
        const ctl = {
          datamove(x: typeof io) {
            x.kernDataRef!(x.kernDataArg, +1);
            held.push({ ref: x.kernDataRef!, arg: x.kernDataArg, view: x.kernSgList[0]! });
            setImmediate(() => x.beMoveDone!(x));
          },
          dataSubmitDone: () => resolve(),
          setSuccess() {},
          setSense() {},
          setMediumError() {},
          setInternalFailure() {},
          setWriteProtected() {},
          setSpaceAllocationFailed() {},
          setMiscompare() {},
        };
        be.submit(io, { op: 'read', lba: 0, blocks: 16 }, ctl);
      });
      await be.shutdown();
      return { io: new WeakRef(io), be: new WeakRef(be) };
    })();
    for (let i = 0; i < 20 && (weak.io.deref() || weak.be.deref()); i++) {
      await new Promise((r) => setTimeout(r, 1));
      gc();
    }
    expect(weak.io.deref()).toBeUndefined();
    expect(weak.be.deref()).toBeUndefined();
    expect(pool.stats.inUse).toBe(2);
    expect(held[0]!.view.every((b) => b === 0x61)).toBe(true);
    for (const h of held) h.ref(h.arg, -1);
    expect(pool.stats.inUse).toBe(0);
  });
});
