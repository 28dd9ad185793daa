/**
 * The librbd binding against a throw-away Ceph cluster (tools/ceph/cluster.mjs,
 * started once for this file): open/create/stat/resize/close, vectored AIO
 * reads and writes, discard, write zeroes, write same, compare-and-write with
 * the mismatch offset, flush, allocated extents, shared cluster handles, and
 * the errors for a missing image and an unreachable cluster, and the LUN
 * identity seeded from the image (stable across opens, distinct per image).
 * Skipped (with the reason) when the Ceph binaries or the addon are missing.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cephAvailable, startCluster, type CephCluster } from '../../../tools/ceph/cluster.mjs';
import { RbdBackend, RbdImage, parseImageSpec, rbdNative, rbdNativeUnavailable } from '../src/index.js';

const why = cephAvailable() ?? rbdNativeUnavailable();
const MiB = 1024 * 1024;

describe.skipIf(why !== null)(`librbd binding${why ? ` (skipped: ${why})` : ''}`, () => {
  let cluster: CephCluster;
  let img: RbdImage;
  const opts = () => ({ conf: cluster.conf, id: 'admin' });

  beforeAll(async () => {
    cluster = await startCluster();
    img = await RbdImage.open(parseImageSpec('rbd/unit0'), { ...opts(), createSize: 16 * MiB });
  }, 120_000);

  afterAll(async () => {
    await img?.close();
    await cluster?.stop();
  });

  it('creates a thin image of the requested size and reports its object size', async () => {
    expect(img.created).toBe(true);
    expect(img.stat()).toMatchObject({ size: 16 * MiB, objectSize: 4 * MiB, order: 22 });
    expect(await img.allocated(0, 16 * MiB)).toEqual([]);
  });

  it('writes from and reads into several Buffers (iovecs) at an offset', async () => {
    const a = randomBytes(4096);
    const b = randomBytes(8192);
    await img.writev([a, b], 4 * MiB - 4096);
    const x = Buffer.alloc(8192);
    const y = Buffer.alloc(4096);
    expect(await img.readv([x, y], 4 * MiB - 4096)).toBe(12288);
    expect(Buffer.concat([x, y]).equals(Buffer.concat([a, b]))).toBe(true);
    const ext = await img.allocated(0, 16 * MiB);
    expect(ext.length).toBeGreaterThan(0);
    expect(ext[0]?.[0]).toBeLessThanOrEqual(4 * MiB - 4096);
  });

  it('keeps many AIO operations in flight and completes every one on the event loop', async () => {
    const bufs = Array.from({ length: 64 }, (_, i) => Buffer.alloc(4096, i));
    await Promise.all(bufs.map((b, i) => img.writev([b], 8 * MiB + i * 4096)));
    const back = Array.from({ length: 64 }, () => Buffer.alloc(4096));
    await Promise.all(back.map((b, i) => img.readv([b], 8 * MiB + i * 4096)));
    back.forEach((b, i) => expect(b.equals(bufs[i] as Buffer)).toBe(true));
    expect(rbdNative()?.pending()).toBe(0);
  });

  it('discard and write zeroes read back as zeros; write same repeats the pattern', async () => {
    await img.writev([Buffer.alloc(65536, 0xaa)], 0);
    await img.discard(0, 32768);
    await img.writeZeroes(32768, 16384);
    const r = Buffer.alloc(65536);
    await img.readv([r], 0);
    expect(r.subarray(0, 49152).every((v) => v === 0)).toBe(true);
    expect(r.subarray(49152).every((v) => v === 0xaa)).toBe(true);
    const pat = Buffer.alloc(512, 0x5c);
    pat.write('pattern', 0);
    await img.writesame(65536, 512 * 16, pat);
    const s = Buffer.alloc(512 * 16);
    await img.readv([s], 65536);
    for (let i = 0; i < 16; i++) expect(s.subarray(i * 512, (i + 1) * 512).equals(pat)).toBe(true);
  });

  it('compare-and-write writes on a match and reports the first differing byte on a miscompare', async () => {
    const old = Buffer.alloc(512, 1);
    const neu = Buffer.alloc(512, 2);
    await img.writev([old], 12 * MiB);
    expect(await img.compareAndWrite(12 * MiB, old, neu)).toBeNull();
    const r = Buffer.alloc(512);
    await img.readv([r], 12 * MiB);
    expect(r.equals(neu)).toBe(true);
    const wrong = Buffer.from(neu);
    wrong[100] = 9;
    expect(await img.compareAndWrite(12 * MiB, wrong, old)).toBe(100);
    await img.readv([r], 12 * MiB);
    expect(r.equals(neu)).toBe(true);
    await img.flush();
  });

  it('resizes the image', async () => {
    await img.resize(32 * MiB);
    expect(img.stat().size).toBe(32 * MiB);
  });

  it('shares one cluster handle between images on the same (conf, id)', async () => {
    const other = await RbdImage.open(parseImageSpec('rbd/unit1'), { ...opts(), createSize: MiB });
    try {
      expect(other.cluster).toBe(img.cluster);
      expect(img.cluster.refs).toBe(2);
    } finally {
      await other.close();
    }
    expect(img.cluster.refs).toBe(1);
  });

  it('a missing image is a clear error (ENOENT), not created without a size', async () => {
    await expect(RbdImage.open(parseImageSpec('rbd/nope'), opts())).rejects.toThrow(/rbd\/nope.*does not exist.*ENOENT/);
    await expect(RbdImage.open(parseImageSpec('nopool/x'), opts())).rejects.toThrow(/ENOENT/);
  });

  it('an unreachable cluster fails within the timeout', async () => {
    const conf = join(cluster.dir, 'down.conf');
    writeFileSync(conf, '[global]\nmon host = v1:127.0.0.1:1\nauth client required = none\nauth supported = none\n');
    const t0 = Date.now();
    await expect(RbdImage.open(parseImageSpec('rbd/x'), { conf, id: 'admin', timeoutSeconds: 2 })).rejects.toThrow(/cannot connect to the Ceph cluster/);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('refuses I/O after close', async () => {
    const t = await RbdImage.open(parseImageSpec('rbd/unit2'), { ...opts(), createSize: MiB });
    await t.close();
    expect(() => t.readv([Buffer.alloc(512)], 0)).toThrow(/closed/);
  });

  it('an RBD LUN has the same serial and NAA at every open (the image id seeds them), another image others; configured ones win', async () => {
    const o = { cephConf: cluster.conf, cephId: 'admin', createSize: MiB };
    const a1 = await RbdBackend.open({ ...o, image: 'rbd/ident-a' });
    const seen = { serial: a1.serialNumber, naa: a1.naa.toString('hex'), devid: a1.deviceId };
    await a1.shutdown();
    const a2 = await RbdBackend.open({ ...o, image: 'rbd/ident-a' });
    const b = await RbdBackend.open({ ...o, image: 'rbd/ident-b' });
    const given = await RbdBackend.open({ ...o, image: 'rbd/ident-a', serialNumber: 'MYSERIAL', naa: '5001405abcdef012' });
    try {
      expect({ serial: a2.serialNumber, naa: a2.naa.toString('hex'), devid: a2.deviceId }).toEqual(seen);
      expect(b.serialNumber).not.toBe(seen.serial);
      expect(b.naa.toString('hex')).not.toBe(seen.naa);
      expect(given.serialNumber).toBe('MYSERIAL');
      expect(given.naa.toString('hex')).toBe('5001405abcdef012');
      expect(given.deviceId).toBe(seen.devid);
    } finally {
      await Promise.all([a2.shutdown(), b.shutdown(), given.shutdown()]);
    }
    // A re-created image (same name) is a new disk: a new identity.
    await cluster.rbd('rm', 'rbd/ident-a');
    const a3 = await RbdBackend.open({ ...o, image: 'rbd/ident-a' });
    try {
      expect(a3.serialNumber).not.toBe(seen.serial);
    } finally {
      await a3.shutdown();
    }
  });
});
