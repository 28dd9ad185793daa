/**
 * The `tcp` NIC driver: kernel TCP through `node:net`, the default transport
 * under the software ICL driver (FreeBSD's `icl_soft` over `so_send`/`soreceive`).
 *
 * What it does: listens and connects (IPv4 and IPv6), and wraps each
 * `net.Socket` as a `NicConn`: one vectored write per `send` (cork, write
 * each Buffer, uncork → one `writev`), a completion per send that fires
 * exactly once, backpressure by a byte high-water mark, receive pause/resume,
 * graceful close and destroy.
 *
 * What it does not do: no framing, no digests (that is the ICL driver's
 * job), no TLS, no userspace copy of payload, no socket option other than
 * TCP_NODELAY.
 *
 * Buffer ownership (see `NicConn` in icl-core `nic.ts`):
 * - `send(bufs, done)`: the Buffers are handed to `socket.write` by
 *   reference (never copied; Buffers only, so Node takes its no-copy
 *   `writev` path — peers.md §5.1). Node's write callback means libuv has
 *   handed the bytes to the kernel and Node no longer references the
 *   Buffers; `done` is called from there. If the socket is destroyed first,
 *   Node reports the in-flight write as successful (verified on Node 20:
 *   the write cut short by `destroy()` gets `null`), so a completion that
 *   arrives on a destroyed socket is reported with an error: "the bytes may
 *   not have been sent".
 * - `data(buf)`: the Buffer Node produced for a read is passed up; this
 *   driver keeps no reference to it.
 */
import net from 'node:net';
import type { NicConn, NicDriver, NicHandlers, NicListener, NicListenOptions } from '@iscsi-target/icl-core/kpi';
import { NicClosedError, type NicDriverDescriptor } from '@iscsi-target/icl-offload-kpi';

/** Tunables of the `tcp` NIC driver. */
export interface TcpNicOptions {
  /**
   * `send` returns false once `sendQueueBytes` (bytes accepted and not yet
   * completed) exceeds this; `drain` fires when it is back at or below it.
   * Default 4 MiB.
   */
  sendHighWater?: number;
  /**
   * After `close()`, destroy the socket if the peer has not closed its side
   * within this many milliseconds. 0 disables the timer. Default 10 000.
   */
  closeTimeoutMs?: number;
}

/** Default of `TcpNicOptions.sendHighWater`. */
export const TCP_NIC_DEFAULT_SEND_HIGH_WATER = 4 * 1024 * 1024;
/** Default of `TcpNicOptions.closeTimeoutMs`. */
export const TCP_NIC_DEFAULT_CLOSE_TIMEOUT_MS = 10_000;

type SendDone = (err: Error | null) => void;

/** One `send` call whose `done` has not fired. */
interface PendingSend {
  readonly bytes: number;
  readonly done: SendDone;
  fired: boolean;
}

/** A `NicConn` over one connected `net.Socket`. */
export class TcpNicConn implements NicConn {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;

  readonly #socket: net.Socket;
  readonly #highWater: number;
  readonly #closeTimeoutMs: number;
  #handlers: NicHandlers | null = null;
  /** 'open' → 'ending' (after `close()`) → 'closed' (after `destroy()` or the socket's 'close'). */
  #state: 'open' | 'ending' | 'closed' = 'open';
  /** The first error seen on the socket or given to `destroy`. */
  #error: Error | null = null;
  /** The socket emitted 'close'. */
  #socketClosed = false;
  #closeDelivered = false;
  #receivePaused = false;
  #closeTimer: NodeJS.Timeout | null = null;
  /** Sends whose `done` has not fired, in send order. */
  readonly #pending = new Set<PendingSend>();
  #sendQueueBytes = 0;
  #needDrain = false;
  #inSend = false;

  /**
   * Takes over a connected socket. The socket must not have 'data' listeners;
   * data it receives before `setHandlers` stays buffered in the socket
   * (bounded by its readable high-water mark and the kernel's buffer).
   */
  constructor(socket: net.Socket, options: TcpNicOptions = {}) {
    this.#socket = socket;
    this.#highWater = options.sendHighWater ?? TCP_NIC_DEFAULT_SEND_HIGH_WATER;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? TCP_NIC_DEFAULT_CLOSE_TIMEOUT_MS;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
    socket.setNoDelay(true);
    socket.on('error', (err: Error) => {
      this.#error ??= err;
    });
    socket.on('close', () => this.#onSocketClose());
    if (socket.destroyed) queueMicrotask(() => this.#onSocketClose());
  }

  get sendQueueBytes(): number {
    return this.#sendQueueBytes;
  }

  setHandlers(handlers: NicHandlers): void {
    if (this.#handlers !== null) throw new Error('NicConn handlers already set');
    this.#handlers = handlers;
    if (this.#receivePaused) this.#socket.pause();
    // Attaching the listener switches the socket to flowing mode unless it
    // was paused above; bytes buffered so far are delivered first.
    this.#socket.on('data', (buf: Buffer) => {
      // After close() the ICL user is done with input: discard it while
      // waiting for the peer's FIN.
      if (this.#state === 'open') this.#handlers!.data(buf);
    });
    if (this.#socketClosed) queueMicrotask(() => this.#deliverClose());
  }

  send(bufs: readonly Buffer[], done: SendDone): boolean {
    let bytes = 0;
    let last = -1;
    for (let i = 0; i < bufs.length; i++) {
      const n = bufs[i]!.length;
      if (n !== 0) {
        bytes += n;
        last = i;
      }
    }
    const entry: PendingSend = { bytes, done, fired: false };
    this.#pending.add(entry);
    this.#sendQueueBytes += bytes;

    const socket = this.#socket;
    if (this.#state !== 'open' || socket.destroyed || !socket.writable) {
      const err = this.#error ?? new NicClosedError('send on a closed TCP connection');
      queueMicrotask(() => this.#complete(entry, err));
      return true;
    }
    if (last < 0) {
      queueMicrotask(() => this.#complete(entry, null));
      return this.#sendQueueBytes <= this.#highWater;
    }
    const onWritten = (err?: Error | null): void => {
      // Node reports a write cut short by destroy() as a success: if the
      // socket is gone, the bytes may not have been sent.
      if (err == null && !socket.destroyed) this.#complete(entry, null);
      else this.#complete(entry, this.#error ?? err ?? new NicClosedError('TCP connection destroyed during the write'));
    };
    this.#inSend = true;
    socket.cork();
    try {
      for (let i = 0; i <= last; i++) {
        const b = bufs[i]!;
        if (b.length === 0) continue;
        // Only the last write carries the callback: Node completes writes in
        // order, and one uncork() flushes them as a single writev.
        if (i === last) socket.write(b, onWritten);
        else socket.write(b);
      }
    } finally {
      socket.uncork();
      this.#inSend = false;
    }
    if (this.#sendQueueBytes > this.#highWater) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  pauseReceive(): void {
    this.#receivePaused = true;
    this.#socket.pause();
  }

  resumeReceive(): void {
    this.#receivePaused = false;
    if (this.#handlers !== null) this.#socket.resume();
  }

  close(): void {
    if (this.#state !== 'open') return;
    this.#state = 'ending';
    // Flush what was queued, then FIN. Keep reading (and discarding) so the
    // peer's FIN is seen and the socket closes.
    this.#socket.end();
    this.#socket.resume();
    if (this.#closeTimeoutMs > 0 && !this.#socketClosed) {
      this.#closeTimer = setTimeout(() => {
        this.#closeTimer = null;
        this.#socket.destroy();
      }, this.#closeTimeoutMs);
      this.#closeTimer.unref();
    }
  }

  destroy(err?: Error): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    if (err !== undefined) this.#error ??= err;
    // Not passing err to the socket: it would only re-emit it as 'error'.
    this.#socket.destroy();
  }

  /** Completes one send: exactly once, never inside `send`. */
  #complete(entry: PendingSend, err: Error | null): void {
    if (entry.fired) return;
    if (this.#inSend) {
      queueMicrotask(() => this.#complete(entry, err));
      return;
    }
    entry.fired = true;
    this.#pending.delete(entry);
    this.#sendQueueBytes -= entry.bytes;
    entry.done(err);
    if (this.#needDrain && this.#sendQueueBytes <= this.#highWater) {
      this.#needDrain = false;
      if (this.#state !== 'closed') this.#handlers?.drain();
    }
  }

  #onSocketClose(): void {
    if (this.#socketClosed) return;
    this.#socketClosed = true;
    this.#state = 'closed';
    if (this.#closeTimer !== null) {
      clearTimeout(this.#closeTimer);
      this.#closeTimer = null;
    }
    // The handle is closed: libuv holds no write request any more, so every
    // send still pending is over; Node normally reported them already.
    if (this.#pending.size !== 0) {
      const err = this.#error ?? new NicClosedError('TCP connection closed before the write completed');
      for (const entry of [...this.#pending]) this.#complete(entry, err);
    }
    this.#deliverClose();
  }

  #deliverClose(): void {
    if (this.#closeDelivered || this.#handlers === null) return;
    this.#closeDelivered = true;
    this.#handlers.close(this.#error);
  }
}

/** A listening `net.Server` as a `NicListener`. */
class TcpNicListener implements NicListener {
  readonly address: string;
  readonly port: number;
  readonly #server: net.Server;

  constructor(server: net.Server) {
    this.#server = server;
    const a = server.address();
    if (a === null || typeof a === 'string') throw new Error('TCP listener has no address');
    this.address = a.address;
    this.port = a.port;
  }

  /** Stops accepting; connections already handed out are not affected. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      // server.close()'s callback waits for every accepted connection to
      // end; the listening socket itself is closed right away.
      if (this.#server.listening) this.#server.close();
      setImmediate(resolve);
    });
  }
}

/** A `tcp` NIC driver with the given tunables. */
export function createTcpNicDriver(options: TcpNicOptions = {}): NicDriver {
  return {
    name: 'tcp',
    listen(listenOptions: NicListenOptions, onConnection: (conn: NicConn) => void): Promise<NicListener> {
      const server = net.createServer((socket) => onConnection(new TcpNicConn(socket, options)));
      return new Promise<NicListener>((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen({ host: listenOptions.host, port: listenOptions.port }, () => {
          server.off('error', onError);
          // Accept errors (EMFILE...) are transient: keep listening.
          server.on('error', () => {});
          resolve(new TcpNicListener(server));
        });
      });
    },
    connect(connectOptions: NicListenOptions): Promise<NicConn> {
      return new Promise<NicConn>((resolve, reject) => {
        const socket = net.connect({ host: connectOptions.host, port: connectOptions.port });
        const onError = (err: Error): void => {
          socket.destroy();
          reject(err);
        };
        socket.once('error', onError);
        socket.once('connect', () => {
          socket.off('error', onError);
          resolve(new TcpNicConn(socket, options));
        });
      });
    },
  };
}

/** The default `tcp` NIC driver (4 MiB send high-water, 10 s close timeout). */
export const tcpNicDriver: NicDriver = createTcpNicDriver();

/** The `tcp` NIC driver's registry descriptor: always available, priority 0 (the default unless a higher one is available). */
export const tcpNicDescriptor: NicDriverDescriptor = {
  name: 'tcp',
  priority: 0,
  description: 'kernel TCP through node:net (vectored writes, no userspace copy)',
  available: () => null,
  create: () => tcpNicDriver,
};
