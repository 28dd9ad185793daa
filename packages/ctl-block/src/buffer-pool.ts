/**
 * A bounded pool of fixed-size Buffer segments for backend data (FreeBSD's
 * block-backend UMA zones). Segments are allocated lazily with
 * `Buffer.allocUnsafeSlow` (never from Node's shared 8 KiB slab, so a
 * segment is its own ArrayBuffer and nothing else lives in it), up to a hard
 * cap on total bytes; when the cap is reached, `acquire` waits in FIFO order
 * until enough segments are released (backpressure instead of unbounded
 * growth). Released segments are kept for reuse; `trim()` hands idle ones
 * back to the garbage collector.
 *
 * It does NOT count references: a segment is either free or lent to exactly
 * one owner, and that owner (normally a `BeIo`, see `beio.ts`) decides when
 * to give it back. It does not zero memory: acquired segments hold stale
 * bytes (or the poison byte), the borrower must overwrite what it exposes.
 *
 * Ownership: `acquire` transfers the returned segments to the caller; the
 * caller must not touch them (nor any view of them) after `release`. With the
 * `poison` debug option every released segment is filled with a marker byte
 * so a use-after-release shows up in tests as corrupted data.
 */
import { PoolReleaseError, PoolRequestTooLargeError, InvalidOptionError } from './errors.js';
import {
  DEFAULT_POISON_BYTE,
  DEFAULT_POOL_MAX_BYTES,
  DEFAULT_SEGMENT_SIZE,
  requirePositiveInteger,
} from './options.js';

export interface BufferPoolOptions {
  /** Bytes per segment (default 128 KiB). */
  segmentSize?: number;
  /** Hard cap on bytes ever allocated at once (default 64 MiB); at least one segment. */
  maxBytes?: number;
  /**
   * Debug: fill every released segment with a marker byte (`true` = 0xdb, or
   * the byte to use) so readers of released memory see garbage. Costs a
   * memset per release; off by default.
   */
  poison?: boolean | number;
}

export interface BufferPoolStats {
  readonly segmentSize: number;
  readonly maxSegments: number;
  /** Segments that exist (lent + idle). */
  readonly allocated: number;
  /** Segments lent out. */
  readonly inUse: number;
  /** Idle segments kept for reuse. */
  readonly free: number;
  /** Segments that could be lent right now without waiting (idle + not yet allocated). */
  readonly available: number;
  /** `acquire` calls waiting for memory. */
  readonly waiters: number;
  /** Highest `inUse` seen. */
  readonly highWater: number;
}

interface Waiter {
  readonly count: number;
  readonly resolve: (segments: Buffer[]) => void;
}

export class BufferPool {
  readonly segmentSize: number;
  readonly maxSegments: number;
  readonly #poison: number | null;
  /** Idle segments; used as a stack so the most recently used (cache-warm) one is lent first. */
  #free: Buffer[] = [];
  /** Lent segments, by identity: catches double and foreign releases. */
  #lent = new Set<Buffer>();
  #allocated = 0;
  #highWater = 0;
  #waiters: Waiter[] = [];

  constructor(options: BufferPoolOptions = {}) {
    this.segmentSize = requirePositiveInteger('segmentSize', options.segmentSize ?? DEFAULT_SEGMENT_SIZE);
    const maxBytes = requirePositiveInteger('maxBytes', options.maxBytes ?? DEFAULT_POOL_MAX_BYTES);
    this.maxSegments = Math.floor(maxBytes / this.segmentSize);
    if (this.maxSegments < 1) {
      throw new InvalidOptionError(`maxBytes (${maxBytes}) is smaller than one segment (${this.segmentSize})`);
    }
    const poison = options.poison ?? false;
    if (poison === false) this.#poison = null;
    else if (poison === true) this.#poison = DEFAULT_POISON_BYTE;
    else if (Number.isInteger(poison) && poison >= 0 && poison <= 255) this.#poison = poison;
    else throw new InvalidOptionError(`poison must be a boolean or a byte value, got ${String(poison)}`);
  }

  /** Number of segments needed to hold `byteLength` bytes. */
  segmentsFor(byteLength: number): number {
    return Math.ceil(byteLength / this.segmentSize);
  }

  /** Largest byte count one `acquire` can ever satisfy. */
  get maxBytes(): number {
    return this.maxSegments * this.segmentSize;
  }

  /**
   * Lends `count` segments if that is possible right now without overtaking
   * a waiter; otherwise returns null. The caller owns the segments until it
   * passes them to `release`.
   */
  tryAcquire(count: number): Buffer[] | null {
    this.#checkCount(count);
    if (this.#waiters.length > 0 || !this.#fits(count)) return null;
    return this.#grant(count);
  }

  /**
   * Lends `count` segments, waiting (FIFO, so a large request is not starved
   * by small ones) while the pool is at its cap. Rejects with
   * `PoolRequestTooLargeError` if `count` exceeds `maxSegments`: such a
   * request could never be served.
   */
  acquire(count: number): Promise<Buffer[]> {
    // The executor runs synchronously; a throw from #checkCount rejects.
    return new Promise((resolve) => {
      this.#checkCount(count);
      if (this.#waiters.length === 0 && this.#fits(count)) resolve(this.#grant(count));
      else this.#waiters.push({ count, resolve });
    });
  }

  /**
   * Takes back segments lent by this pool. Every element must be a segment
   * itself (not a view of one) that is currently lent; otherwise nothing is
   * released and `PoolReleaseError` is thrown. Wakes waiters that now fit.
   */
  release(segments: readonly Buffer[]): void {
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i] as Buffer;
      if (!this.#lent.delete(seg)) {
        for (let j = 0; j < i; j++) this.#lent.add(segments[j] as Buffer);
        throw new PoolReleaseError(
          'released a buffer that this pool did not lend or that was already released (pass the segments, not views)',
        );
      }
    }
    for (const seg of segments) {
      if (this.#poison !== null) seg.fill(this.#poison);
      this.#free.push(seg);
    }
    this.#serveWaiters();
  }

  /** Drops idle segments so the garbage collector can reclaim them; returns how many. */
  trim(): number {
    const n = this.#free.length;
    this.#free = [];
    this.#allocated -= n;
    return n;
  }

  get stats(): BufferPoolStats {
    return {
      segmentSize: this.segmentSize,
      maxSegments: this.maxSegments,
      allocated: this.#allocated,
      inUse: this.#lent.size,
      free: this.#free.length,
      available: this.#available(),
      waiters: this.#waiters.length,
      highWater: this.#highWater,
    };
  }

  #checkCount(count: number): void {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new InvalidOptionError(`segment count must be a non-negative integer, got ${String(count)}`);
    }
    if (count > this.maxSegments) throw new PoolRequestTooLargeError(count, this.maxSegments);
  }

  #available(): number {
    return this.#free.length + (this.maxSegments - this.#allocated);
  }

  #fits(count: number): boolean {
    return count <= this.#available();
  }

  /** Precondition: `#fits(count)`. */
  #grant(count: number): Buffer[] {
    const out = new Array<Buffer>(count);
    for (let i = 0; i < count; i++) {
      let seg = this.#free.pop();
      if (seg === undefined) {
        seg = Buffer.allocUnsafeSlow(this.segmentSize);
        this.#allocated++;
      }
      this.#lent.add(seg);
      out[i] = seg;
    }
    if (this.#lent.size > this.#highWater) this.#highWater = this.#lent.size;
    return out;
  }

  #serveWaiters(): void {
    while (this.#waiters.length > 0) {
      const head = this.#waiters[0] as Waiter;
      if (!this.#fits(head.count)) return;
      this.#waiters.shift();
      head.resolve(this.#grant(head.count));
    }
  }
}

let defaultPool: BufferPool | null = null;

/**
 * The process-wide pool shared by LUNs that are given none (like FreeBSD's
 * backend-global zones): created on first use with the default options.
 */
export function defaultBufferPool(): BufferPool {
  defaultPool ??= new BufferPool();
  return defaultPool;
}
