/**
 * The per-piece backend I/O object (FreeBSD `struct ctl_be_block_io`,
 * "beio"): the pooled segments holding one datamove piece, and a reference
 * count on them. It is the `kernDataArg` a backend hands to the frontend, and
 * `kernDataRef` is its reference-count function.
 *
 * The count starts at 1 (the backend's own reference). The frontend takes
 * one reference per Data-In PDU it queues without copying and drops it in
 * that PDU's completion; the backend drops its reference when the datamove
 * of the piece is done. When the count reaches zero the segments go back to
 * the pool. Completions may arrive long after the command, the session or the
 * LUN are gone (FreeBSD saw `ixl(4)` hold transmit buffers for hours), so a
 * beio references ONLY the segments and the pool — never the `ScsiIo`, the
 * LUN or a session — and `kernDataRef` is a module-level function, not a
 * closure over any of them.
 *
 * It does not read or write storage, and does not know which part of the
 * segments holds data: that is the backend's business.
 */
import type { BufferPool } from './buffer-pool.js';
import { RefCountError } from './errors.js';

let adjustRefcnt: (beio: BeIo, diff: number) => void;

export class BeIo {
  #pool: BufferPool | null;
  #segments: Buffer[];
  #refcnt = 1;

  /**
   * Takes ownership of `segments` (as lent by `pool.acquire`), with one
   * reference held by the caller.
   */
  constructor(pool: BufferPool, segments: Buffer[]) {
    this.#pool = pool;
    this.#segments = segments;
  }

  /** Current reference count (0 once the segments went back to the pool). */
  get refcnt(): number {
    return this.#refcnt;
  }

  /**
   * The pooled segments (full size; the data of the piece may end inside the
   * last one). Empty after the count reached zero. Valid only while the
   * caller holds a reference.
   */
  get segments(): readonly Buffer[] {
    return this.#segments;
  }

  static {
    // FreeBSD `ctl_refcnt_beio`: the only code that changes the count.
    adjustRefcnt = (beio: BeIo, diff: number): void => {
      if (!Number.isInteger(diff)) throw new RefCountError(`kernDataRef diff must be an integer, got ${diff}`);
      if (beio.#refcnt === 0) {
        throw new RefCountError('kernDataRef on a beio whose buffers were already returned to the pool');
      }
      const next = beio.#refcnt + diff;
      if (next < 0) throw new RefCountError(`kernDataRef would make the count negative (${beio.#refcnt} ${diff})`);
      beio.#refcnt = next;
      if (next === 0) {
        const pool = beio.#pool as BufferPool;
        const segments = beio.#segments;
        beio.#pool = null;
        beio.#segments = [];
        pool.release(segments);
      }
    };
  }
}

/**
 * `ScsiIo.kernDataRef` of the block backends: adds `diff` (+1 / −1) to the
 * reference count of the beio passed as `arg` (`ScsiIo.kernDataArg`); the
 * segments return to their pool when it reaches zero. Throws `RefCountError`
 * if `arg` is not a beio, if the count would go negative, or if the beio was
 * already released.
 */
export function kernDataRef(arg: unknown, diff: number): void {
  if (!(arg instanceof BeIo)) throw new RefCountError('kernDataRef: kernDataArg is not a block backend beio');
  adjustRefcnt(arg, diff);
}

/** Drops the backend's own reference (FreeBSD `ctl_free_beio`). */
export function freeBeIo(beio: BeIo): void {
  adjustRefcnt(beio, -1);
}
