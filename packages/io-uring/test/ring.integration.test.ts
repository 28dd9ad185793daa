// The io_uring engine on real files (a temp file) and real loopback sockets:
// file ops, batching (one io_uring_enter per turn), multishot accept,
// provided-buffer recv, sendmsg and SENDMSG_ZC with its notification, cancel.
// Skipped, with the reason, where io_uring is unavailable.
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CqeFlag, FallocMode, NOTIF_USAGE_ZC_COPIED, Ring, uringUnavailable } from '@iscsi-target/io-uring';
import { nativeBinding } from '../src/native.js';

const why = uringUnavailable();
const skip = why !== null;

describe.skipIf(skip)(`io_uring Ring${skip ? ` (skipped: ${why})` : ''}`, () => {
  let dir: string;
  let ring: Ring;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'uring-'));
    ring = new Ring();
  });
  afterAll(async () => {
    await ring.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writev / readv / fdatasync / fsync round-trip, batched into one io_uring_enter', async () => {
    const fh = await open(join(dir, 'a'), 'w+');
    try {
      const a = Buffer.alloc(4096, 0x11);
      const b = Buffer.alloc(4096, 0x22);
      const before = ring.stats();
      const writes = await Promise.all([ring.writev(fh.fd, [a, b], 0), ring.writev(fh.fd, [b], 8192)]);
      const mid = ring.stats();
      expect(writes).toEqual([8192, 4096]);
      expect(mid.submitted - before.submitted).toBe(2);
      expect(mid.enters - before.enters).toBe(1);
      await ring.fsync(fh.fd, true);
      await ring.fsync(fh.fd, false);
      const r1 = Buffer.alloc(8192);
      const r2 = Buffer.alloc(4096);
      expect(await ring.readv(fh.fd, [r1, r2], 0)).toBe(12288);
      expect(r1.subarray(0, 4096).every((x) => x === 0x11)).toBe(true);
      expect(r1.subarray(4096).every((x) => x === 0x22)).toBe(true);
      expect(r2.every((x) => x === 0x22)).toBe(true);
      expect(await ring.readv(fh.fd, [Buffer.alloc(10)], 1 << 20)).toBe(0);
    } finally {
      await fh.close();
    }
  });

  it('fallocate punches a hole that reads back as zeros, and reports errors as errno codes', async () => {
    const fh = await open(join(dir, 'b'), 'w+');
    try {
      await ring.writev(fh.fd, [Buffer.alloc(65536, 0xff)], 0);
      await ring.fallocate(fh.fd, FallocMode.PunchHole | FallocMode.KeepSize, 4096, 8192);
      const r = Buffer.alloc(65536);
      await ring.readv(fh.fd, [r], 0);
      expect(r.subarray(4096, 12288).every((x) => x === 0)).toBe(true);
      expect(r[4095]).toBe(0xff);
      expect(r[12288]).toBe(0xff);
      expect((await fh.stat()).size).toBe(65536);
      await expect(ring.readv(987654, [Buffer.alloc(1)], 0)).rejects.toMatchObject({ code: 'EBADF' });
    } finally {
      await fh.close();
    }
  });

  it('multishot accept, provided-buffer recv, sendmsg and SENDMSG_ZC with its notification', async () => {
    const b = nativeBinding()!;
    const lfd = b.listenTcp('127.0.0.1', 0, 16);
    const port = b.sockName(lfd, false).port;
    const accepted: number[] = [];
    const acceptId = ring.acceptMultishot(lfd, (res) => {
      if (res >= 0) accepted.push(res);
    });
    const cfd = b.connectTcp('127.0.0.1', port);
    const cfd2 = b.connectTcp('127.0.0.1', port);
    await waitFor(() => accepted.length === 2);
    const sfd = accepted[0]!;

    // Receive side: group 7 with 4 JS-owned buffers.
    const bufs = [0, 1, 2, 3].map(() => Buffer.alloc(1024));
    const returned: number[] = [];
    ring.registerBufferGroup(7, 4, (bid) => returned.push(bid));
    bufs.forEach((buf, bid) => ring.provideBuffer(7, buf, bid));
    const got: Buffer[] = [];
    let recvEnded = false;
    ring.recvMultishot(sfd, 7, (res, flags) => {
      if (res > 0) {
        expect(flags & CqeFlag.Buffer).toBeTruthy();
        const bid = flags >>> 16;
        got.push(Buffer.from(bufs[bid]!.subarray(0, res)));
        ring.provideBuffer(7, bufs[bid]!, bid);
      }
      if ((flags & CqeFlag.More) === 0) recvEnded = true;
    });

    const payload = Buffer.alloc(3000);
    for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;
    const cqes: { res: number; flags: number }[] = [];
    ring.sendmsg(cfd, [payload.subarray(0, 1000), payload.subarray(1000)], false, (res, flags) => cqes.push({ res, flags }));
    await waitFor(() => Buffer.concat(got).length === 3000);
    expect(Buffer.concat(got).equals(payload)).toBe(true);
    expect(cqes).toEqual([{ res: 3000, flags: 0 }]);

    // Zero-copy: a send CQE with F_MORE, then the notification; over
    // loopback the kernel copies and says so.
    const zc: { res: number; flags: number }[] = [];
    const zbuf = Buffer.alloc(2000, 0x5a);
    ring.sendmsg(cfd, [zbuf], true, (res, flags) => zc.push({ res, flags }));
    await waitFor(() => zc.length === 2);
    expect(zc[0]!.res).toBe(2000);
    expect(zc[0]!.flags & CqeFlag.More).toBeTruthy();
    expect(zc[1]!.flags & CqeFlag.Notif).toBeTruthy();
    expect(zc[1]!.res & NOTIF_USAGE_ZC_COPIED).toBeTruthy();
    await waitFor(() => Buffer.concat(got).length === 5000);

    // Single-buffer send (zero-copy).
    const zc1: number[] = [];
    ring.send(cfd, Buffer.from('hello'), true, (_res, flags) => zc1.push(flags));
    await waitFor(() => zc1.length === 2);
    await waitFor(() => Buffer.concat(got).length === 5005);

    // EOF ends the multishot recv.
    await ring.shutdown(cfd);
    await waitFor(() => recvEnded);

    // Cancel the multishot accept: its final CQE arrives and it is forgotten.
    ring.cancel(acceptId);
    await waitFor(() => ring.inflight === 0);
    ring.unregisterBufferGroup(7);
    for (const fd of [cfd, cfd2, ...accepted]) await ring.closeFd(fd);
    await ring.closeFd(lfd);
    expect(returned).toEqual([]);
  });

  it('alias: a received view returns its buffer id once the GC collects it', async () => {
    const gc = (globalThis as { gc?: () => void }).gc ?? exposeGc();
    const backing = Buffer.alloc(4096, 1);
    const returned: number[] = [];
    ring.registerBufferGroup(9, 2, (bid) => returned.push(bid));
    (() => {
      const a = ring.alias(backing, 100, 9, 1);
      expect(a.length).toBe(100);
      expect(a[0]).toBe(1);
      a[0] = 2; // same memory, no copy
    })();
    expect(backing[0]).toBe(2);
    for (let i = 0; i < 50 && returned.length === 0; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(returned).toEqual([1]);
    ring.unregisterBufferGroup(9);
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('forced fallback', () => {
  it(`${'ISCSI_TARGET_NO_URING'}=1 makes io_uring unavailable with a reason`, async () => {
    const { resetUringAvailabilityForTests } = await import('../src/native.js');
    const saved = process.env.ISCSI_TARGET_NO_URING;
    process.env.ISCSI_TARGET_NO_URING = '1';
    resetUringAvailabilityForTests();
    try {
      expect(uringUnavailable()).toMatch(/disabled by ISCSI_TARGET_NO_URING=1/);
      expect(() => new Ring()).toThrow(/ISCSI_TARGET_NO_URING/);
    } finally {
      if (saved === undefined) delete process.env.ISCSI_TARGET_NO_URING;
      else process.env.ISCSI_TARGET_NO_URING = saved;
      resetUringAvailabilityForTests();
    }
  });
});
