/**
 * Capacity of a block device. `fstat` reports size 0 for devices and Node
 * has no `lseek(SEEK_END)` nor `ioctl(BLKGETSIZE64)`, so:
 * 1. Linux: decode major:minor from `st_rdev` and read
 *    `/sys/dev/block/<major>:<minor>/size`, which is the size in 512-byte
 *    sectors whatever the device's logical block size;
 * 2. anywhere else (or if sysfs is not mounted): probe with 1-byte `pread`s,
 *    exponential then binary search over 512-byte sectors (a read at or past
 *    the end returns 0 bytes) — about 2·log2(sectors) reads, done once at
 *    open.
 * It does not look at partitions, holders or whether the device is mounted.
 */
import type { FileIo } from './file-io.js';
import { BackendOpenError } from './errors.js';

/** Sector unit of sysfs `size` files and of the probe. */
export const SECTOR_SIZE = 512;

/** Largest device the probe accepts (2^53 bytes: beyond that offsets are not exact doubles). */
const MAX_PROBE_SECTORS = Math.floor(Number.MAX_SAFE_INTEGER / SECTOR_SIZE);

/** Linux `dev_t` → major/minor (glibc `gnu_dev_major`/`gnu_dev_minor` bit layout). */
export function decodeLinuxDev(rdev: number | bigint): { major: number; minor: number } {
  const dev = BigInt(rdev);
  const major = ((dev & 0xfff00n) >> 8n) | ((dev & 0xfffff00000000000n) >> 32n);
  const minor = (dev & 0xffn) | ((dev & 0xffffff00000n) >> 12n);
  return { major: Number(major), minor: Number(minor) };
}

/** Reads the Linux sysfs size of a block device; null if unavailable. */
export async function sysfsBlockDeviceSize(io: FileIo, rdev: number): Promise<number | null> {
  const { major, minor } = decodeLinuxDev(rdev);
  let text: string;
  try {
    text = await io.readTextFile(`/sys/dev/block/${major}:${minor}/size`);
  } catch {
    return null;
  }
  const sectors = Number(text.trim());
  if (!Number.isSafeInteger(sectors) || sectors < 0 || sectors > MAX_PROBE_SECTORS) return null;
  return sectors * SECTOR_SIZE;
}

/**
 * Size of whatever `fd` reads, found with 1-byte reads at sector starts.
 * The result is a multiple of 512 (a trailing partial sector counts whole).
 */
export async function probeReadableSize(io: FileIo, fd: number): Promise<number> {
  const probe = Buffer.alloc(1);
  const readable = async (sector: number): Promise<boolean> =>
    (await io.read(fd, probe, 0, 1, sector * SECTOR_SIZE)) === 1;
  if (!(await readable(0))) return 0;
  // Invariant: sector `lo` is readable, sector `hi` is not.
  let lo = 0;
  let hi = 1;
  while (await readable(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > MAX_PROBE_SECTORS) throw new BackendOpenError('device too large to probe');
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (await readable(mid)) lo = mid;
    else hi = mid;
  }
  return hi * SECTOR_SIZE;
}

/** Capacity in bytes of the block device open on `fd` (sysfs first, then probing). */
export async function blockDeviceSize(io: FileIo, fd: number, rdev: number): Promise<number> {
  return (await sysfsBlockDeviceSize(io, rdev)) ?? (await probeReadableSize(io, fd));
}
