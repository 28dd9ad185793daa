/**
 * The receive buffer pool of the `uring` NIC driver: JS-owned Buffers of one
 * size, recycled, with a cap; and per connection a provided-buffer group
 * (`RecvGroup`) that lends some of them to the kernel.
 *
 * What it does: `RecvBufferPool.acquire()` gives a free Buffer (allocating
 * only while fewer than `maxBuffers` exist), `release()` takes it back; a
 * `RecvGroup` registers a provided-buffer ring of its own (group id from the
 * pool), provides up to `perConnection` pool Buffers to the kernel and, for
 * each recv CQE, wraps the received bytes as a view (`Ring.alias`) that the
 * ICL user owns. When the GC has collected the last view of a buffer the
 * addon reports it and the group provides it to the kernel again — or, once
 * the group is closed, gives it back to the pool. A connection whose
 * Buffers are all held by views gets -ENOBUFS: its recv stops until one
 * comes back (backpressure at the cap, never more memory). While a group
 * waits for returns it nudges the GC (a minor collection after a few
 * milliseconds, a full one if that did not help; at most every 100 ms),
 * because an idle process might not collect the views it has already dropped.
 *
 * What it does not do: no copying of reads of `copyBelow` (4 KiB) or more,
 * no per-read allocation of their memory (a view is a small external Buffer
 * object; its memory is the pool's). Shorter reads are copied out into a
 * fresh Buffer and the pool buffer goes back to the kernel at once.
 *
 * Buffer ownership: the pool owns every Buffer it allocated. A Buffer the
 * group provided belongs to the kernel from `provideBuffer` until a recv CQE
 * names its id; then to the views made from it until the GC collects the
 * last one; then to the pool again. Nothing here writes into a Buffer while
 * a view of it may be alive.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Ring } from './ring.js';

export interface RecvPoolOptions {
  /** Bytes per Buffer (one recv CQE fills at most one). Default 64 KiB. */
  bufferSize?: number;
  /** Most Buffers the pool allocates, over all connections. Default 1024 (64 MiB at 64 KiB). */
  maxBuffers?: number;
  /** Reads shorter than this are copied out and the buffer re-provided at once. Default 4096. */
  copyBelow?: number;
  /** Most Buffers one connection holds (in the kernel or in views). Default 128 (8 MiB at 64 KiB). */
  perConnection?: number;
}

export interface RecvPoolStats {
  bufferSize: number;
  /** Buffers allocated so far (never more than `cap`); flat once warm. */
  allocated: number;
  /** Buffers lent to a connection (in the kernel or held by views). */
  inUse: number;
  /** `maxBuffers`. */
  cap: number;
  /** Buffers currently held by views the ICL user has not let go of. */
  inViews: number;
  /** GC nudges made because a connection waited for its buffers. */
  gcNudges: number;
  /** Bytes of reads shorter than `copyBelow`, copied out of the pool. */
  smallCopiedBytes: number;
}

/** Provided-buffer group ids available to connections (the addon allows 0..4095; 0..15 are left to other users). */
const FIRST_BGID = 16;
const LAST_BGID = 4095;

/**
 * Group ids are the ring's, not a pool's: two pools on one ring must never
 * hand out the same id (a late GC return for one would re-provide the
 * other's buffer under a live view).
 */
const bgidsByRing = new WeakMap<Ring, { free: number[]; next: number }>();

function takeBgid(ring: Ring): number | null {
  let a = bgidsByRing.get(ring);
  if (a === undefined) bgidsByRing.set(ring, (a = { free: [], next: FIRST_BGID }));
  const id = a.free.pop();
  if (id !== undefined) return id;
  if (a.next > LAST_BGID) return null;
  return a.next++;
}

function giveBgid(ring: Ring, id: number): void {
  bgidsByRing.get(ring)?.free.push(id);
}

type GcFn = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;
let gcFn: GcFn | null | undefined;

/** The `gc()` function (from `--expose-gc`, or obtained once at run time), or null. */
function collector(): GcFn | null {
  if (gcFn !== undefined) return gcFn;
  const g = (globalThis as { gc?: GcFn }).gc;
  if (typeof g === 'function') return (gcFn = g);
  try {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as GcFn;
  } catch {
    gcFn = null;
  }
  return gcFn;
}

/** The pool: Buffers of `bufferSize`, at most `maxBuffers`, recycled. */
export class RecvBufferPool {
  readonly bufferSize: number;
  readonly maxBuffers: number;
  readonly perConnection: number;
  readonly copyBelow: number;
  #smallCopiedBytes = 0;
  readonly #free: Buffer[] = [];
  #allocated = 0;
  #inViews = 0;
  #gcNudges = 0;
  /** Groups waiting for a free pool Buffer (the pool was at its cap). */
  readonly #waiting = new Set<RecvGroup>();

  constructor(options: RecvPoolOptions = {}) {
    this.bufferSize = options.bufferSize ?? 64 * 1024;
    this.maxBuffers = options.maxBuffers ?? 1024;
    this.copyBelow = options.copyBelow ?? 4096;
    this.perConnection = Math.min(options.perConnection ?? 128, this.maxBuffers);
    if (!(this.perConnection >= 1 && this.perConnection <= 0x8000)) throw new RangeError('perConnection must be 1..32768');
  }

  stats(): RecvPoolStats {
    return {
      bufferSize: this.bufferSize,
      allocated: this.#allocated,
      inUse: this.#allocated - this.#free.length,
      cap: this.maxBuffers,
      inViews: this.#inViews,
      gcNudges: this.#gcNudges,
      smallCopiedBytes: this.#smallCopiedBytes,
    };
  }

  /** A free Buffer, or null at the cap. */
  acquire(): Buffer | null {
    const b = this.#free.pop();
    if (b !== undefined) return b;
    if (this.#allocated >= this.maxBuffers) return null;
    this.#allocated++;
    return Buffer.allocUnsafeSlow(this.bufferSize);
  }

  /** Takes `buf` back (no view of it may be alive, the kernel must not hold it). */
  release(buf: Buffer): void {
    this.#free.push(buf);
    for (const g of this.#waiting) {
      this.#waiting.delete(g);
      g.refill();
      if (this.#free.length === 0) break;
    }
  }

  /** @internal */
  waitFor(g: RecvGroup): void {
    this.#waiting.add(g);
  }

  /** @internal */
  stopWaiting(g: RecvGroup): void {
    this.#waiting.delete(g);
  }

  /** @internal */
  smallCopied(bytes: number): void {
    this.#smallCopiedBytes += bytes;
  }

  /** @internal */
  viewTaken(delta: number): void {
    this.#inViews += delta;
  }

  /** @internal a GC nudge (minor first, then major). */
  nudge(major: boolean): void {
    const gc = collector();
    if (gc === null) return;
    this.#gcNudges++;
    gc({ type: major ? 'major' : 'minor', execution: 'sync' });
  }
}

/**
 * One connection's provided-buffer group. `onAvailable` is called when a
 * buffer went back to the kernel while the connection's recv was stopped
 * for lack of buffers (so it can re-arm).
 */
export class RecvGroup {
  readonly bgid: number;
  readonly #ring: Ring;
  readonly #pool: RecvBufferPool;
  /** bid → its pool Buffer. */
  readonly #bufs: (Buffer | undefined)[] = [];
  /** bid → where the buffer is. */
  readonly #where: ('kernel' | 'view' | 'none')[] = [];
  #inKernel = 0;
  #inViews = 0;
  #closed = false;
  #finished = false;
  #onAvailable: () => void;
  #starved = false;
  #nudgeTimer: NodeJS.Timeout | null = null;
  #nudges = 0;

  /** Throws when no group id is left (4080 connections at once). */
  constructor(ring: Ring, pool: RecvBufferPool, onAvailable: () => void) {
    const bgid = takeBgid(ring);
    if (bgid === null) throw new Error('no provided-buffer group id left');
    this.bgid = bgid;
    this.#ring = ring;
    this.#pool = pool;
    this.#onAvailable = onAvailable;
    let entries = 1;
    while (entries < pool.perConnection) entries *= 2;
    try {
      ring.registerBufferGroup(bgid, entries, (bid) => this.#returned(bid));
    } catch (err) {
      giveBgid(ring, bgid);
      throw err;
    }
    this.refill();
  }

  /** Buffers provided to the kernel now. */
  get inKernel(): number {
    return this.#inKernel;
  }

  /** Buffers held by views. */
  get inViews(): number {
    return this.#inViews;
  }

  /** Tops the group up to `perConnection` Buffers from the pool. */
  refill(): void {
    if (this.#closed) return;
    while (this.#bufs.length < this.#pool.perConnection) {
      const b = this.#pool.acquire();
      if (b === null) {
        this.#pool.waitFor(this);
        break;
      }
      const bid = this.#bufs.length;
      this.#bufs.push(b);
      this.#where.push('none');
      this.#provide(bid);
    }
  }

  #provide(bid: number): void {
    this.#ring.provideBuffer(this.bgid, this.#bufs[bid]!, bid);
    this.#where[bid] = 'kernel';
    this.#inKernel++;
    if (this.#starved) {
      this.#starved = false;
      this.#stopNudging();
      this.#onAvailable();
    }
  }

  /**
   * A recv CQE named `bid` with `length` bytes: the received bytes as a view
   * the caller owns (length 0: the buffer goes straight back, null returned).
   */
  take(bid: number, length: number): Buffer | null {
    const buf = this.#bufs[bid];
    if (buf === undefined || this.#where[bid] !== 'kernel') throw new Error(`recv named buffer ${bid} the kernel did not hold`);
    this.#inKernel--;
    if (length <= 0) {
      this.#where[bid] = 'none';
      this.#giveBack(bid);
      return null;
    }
    if (length < this.#pool.copyBelow) {
      // A small read (a BHS, a segment of a fragmented PDU): copied out so the
      // 64 KiB buffer goes straight back to the kernel instead of being held
      // by a few bytes until the GC — a peer sending tiny segments would
      // otherwise exhaust the group with buffers that are almost empty.
      const small = Buffer.allocUnsafe(length);
      buf.copy(small, 0, 0, length);
      this.#where[bid] = 'none';
      this.#pool.smallCopied(length);
      this.#giveBack(bid);
      return small;
    }
    this.#where[bid] = 'view';
    this.#inViews++;
    this.#pool.viewTaken(1);
    return this.#ring.alias(buf, length, this.bgid, bid);
  }

  /** The recv stopped with -ENOBUFS: every buffer is in a view. Waits (and nudges the GC). */
  starved(): void {
    if (this.#closed) return;
    if (this.#inKernel > 0) {
      // Buffers came back between the kernel running dry and this CQE: re-arm now.
      queueMicrotask(() => this.#onAvailable());
      return;
    }
    this.#starved = true;
    this.#nudges = 0;
    this.#scheduleNudge();
  }

  #scheduleNudge(): void {
    if (this.#nudgeTimer !== null || this.#closed || !this.#starved) return;
    const delay = Math.min(100, 2 << Math.min(this.#nudges, 6));
    this.#nudgeTimer = setTimeout(() => {
      this.#nudgeTimer = null;
      if (!this.#starved || this.#closed) return;
      this.#pool.nudge(this.#nudges >= 2);
      this.#nudges++;
      this.#scheduleNudge();
    }, delay);
    this.#nudgeTimer.unref();
  }

  #stopNudging(): void {
    if (this.#nudgeTimer !== null) clearTimeout(this.#nudgeTimer);
    this.#nudgeTimer = null;
  }

  #returned(bid: number): void {
    if (this.#where[bid] !== 'view') return;
    this.#inViews--;
    this.#pool.viewTaken(-1);
    this.#where[bid] = 'none';
    this.#giveBack(bid);
  }

  #giveBack(bid: number): void {
    if (!this.#closed) {
      this.#provide(bid);
      return;
    }
    this.#pool.release(this.#bufs[bid]!);
    this.#bufs[bid] = undefined;
    this.#maybeFinish();
  }

  /**
   * The connection is done and no recv request selects from the group any
   * more: unregisters it, gives the kernel-held Buffers back to the pool at
   * once and the view-held ones when the GC returns them.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopNudging();
    this.#pool.stopWaiting(this);
    this.#ring.unregisterBufferGroup(this.bgid);
    for (let bid = 0; bid < this.#bufs.length; bid++) {
      if (this.#where[bid] === 'kernel' || this.#where[bid] === 'none') {
        if (this.#where[bid] === 'kernel') this.#inKernel--;
        this.#where[bid] = 'none';
        this.#pool.release(this.#bufs[bid]!);
        this.#bufs[bid] = undefined;
      }
    }
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (!this.#closed || this.#inViews !== 0 || this.#finished) return;
    this.#finished = true;
    this.#ring.setBufferReturnHandler(this.bgid, null);
    giveBgid(this.#ring, this.bgid);
    this.#onAvailable = () => {};
  }
}
