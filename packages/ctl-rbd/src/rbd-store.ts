/**
 * The storage half of an RBD LUN for ctl-block's datamove engine (a
 * `BlockStore` over an open `RbdImage`).
 *
 * What it does: reads with `rbd_aio_readv` straight into pooled segments that
 * are then lent to the frontend (`BeIo` + `kernDataRef`, released when the
 * last Data-In PDU completes); writes hand the frontend's Data-Out views to
 * `rbd_aio_writev` as iovecs (no copy); flush = `rbd_aio_flush`; deallocate =
 * `rbd_aio_discard` (reads back as zeros: `rbd_skip_partial_discard` is off);
 * WRITE SAME = `rbd_aio_writesame`; COMPARE AND WRITE =
 * `rbd_aio_compare_and_write` (atomic at the OSD, for every client of the
 * image); allocation = `rbd_diff_iterate2`.
 * What it does not do: no SCSI, no splitting (the engine gives ranges of at
 * most `maxIoSize`, checked against the capacity), no retry.
 *
 * Buffer ownership: the pooled read segments are owned by the `BeIo` and
 * pinned by the addon until librbd's completion; a Data-Out view is pinned by
 * the addon until its write completed, which is before `write` resolves.
 */
import { BeIo, freeBeIo, kernDataRef, sgView, type AllocationExtent, type BlockStore, type BufferPool, type ReadPiece } from '@iscsi-target/ctl-block';
import type { RbdImage } from './rbd-image.js';

/** Ranges asked of `rbd_diff_iterate2` at once for GET LBA STATUS (bounded work per call). */
const ALLOCATION_WINDOW = 1024 * 1024 * 1024;

export class RbdStore implements BlockStore {
  readonly #image: RbdImage;
  readonly #pool: BufferPool;

  constructor(image: RbdImage, pool: BufferPool) {
    this.#image = image;
    this.#pool = pool;
  }

  async readPiece(offset: number, length: number): Promise<ReadPiece> {
    const segments = await this.#pool.acquire(this.#pool.segmentsFor(length));
    const beio = new BeIo(this.#pool, segments);
    try {
      const sgList = sgView(segments, 0, length);
      await this.#image.readv(sgList, offset);
      return { sgList, ref: kernDataRef, arg: beio };
    } catch (err) {
      freeBeIo(beio);
      throw err;
    }
  }

  async write(sgList: readonly Buffer[], offset: number): Promise<void> {
    // librbd takes at most IOV_MAX-ish vectors per call from us (the addon caps at 1024).
    for (let i = 0, pos = offset; i < sgList.length; i += 1024) {
      const part = sgList.slice(i, i + 1024);
      await this.#image.writev(part, pos);
      for (const b of part) pos += b.length;
    }
  }

  async flush(): Promise<void> {
    await this.#image.flush();
  }

  async deallocate(offset: number, length: number): Promise<boolean> {
    await this.#image.discard(offset, length);
    return true;
  }

  async writeSame(offset: number, length: number, pattern: Buffer): Promise<void> {
    await this.#image.writesame(offset, length, pattern);
  }

  compareAndWrite(offset: number, compare: Buffer, data: Buffer): Promise<number | null> {
    return this.#image.compareAndWrite(offset, compare, data);
  }

  async allocationAt(offset: number, limit: number): Promise<AllocationExtent> {
    const window = Math.min(limit, ALLOCATION_WINDOW);
    const extents = await this.#image.allocated(offset, window);
    const first = extents[0];
    if (first === undefined) return { mapped: false, length: window };
    const [start, len] = first;
    if (start > offset) return { mapped: false, length: Math.min(start - offset, window) };
    return { mapped: true, length: Math.max(1, Math.min(start + len - offset, window)) };
  }
}
