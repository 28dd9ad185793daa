import { describe, expect, it } from 'vitest';
import type { Stats } from 'node:fs';
import { blockDeviceSize, decodeLinuxDev, probeReadableSize } from '../src/device-size.js';
import type { FileIo } from '../src/file-io.js';

/** A FileIo whose only file is a virtual device of `size` bytes; counts reads. */
function virtualDevice(size: number, sysfs: Record<string, string> = {}) {
  const calls = { read: 0, sysfs: [] as string[] };
  const io: FileIo = {
    open: () => Promise.resolve(3),
    close: () => Promise.resolve(),
    fstat: () => Promise.resolve({ size: 0, isBlockDevice: () => true } as unknown as Stats),
    readv: () => Promise.reject(new Error('unused')),
    read: (_fd, buf, off, len, pos) => {
      calls.read++;
      const n = Math.max(0, Math.min(len, size - pos));
      buf.fill(1, off, off + n);
      return Promise.resolve(n);
    },
    writev: () => Promise.reject(new Error('unused')),
    ftruncate: () => Promise.reject(new Error('unused')),
    fdatasync: () => Promise.reject(new Error('unused')),
    readTextFile: (path) => {
      calls.sysfs.push(path);
      const text = sysfs[path];
      return text === undefined ? Promise.reject(Object.assign(new Error('ENOENT'), { code: 'ENOENT' })) : Promise.resolve(text);
    },
    unlink: () => Promise.reject(new Error('unused')),
  };
  return { io, calls };
}

describe('block device size', () => {
  it('decodes Linux dev_t like glibc', () => {
    expect(decodeLinuxDev(0x0801)).toEqual({ major: 8, minor: 1 }); // sda1
    expect(decodeLinuxDev(0x10300)).toEqual({ major: 259, minor: 0 }); // nvme0n1
    // makedev(0x12345, 0x6789a): major high bits at 44+, minor high bits at 20+.
    const dev = (0x12n << 44n) | (0x345n << 8n) | (0x678n << 20n) | 0x9an;
    expect(decodeLinuxDev(dev)).toEqual({ major: 0x12345, minor: 0x6789a });
  });

  it('reads sysfs first (size in 512-byte sectors)', async () => {
    const { io, calls } = virtualDevice(1 << 20, { '/sys/dev/block/259:3/size': '2048\n' });
    expect(await blockDeviceSize(io, 3, 0x10303)).toBe(2048 * 512);
    expect(calls.read).toBe(0);
    expect(calls.sysfs).toEqual(['/sys/dev/block/259:3/size']);
  });

  it('falls back to probing when sysfs is unavailable', async () => {
    for (const sectors of [1, 2, 3, 1000, 4096, 123457]) {
      const { io, calls } = virtualDevice(sectors * 512);
      expect(await blockDeviceSize(io, 3, 0x0801)).toBe(sectors * 512);
      expect(calls.read).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(sectors + 1)) + 2);
    }
    expect(await probeReadableSize(virtualDevice(0).io, 3)).toBe(0);
    // 10 TiB device: still a few dozen reads.
    const big = virtualDevice(10 * 2 ** 40);
    expect(await probeReadableSize(big.io, 3)).toBe(10 * 2 ** 40);
    expect(big.calls.read).toBeLessThan(80);
  });
});
