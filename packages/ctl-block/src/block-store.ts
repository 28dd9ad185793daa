/**
 * The storage side of a block LUN as the datamove engine (`block-dispatch.ts`)
 * sees it — the per-type function pointers of FreeBSD's
 * `ctl_be_block_lun` (`dispatch`, `lun_flush`) reduced to three calls on byte
 * ranges. Implemented by the file backend (pooled buffers + `preadv`/
 * `pwritev`) and the RAM disk (page views with copy-on-write).
 *
 * It knows nothing about SCSI, CTL or datamove pieces: ranges arrive already
 * checked against the capacity and split to at most the LUN's max I/O size.
 */

/** Data of one read piece, lent to the caller with one reference. */
export interface ReadPiece {
  /**
   * Views holding exactly the requested bytes. Read-only; valid while at
   * least one reference (initially the caller's) is held.
   */
  readonly sgList: Buffer[];
  /**
   * Reference function (`ScsiIo.kernDataRef`) and its argument
   * (`kernDataArg`). A module-level function over an object that pins only
   * memory, never the LUN or the I/O. The caller drops its reference with
   * `ref(arg, -1)`.
   */
  readonly ref: (arg: unknown, diff: number) => void;
  readonly arg: unknown;
}

export interface BlockStore {
  /**
   * Produces the bytes of `[offset, offset + length)`. Rejects with an
   * errno-style error (`code`) on a storage failure, holding no reference.
   */
  readPiece(offset: number, length: number): Promise<ReadPiece>;
  /**
   * Stores `sgList` (totalling the range length) at `offset`. The views are
   * only read, and not referenced after the promise settles. Rejects with an
   * errno-style error (`ENOSPC`, `EROFS`, `EIO`...) on failure.
   */
  write(sgList: readonly Buffer[], offset: number): Promise<void>;
  /** Makes every completed write durable (SYNCHRONIZE CACHE, FUA). */
  flush(): Promise<void>;
  /**
   * Optional (thin provisioning): deallocates `[offset, offset + length)` so
   * it reads as zeros. Resolves false if this store cannot deallocate (the
   * caller then writes zeros); rejects with an errno-style error on failure.
   */
  deallocate?(offset: number, length: number): Promise<boolean>;
  /**
   * Optional (GET LBA STATUS): whether the byte at `offset` is mapped, and
   * for how many bytes from there (1..`limit`) that stays true. Absent: every
   * byte is reported mapped.
   */
  allocationAt?(offset: number, limit: number): Promise<AllocationExtent>;
  /**
   * Optional (COMPARE AND WRITE done by the store itself, atomically against
   * every other client of the storage, e.g. at a Ceph OSD): writes `data` at
   * `offset` only if the medium there equals `compare` (same length).
   * Resolves null on success, or the offset (from `offset`) of the first
   * differing byte. Both Buffers are only read, and not referenced after the
   * promise settles. Used when the whole command fits one piece (`maxIoSize`).
   */
  compareAndWrite?(offset: number, compare: Buffer, data: Buffer): Promise<number | null>;
  /**
   * Optional (WRITE SAME done by the store): writes `pattern` (one logical
   * block) repeated over `[offset, offset + length)`. `pattern` is only read,
   * and not referenced after the promise settles.
   */
  writeSame?(offset: number, length: number, pattern: Buffer): Promise<void>;
}

/** One run of bytes with the same allocation state. */
export interface AllocationExtent {
  readonly mapped: boolean;
  readonly length: number;
}
