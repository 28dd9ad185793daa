/**
 * `Ring`: one io_uring (owned by the native addon) seen from JavaScript.
 *
 * What it does: every operation gets a numeric id (the SQE's user_data) and
 * a handler; the handler is called once per CQE of that operation (several
 * for multishot requests and for SEND_ZC), and the operation is forgotten at
 * its **final** CQE (the first one without IORING_CQE_F_MORE). Submissions
 * are batched: `prep*` only fills SQEs; one `io_uring_enter` per event-loop
 * turn submits them all (a `setImmediate` flush, or the SQ filling up).
 * Completions arrive through the addon's eventfd (watched by libuv) in
 * batches. The ring keeps the event loop alive only while operations are in
 * flight.
 *
 * What it does not do: no policy about sockets or files (see `nic-uring.ts`,
 * `uring-file.ts`), no retry of short reads/writes.
 *
 * Buffer ownership (the rule for every method that takes Buffers): the
 * kernel may read or write the Buffers of an operation from the call until
 * that operation's final CQE; the Ring keeps a reference to each of them
 * (so the GC cannot free memory under I/O) until then, and the caller must
 * neither write (for sends/writes) nor read (for reads) them before it. For
 * a zero-copy send the final CQE is the notification (IORING_CQE_F_NOTIF),
 * not the send CQE. Provided buffers (`registerBufferGroup`) are the
 * caller's; the kernel owns each from `provideBuffer` until a recv CQE
 * names its buffer id.
 */
import { errnoName, nativeBinding, uringUnavailable, type NativeBinding } from './native.js';

/** CQE flags (linux/io_uring.h). */
export const CqeFlag = {
  Buffer: 1 << 0, // IORING_CQE_F_BUFFER: upper 16 bits are the buffer id
  More: 1 << 1, // IORING_CQE_F_MORE: more CQEs will follow for this SQE
  SockNonempty: 1 << 2, // IORING_CQE_F_SOCK_NONEMPTY
  Notif: 1 << 3, // IORING_CQE_F_NOTIF: the zero-copy notification
} as const;

/** In a SEND_ZC notification's `res` (with IORING_SEND_ZC_REPORT_USAGE): the kernel copied the bytes. */
export const NOTIF_USAGE_ZC_COPIED = 1 << 31;

/** fallocate(2) modes. */
export const FallocMode = {
  KeepSize: 0x01, // FALLOC_FL_KEEP_SIZE
  PunchHole: 0x02, // FALLOC_FL_PUNCH_HOLE
} as const;

/** Called for every CQE of an operation: `res` (bytes, fd, or -errno) and the CQE flags. */
export type CqeHandler = (res: number, flags: number) => void;

interface Op {
  readonly handler: CqeHandler;
  /** Buffers the kernel may touch until the final CQE: referenced here so they stay alive. */
  readonly pins: unknown;
}

export interface RingOptions {
  /** Submission queue entries (the CQ gets 4×). Default 256. */
  entries?: number;
}

/** Counters for metrics. */
export interface RingStats {
  /** `io_uring_enter` calls made to submit. */
  enters: number;
  /** SQEs submitted. */
  submitted: number;
  completions: number;
  inflight: number;
}

/** An errno-style error for a negative CQE result. */
export class UringError extends Error {
  override readonly name = 'UringError';
  readonly code: string;
  readonly errno: number;
  constructor(what: string, errno: number) {
    super(`${what}: ${errnoName(errno)}`);
    this.errno = errno;
    this.code = errnoName(errno);
  }
}

const CQE_BATCH = 512;

export class Ring {
  readonly #b: NativeBinding;
  readonly #h: unknown;
  readonly #view = new Int32Array(CQE_BATCH * 3);
  readonly #ops = new Map<number, Op>();
  readonly #groups = new Map<number, (bid: number) => void>();
  #nextId = 1;
  #flushScheduled = false;
  #closed = false;
  #idleWaiters: (() => void)[] = [];
  readonly #flushNow = (): void => {
    this.#flushScheduled = false;
    if (!this.#closed) this.#b.flush(this.#h);
  };

  /** Throws if io_uring is unavailable (see `uringUnavailable()`). */
  constructor(options: RingOptions = {}) {
    const why = uringUnavailable();
    if (why !== null) throw new Error(why);
    this.#b = nativeBinding()!;
    this.#h = this.#b.create(options.entries ?? 256, this.#view, (n) => this.#onCqes(n));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Operations whose final CQE has not arrived. */
  get inflight(): number {
    return this.#ops.size;
  }

  stats(): RingStats {
    if (this.#closed) return { enters: 0, submitted: 0, completions: 0, inflight: 0 };
    const s = this.#b.stats(this.#h);
    return { enters: s.enters, submitted: s.submitted, completions: s.completions, inflight: s.inflight };
  }

  #onCqes(n: number): void {
    const v = this.#view;
    for (let i = 0; i < n; i++) {
      const id = v[3 * i]!;
      const res = v[3 * i + 1]!;
      const flags = v[3 * i + 2]!;
      if (id === -1) {
        // A provided buffer given back by the GC (res = group, flags = buffer id).
        this.#groups.get(res)?.(flags);
        continue;
      }
      const op = this.#ops.get(id);
      if (op === undefined) continue;
      if ((flags & CqeFlag.More) === 0) this.#ops.delete(id);
      try {
        op.handler(res, flags);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    if (this.#ops.size === 0 && this.#idleWaiters.length !== 0) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  #op(handler: CqeHandler, pins: unknown): number {
    if (this.#closed) throw new UringError('ring closed', 9 /* EBADF */);
    let id = this.#nextId;
    while (this.#ops.has(id)) id = id >= 0x7fffffff ? 1 : id + 1;
    this.#nextId = id >= 0x7fffffff ? 1 : id + 1;
    this.#ops.set(id, { handler, pins });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flushNow);
    }
    return id;
  }

  /** Wraps a prep call: if it throws, the op is forgotten. */
  #prep(handler: CqeHandler, pins: unknown, prep: (id: number) => void): number {
    const id = this.#op(handler, pins);
    try {
      prep(id);
    } catch (err) {
      this.#ops.delete(id);
      throw err;
    }
    return id;
  }

  #promise(what: string, prep: (id: number) => void, pins: unknown): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#prep((res) => (res < 0 ? reject(new UringError(what, -res)) : resolve(res)), pins, prep);
    });
  }

  /** Submits what is prepared now instead of at the end of this turn. */
  flush(): void {
    if (!this.#closed) this.#b.flush(this.#h);
  }

  // ---- files ----

  /** preadv(2) into `bufs`; resolves with the bytes read. Kernel writes `bufs` until the promise settles. */
  readv(fd: number, bufs: readonly Buffer[], position: number): Promise<number> {
    return this.#promise('readv', (id) => this.#b.prepReadv(this.#h, id, fd, bufs, position), bufs);
  }

  /** pwritev(2) of `bufs`; resolves with the bytes written (may be short). Kernel reads `bufs` until it settles. */
  writev(fd: number, bufs: readonly Buffer[], position: number): Promise<number> {
    return this.#promise('writev', (id) => this.#b.prepWritev(this.#h, id, fd, bufs, position), bufs);
  }

  /** fsync(2), or fdatasync(2) with `datasync`. */
  async fsync(fd: number, datasync = false): Promise<void> {
    await this.#promise(datasync ? 'fdatasync' : 'fsync', (id) => this.#b.prepFsync(this.#h, id, fd, datasync), null);
  }

  /** fallocate(2); see `FallocMode`. */
  async fallocate(fd: number, mode: number, offset: number, length: number): Promise<void> {
    await this.#promise('fallocate', (id) => this.#b.prepFallocate(this.#h, id, fd, mode, offset, length), null);
  }

  /** close(2) through the ring. */
  async closeFd(fd: number): Promise<void> {
    await this.#promise('close', (id) => this.#b.prepClose(this.#h, id, fd), null);
  }

  /** shutdown(fd, SHUT_WR): sends FIN after what is queued. */
  async shutdown(fd: number): Promise<void> {
    await this.#promise('shutdown', (id) => this.#b.prepShutdown(this.#h, id, fd), null);
  }

  // ---- sockets (handler-based: several CQEs per operation) ----

  /**
   * Multishot accept on listening socket `fd`: `handler(fd, flags)` per
   * accepted connection (non-blocking, close-on-exec), `res < 0` on error;
   * ends when a CQE has no IORING_CQE_F_MORE. No Buffers involved.
   */
  acceptMultishot(fd: number, handler: CqeHandler): number {
    return this.#prep(handler, null, (id) => this.#b.prepAccept(this.#h, id, fd, true));
  }

  /**
   * Multishot recv on `fd` into buffers selected from group `bgid`:
   * `handler(bytes, flags)` per CQE; the buffer id is `flags >>> 16` when
   * IORING_CQE_F_BUFFER is set, and from then on that buffer is the
   * caller's again. `res === 0` is EOF; `-ENOBUFS` means the group ran dry
   * (the request ended: re-arm after providing buffers).
   */
  recvMultishot(fd: number, bgid: number, handler: CqeHandler): number {
    return this.#prep(handler, null, (id) => this.#b.prepRecvMultishot(this.#h, id, fd, bgid));
  }

  /**
   * sendmsg(2) of `bufs` (MSG_NOSIGNAL | MSG_WAITALL), or with `zeroCopy`
   * IORING_OP_SENDMSG_ZC with IORING_SEND_ZC_REPORT_USAGE. `handler` gets
   * the send CQE (bytes or -errno; with IORING_CQE_F_MORE when zero-copy)
   * and, for zero-copy, then the notification CQE (IORING_CQE_F_NOTIF; `res
   * & NOTIF_USAGE_ZC_COPIED` when the kernel copied). The kernel reads
   * `bufs` until the final CQE — for zero-copy the notification — and the
   * Ring pins them until then.
   */
  sendmsg(fd: number, bufs: readonly Buffer[], zeroCopy: boolean, handler: CqeHandler): number {
    return this.#prep(handler, bufs, (id) => this.#b.prepSendmsg(this.#h, id, fd, bufs, zeroCopy));
  }

  /** send(2) of one Buffer (or IORING_OP_SEND_ZC); same completion and pinning rules as `sendmsg`. */
  send(fd: number, buf: Buffer, zeroCopy: boolean, handler: CqeHandler): number {
    return this.#prep(handler, buf, (id) => this.#b.prepSend(this.#h, id, fd, buf, zeroCopy));
  }

  /** Asks the kernel to cancel operation `target` (its handler then gets -ECANCELED or its last CQE). */
  cancel(target: number): void {
    if (this.#closed || !this.#ops.has(target)) return;
    this.#prep(() => {}, null, (id) => this.#b.prepCancel(this.#h, id, target));
  }

  // ---- provided buffers ----

  /**
   * Registers provided-buffer group `bgid` with room for `entries` (a power
   * of two) buffers; `onReturned(bid)` is called when the GC has collected
   * the last view created by `alias` for buffer `bid` of this group.
   */
  registerBufferGroup(bgid: number, entries: number, onReturned: (bid: number) => void): void {
    this.#b.bufRingRegister(this.#h, bgid, entries);
    this.#groups.set(bgid, onReturned);
  }

  /** Unregisters a group; only once no recv request selects from it. */
  unregisterBufferGroup(bgid: number): void {
    if (this.#closed) return;
    this.#b.bufRingUnregister(this.#h, bgid);
  }

  /**
   * Stops reporting returns for `bgid` to its `onReturned` (for a group
   * whose buffers the caller tracks elsewhere after it is gone).
   */
  setBufferReturnHandler(bgid: number, onReturned: ((bid: number) => void) | null): void {
    if (onReturned === null) this.#groups.delete(bgid);
    else this.#groups.set(bgid, onReturned);
  }

  /**
   * Provides `buf` as buffer `bid` of group `bgid`: the kernel may write
   * into it from now until a recv CQE names `bid`. The caller owns `buf`
   * and must keep it reachable (a pool does).
   */
  provideBuffer(bgid: number, buf: Buffer, bid: number): void {
    this.#b.bufRingAdd(this.#h, bgid, buf, bid);
  }

  /**
   * A Buffer over `backing[0, length)` without a copy. When the GC has
   * collected it and every view of it, `onReturned(bid)` of group `bgid`
   * runs; until then it keeps `backing` alive.
   */
  alias(backing: Buffer, length: number, bgid: number, bid: number): Buffer {
    return this.#b.alias(this.#h, backing, length, bgid, bid);
  }

  // ---- lifetime ----

  /** Resolves once no operation is in flight. */
  whenIdle(): Promise<void> {
    if (this.#ops.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Cancels everything in flight, waits for every final CQE (so no Buffer
   * is still under I/O), then tears the ring down.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#ops.size !== 0) {
      for (const id of [...this.#ops.keys()]) this.cancel(id);
      this.flush();
      await this.whenIdle();
    }
    this.#closed = true;
    this.#b.close(this.#h);
  }
}

let shared: Ring | null = null;

/** The process's shared ring (created on first use); throws when io_uring is unavailable. */
export function sharedRing(): Ring {
  if (shared === null || shared.closed) shared = new Ring({ entries: 512 });
  return shared;
}

/** The shared ring's counters, or null if it was never created (does not create it). */
export function sharedRingStats(): RingStats | null {
  return shared === null || shared.closed ? null : shared.stats();
}

export { uringUnavailable };
