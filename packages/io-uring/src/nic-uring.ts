/**
 * The `uring` NIC driver: TCP sockets driven through io_uring (the
 * process's shared `Ring`): multishot accept, multishot recv into a
 * provided-buffer group from a recycled, capped pool (`recv-pool.ts`),
 * sendmsg — zero-copy (SENDMSG_ZC with usage reporting) above an opt-in threshold.
 *
 * What it does: one send SQE in flight per connection (io_uring does not
 * order two sends on a socket); sends queued meanwhile are coalesced into
 * the next sendmsg (at most 256 iovecs). A zero-copy send's `done` fires on
 * its notification CQE, never on the send CQE: until then the kernel may
 * still read the pages. When a notification says the kernel copied anyway
 * (IORING_NOTIF_USAGE_ZC_COPIED: loopback and other local delivery always
 * do) the bytes are counted and the connection switches to plain sendmsg.
 * Receive pause holds received views in JS; the kernel keeps filling only
 * the connection's own buffers, so a flooding or paused peer is stopped at
 * the per-connection cap. Close: flush, shutdown(SHUT_WR), read until the
 * peer's FIN (or a timeout), close the fd.
 *
 * What it does not do: no TLS, no framing, no socket options but
 * TCP_NODELAY; `connect` is a blocking connect (for tests and initiators on
 * loopback); listening on `::` is IPv6-only (IPV6_V6ONLY).
 *
 * Buffer ownership (NicConn in icl-core nic.ts): `send(bufs, done)` — the
 * Ring pins `bufs` from the sendmsg SQE until its final CQE (the
 * notification when zero-copy); `done` is called only then. `data(buf)` —
 * `buf` is a view of a pool Buffer; the ICL user owns it and the pool gets
 * the memory back when the GC has collected the last view.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { NicConn, NicDriver, NicHandlers, NicListener, NicListenOptions } from '@iscsi-target/icl-core/kpi';
import { NicClosedError, type NicDriverDescriptor } from '@iscsi-target/icl-offload-kpi';
import { nativeBinding, uringUnavailable } from './native.js';
import { CqeFlag, NOTIF_USAGE_ZC_COPIED, UringError, sharedRing, type Ring } from './ring.js';
import { RecvBufferPool, RecvGroup, type RecvPoolOptions } from './recv-pool.js';

const ENOBUFS = 105;
const ECANCELED = 125;
const MAX_IOV = 256;

export interface UringNicOptions {
  /**
   * Bytes at or above which a send goes zero-copy (until the kernel reports
   * a copy). Default Infinity (never): on loopback the kernel always copies,
   * so no threshold could be measured here, and a zero-copy send to a peer
   * that stops reading is only released (its `done`) when the peer reads or
   * closes — which the NIC kit's destroy test does not allow. Opt in with a
   * number (e.g. 32 KiB) on a real NIC.
   */
  zeroCopyThreshold?: number;
  /** As the `tcp` driver's: `send` returns false above this many queued bytes. Default 4 MiB. */
  sendHighWater?: number;
  /** After `close()`, give up waiting for the peer's FIN after this many ms. Default 10 000. */
  closeTimeoutMs?: number;
  /** The receive pool (default: one shared by every connection of the driver). */
  pool?: RecvBufferPool | RecvPoolOptions;
  /** The ring (default `sharedRing()`). */
  ring?: Ring;
}

/** Counters of the driver (metrics). */
export interface UringNicStats {
  /** Bytes sent with SENDMSG_ZC whose notification said the pages were sent from (no copy). */
  zeroCopyBytes: number;
  /** Bytes sent with SENDMSG_ZC that the kernel copied anyway (IORING_NOTIF_USAGE_ZC_COPIED). */
  kernelCopiedBytes: number;
  /** Bytes sent with plain sendmsg. */
  plainBytes: number;
  /** sendmsg SQEs. */
  sends: number;
  connections: number;
}

type SendDone = (err: Error | null) => void;

interface PendingSend {
  readonly bufs: readonly Buffer[];
  readonly bytes: number;
  readonly done: SendDone;
  fired: boolean;
}

const stats: UringNicStats = { zeroCopyBytes: 0, kernelCopiedBytes: 0, plainBytes: 0, sends: 0, connections: 0 };

/** The process-wide counters of every `uring` NIC connection. */
export function uringNicStats(): Readonly<UringNicStats> {
  return stats;
}

export class UringNicConn implements NicConn {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;

  readonly #fd: number;
  readonly #ring: Ring;
  readonly #group: RecvGroup;
  readonly #threshold: number;
  readonly #highWater: number;
  readonly #closeTimeoutMs: number;
  #zeroCopy: boolean;
  #handlers: NicHandlers | null = null;
  #state: 'open' | 'ending' | 'closed' = 'open';
  #error: Error | null = null;
  #closeDelivered = false;
  #closeTimer: NodeJS.Timeout | null = null;
  #shutdownSent = false;
  // send side
  readonly #queue: PendingSend[] = [];
  #sendId: number | null = null;
  #pumpScheduled = false;
  #sendQueueBytes = 0;
  #needDrain = false;
  // receive side
  #recvId: number | null = null;
  #paused = false;
  #eof = false;
  readonly #held: Buffer[] = [];
  #fdClosed = false;

  constructor(fd: number, ring: Ring, pool: RecvBufferPool, options: UringNicOptions) {
    const b = nativeBinding()!;
    this.#fd = fd;
    this.#ring = ring;
    this.#threshold = options.zeroCopyThreshold ?? Infinity;
    this.#zeroCopy = Number.isFinite(this.#threshold);
    this.#highWater = options.sendHighWater ?? 4 * 1024 * 1024;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    b.setNoDelay(fd);
    const peer = b.sockName(fd, true);
    const local = b.sockName(fd, false);
    this.remoteAddress = peer.address;
    this.remotePort = peer.port;
    this.localAddress = local.address;
    this.localPort = local.port;
    this.#group = new RecvGroup(ring, pool, () => this.#armRecv());
    stats.connections++;
    this.#armRecv();
  }

  get sendQueueBytes(): number {
    return this.#sendQueueBytes;
  }

  setHandlers(handlers: NicHandlers): void {
    if (this.#handlers !== null) throw new Error('NicConn handlers already set');
    this.#handlers = handlers;
    queueMicrotask(() => {
      this.#flushHeld();
      if (this.#fdClosed) this.#deliverClose();
    });
  }

  send(bufs: readonly Buffer[], done: SendDone): boolean {
    const parts: Buffer[] = [];
    let bytes = 0;
    for (const b of bufs) {
      if (b.length === 0) continue;
      parts.push(b);
      bytes += b.length;
    }
    const entry: PendingSend = { bufs: parts, bytes, done, fired: false };
    this.#sendQueueBytes += bytes;
    if (this.#state !== 'open') {
      const err = this.#error ?? new NicClosedError('send on a closed uring connection');
      queueMicrotask(() => this.#complete(entry, err));
      return true;
    }
    this.#queue.push(entry);
    this.#schedulePump();
    if (this.#sendQueueBytes > this.#highWater) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  pauseReceive(): void {
    this.#paused = true;
  }

  resumeReceive(): void {
    this.#paused = false;
    this.#flushHeld();
  }

  close(): void {
    if (this.#state !== 'open') return;
    this.#state = 'ending';
    this.#held.length = 0;
    if (this.#closeTimeoutMs > 0) {
      this.#closeTimer = setTimeout(() => {
        this.#closeTimer = null;
        this.#teardown(null);
      }, this.#closeTimeoutMs);
      this.#closeTimer.unref();
    }
    this.#maybeShutdown();
  }

  destroy(err?: Error): void {
    if (this.#state === 'closed') return;
    if (err !== undefined) this.#error ??= err;
    this.#teardown(this.#error);
  }

  // ---- send ----

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#sendId !== null || this.#fdClosed) return;
    while (this.#queue.length !== 0 && this.#sendId === null) {
      const batch: PendingSend[] = [];
      const iov: Buffer[] = [];
      let bytes = 0;
      while (this.#queue.length !== 0) {
        const e = this.#queue[0]!;
        if (iov.length !== 0 && iov.length + e.bufs.length > MAX_IOV) break;
        this.#queue.shift();
        batch.push(e);
        for (const b of e.bufs) iov.push(b);
        bytes += e.bytes;
        if (iov.length >= MAX_IOV) break;
      }
      if (bytes === 0) {
        for (const e of batch) queueMicrotask(() => this.#complete(e, null));
        continue;
      }
      const sendBytes = iov.reduce((n, b) => n + b.length, 0);
      const zc = this.#zeroCopy && sendBytes >= this.#threshold;
      let sendErr: Error | null = null;
      stats.sends++;
      try {
        this.#sendId = this.#ring.sendmsg(this.#fd, iov, zc, (res, flags) => {
          if ((flags & CqeFlag.Notif) !== 0) {
            if (sendErr === null) {
              if ((res & NOTIF_USAGE_ZC_COPIED) !== 0) {
                stats.kernelCopiedBytes += sendBytes;
                this.#zeroCopy = false;
              } else stats.zeroCopyBytes += sendBytes;
            }
            for (const e of batch) this.#complete(e, sendErr);
            this.#maybeFinish();
            return;
          }
          this.#sendId = null;
          if (res < 0 || res < sendBytes) {
            sendErr = this.#error ?? (res < 0 && -res !== ECANCELED ? new UringError('sendmsg', -res) : new NicClosedError('uring connection closed during the send'));
            this.#error ??= sendErr;
          } else if (!zc) stats.plainBytes += sendBytes;
          // Zero-copy: the pages are the kernel's until the notification, which completes the batch.
          if (!zc || (flags & CqeFlag.More) === 0) for (const e of batch) this.#complete(e, sendErr);
          if (sendErr !== null) this.#teardown(sendErr);
          else {
            this.#pump();
            this.#maybeShutdown();
          }
          this.#maybeFinish();
        });
      } catch (err) {
        this.#sendId = null;
        for (const e of batch) queueMicrotask(() => this.#complete(e, err as Error));
        this.#teardown(err as Error);
        return;
      }
    }
    this.#maybeShutdown();
  }

  #complete(entry: PendingSend, err: Error | null): void {
    if (entry.fired) return;
    entry.fired = true;
    this.#sendQueueBytes -= entry.bytes;
    entry.done(err);
    if (this.#needDrain && this.#sendQueueBytes <= this.#highWater) {
      this.#needDrain = false;
      if (this.#state !== 'closed') this.#handlers?.drain();
    }
  }

  /** After close() (or the peer's FIN): once everything queued is sent, shutdown(SHUT_WR). */
  #maybeShutdown(): void {
    if (this.#state !== 'ending' || this.#shutdownSent || this.#queue.length !== 0 || this.#sendId !== null || this.#fdClosed) return;
    this.#shutdownSent = true;
    this.#ring.shutdown(this.#fd).then(
      () => {
        if (this.#eof) this.#teardown(null);
      },
      (err: unknown) => this.#teardown(this.#error ?? (err as Error)),
    );
  }

  // ---- receive ----

  #armRecv(): void {
    if (this.#recvId !== null || this.#eof || this.#fdClosed || this.#state === 'closed') return;
    this.#recvId = this.#ring.recvMultishot(this.#fd, this.#group.bgid, (res, flags) => {
      if ((flags & CqeFlag.More) === 0) this.#recvId = null;
      if ((flags & CqeFlag.Buffer) !== 0) {
        const view = this.#group.take(flags >>> 16, res);
        if (view !== null) this.#received(view);
      }
      if (res === 0) this.#onEof();
      else if (res === -ENOBUFS) this.#group.starved();
      else if (res < 0) {
        if (-res !== ECANCELED) this.#teardown(this.#error ?? new UringError('recv', -res));
      } else if (this.#recvId === null) this.#armRecv();
      this.#maybeFinish();
    });
  }

  #received(view: Buffer): void {
    if (this.#state !== 'open') return; // after close(): input is discarded
    if (this.#handlers === null || this.#paused || this.#held.length !== 0) {
      this.#held.push(view);
      return;
    }
    this.#handlers.data(view);
  }

  #flushHeld(): void {
    while (this.#held.length !== 0 && !this.#paused && this.#handlers !== null && this.#state === 'open') {
      this.#handlers.data(this.#held.shift()!);
    }
    if (this.#eof && this.#held.length === 0 && this.#state === 'open') this.#onEof();
  }

  #onEof(): void {
    this.#eof = true;
    if (this.#state === 'closed') return;
    if (this.#state === 'open') {
      // Deliver what is held first (as node:net emits 'end' after the data).
      if (this.#held.length !== 0) return;
      // The peer closed: flush ours, FIN, close (allowHalfOpen false, like the tcp driver).
      this.#state = 'ending';
      this.#maybeShutdown();
      return;
    }
    if (this.#shutdownSent) this.#teardown(null);
  }

  // ---- teardown ----

  #teardown(err: Error | null): void {
    if (err !== null) this.#error ??= err;
    if (this.#state !== 'closed') {
      this.#state = 'closed';
      this.#held.length = 0;
      if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
      this.#closeTimer = null;
      const failWith = this.#error ?? new NicClosedError('uring connection closed before the send');
      for (const e of this.#queue.splice(0)) queueMicrotask(() => this.#complete(e, failWith));
      if (this.#recvId !== null) this.#ring.cancel(this.#recvId);
      if (this.#sendId !== null) this.#ring.cancel(this.#sendId);
      this.#ring.flush();
    }
    this.#maybeFinish();
  }

  /** Once closed and no request on the fd is in flight: close the fd, release the group, deliver close. */
  #maybeFinish(): void {
    if (this.#state !== 'closed' || this.#fdClosed || this.#recvId !== null || this.#sendId !== null) return;
    this.#fdClosed = true;
    stats.connections--;
    this.#group.close();
    this.#ring.closeFd(this.#fd).catch(() => {});
    queueMicrotask(() => this.#deliverClose());
  }

  #deliverClose(): void {
    if (this.#closeDelivered || this.#handlers === null) return;
    this.#closeDelivered = true;
    this.#handlers.close(this.#error);
  }
}

class UringNicListener implements NicListener {
  readonly address: string;
  readonly port: number;
  readonly #fd: number;
  readonly #ring: Ring;
  readonly #acceptId: number;
  #closed = false;

  constructor(fd: number, ring: Ring, onFd: (fd: number) => void) {
    const a = nativeBinding()!.sockName(fd, false);
    this.address = a.address;
    this.port = a.port;
    this.#fd = fd;
    this.#ring = ring;
    this.#acceptId = ring.acceptMultishot(fd, (res, flags) => {
      if (res >= 0) onFd(res);
      // Accept errors (EMFILE...) are transient; a multishot that ended is re-armed by a new listener only.
      void flags;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#ring.cancel(this.#acceptId);
    this.#ring.flush();
    await this.#ring.closeFd(this.#fd).catch(() => {});
  }
}

async function numericHost(host: string): Promise<string> {
  if (isIP(host) !== 0) return host;
  return (await lookup(host)).address;
}

/** A `uring` NIC driver. Throws if io_uring is unavailable (see `uringUnavailable()`). */
export function createUringNicDriver(options: UringNicOptions = {}): NicDriver {
  const why = uringUnavailable();
  if (why !== null) throw new Error(why);
  const b = nativeBinding()!;
  const ring = (): Ring => options.ring ?? sharedRing();
  const pool = options.pool instanceof RecvBufferPool ? options.pool : new RecvBufferPool(options.pool ?? {});
  const wrap = (fd: number): UringNicConn => {
    const c = new UringNicConn(fd, ring(), pool, options);
    return c;
  };
  return {
    name: 'uring',
    async listen(l: NicListenOptions, onConnection: (conn: NicConn) => void): Promise<NicListener> {
      const host = await numericHost(l.host);
      const fd = b.listenTcp(host, l.port, 511);
      return new UringNicListener(fd, ring(), (cfd) => {
        let conn: UringNicConn;
        try {
          conn = wrap(cfd);
        } catch {
          b.closeFd(cfd);
          return;
        }
        onConnection(conn);
      });
    },
    async connect(c: NicListenOptions): Promise<NicConn> {
      const host = await numericHost(c.host);
      const fd = b.connectTcp(host, c.port);
      try {
        return wrap(fd);
      } catch (err) {
        b.closeFd(fd);
        throw err;
      }
    },
  };
}

let shared: NicDriver | null = null;
let sharedPool: RecvBufferPool | null = null;

/** The receive pool of the registered driver (for metrics). */
export function uringNicPool(): RecvBufferPool | null {
  return sharedPool;
}

/** The `uring` NIC driver's registry descriptor: priority -1 (chosen by `--nic uring` / `nic uring`, not by default). */
/**
 * The driver is experimental: under CPU load the ICL conformance kit over it
 * sees lost PDUs and connections closed under a sender (issue 10). Until that
 * race is found it is offered only to whoever asks by name AND sets
 * ISCSI_TARGET_URING_NIC=1; otherwise `--nic uring` falls back to `tcp` with
 * this reason in the log and in `--check`.
 */
export function uringNicExperimental(): string | null {
  return process.env.ISCSI_TARGET_URING_NIC === '1'
    ? null
    : 'experimental: it lost PDUs under CPU load in the ICL conformance kit; set ISCSI_TARGET_URING_NIC=1 to use it anyway';
}

export const uringNicDescriptor: NicDriverDescriptor = {
  name: 'uring',
  priority: -1,
  description: 'TCP through io_uring (multishot recv into a recycled, capped buffer pool; batched sendmsg)',
  available: () => uringUnavailable() ?? uringNicExperimental(),
  fallback: 'tcp',
  create: () => {
    if (shared === null) {
      sharedPool = new RecvBufferPool();
      shared = createUringNicDriver({ pool: sharedPool });
    }
    return shared;
  },
};
