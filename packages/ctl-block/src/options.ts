/**
 * Tunables of the block backends, declared once with their default and what
 * they do (habit 12; listed in the README's tunables table). Only constants
 * and small validators live here; the option object types sit next to the
 * class they configure (`BufferPoolOptions`, `FileBackendOptions`,
 * `RamdiskBackendOptions`).
 */
import { InvalidOptionError } from './errors.js';

/**
 * Size of one pool segment. FreeBSD's block backend uses a 128 KiB "min" UMA
 * zone; eight segments make one 1 MiB piece, i.e. one `preadv` with 8 iovecs.
 */
export const DEFAULT_SEGMENT_SIZE = 128 * 1024;

/** Hard cap on the bytes a buffer pool ever allocates (all LUNs sharing it). */
export const DEFAULT_POOL_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Largest datamove piece of one command (bytes). A command larger than this
 * is moved in sequential pieces so one huge I/O cannot monopolise the pool
 * (FreeBSD: 8 segments of at most 1 MiB per beio).
 */
export const DEFAULT_MAX_IO_SIZE = 1024 * 1024;

/**
 * The max I/O size a LUN uses when none is given: `DEFAULT_MAX_IO_SIZE`,
 * lowered to what the pool can lend at once (whole blocks).
 */
export function defaultMaxIoSize(pool: { readonly maxBytes: number }, blockSize: number): number {
  return Math.max(blockSize, Math.min(DEFAULT_MAX_IO_SIZE, pool.maxBytes - (pool.maxBytes % blockSize)));
}

/** Logical block size when none is given. */
export const DEFAULT_BLOCK_SIZE = 512;

/**
 * Allocation unit of the RAM disk. Bigger pages mean fewer Buffer views per
 * Data-In and less bookkeeping, smaller ones less memory per sparse write and
 * smaller copy-on-write copies.
 */
export const DEFAULT_RAM_PAGE_SIZE = 64 * 1024;

/** Byte written over released pool segments when the pool's `poison` debug option is on. */
export const DEFAULT_POISON_BYTE = 0xdb;

/** T10 strings reported by default (INQUIRY vendor / product / revision). */
export const DEFAULT_VENDOR = 'ISCSITGT';
export const DEFAULT_FILE_PRODUCT = 'CTL BLOCK';
export const DEFAULT_RAM_PRODUCT = 'CTL RAMDISK';
export const DEFAULT_REVISION = '0001';

/** Throws unless `value` is a positive safe integer. */
export function requirePositiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Throws unless `value` is a power of two ≥ 512 (SBC-3 logical block sizes in practice). */
export function requireBlockSize(name: string, value: number): number {
  requirePositiveInteger(name, value);
  if (value < 512 || (value & (value - 1)) !== 0) {
    throw new InvalidOptionError(`${name} must be a power of two >= 512, got ${value}`);
  }
  return value;
}
