/**
 * The `sim` NIC driver: an in-process, deterministic network for tests,
 * with fault injection to prove the ownership contract of ICL drivers
 * (DESIGN.md §4).
 *
 * What it does: `SimNetwork.pair()` makes two connected ends; a
 * `SimNetwork` is also a `NicDriver` (`listen`/`connect` by host and port).
 * Each end offers fault injection:
 * - `holdCompletions(true)`: send completions are held after the bytes went
 *   out, until `releaseCompletions()` — a NIC that keeps transmit buffers
 *   for a long time (FreeBSD's `ixl(4)` case, freebsd-arch.md §2.6);
 * - `reorderCompletions(true)`: completions fire in a shuffled order, some
 *   of them a few event-loop turns late (seeded PRNG, reproducible);
 * - `maxSegment(n)`: the peer receives the byte stream in pieces of at most
 *   n bytes (partial sends and receives), cut regardless of send boundaries;
 * - `reset(err?)`: both ends see `close(err)`; every send not yet completed,
 *   held ones included, completes with the error, exactly once.
 *
 * Delivery is asynchronous (`setImmediate`), never re-entrant: no upcall
 * runs inside `send`, `close`, `destroy` or `reset`.
 *
 * What it does not do: no real timing (no latency, bandwidth or loss
 * model), no half-open connections, no addresses beyond opaque strings.
 *
 * Buffer ownership: `send` borrows the caller's Buffers. The simulated wire
 * copies bytes out of them lazily, one piece at a time, as the peer
 * receives (that copy stands for the kernel's copy or the NIC's DMA); the
 * last piece copied from a send is the NIC's last touch, after which its
 * `done` may fire (or be held). A driver that completed a PDU before that
 * point and let its owner reuse the memory would put garbage on the wire —
 * the conformance kit checks for exactly that. Pieces delivered to the peer
 * are fresh Buffers whose ownership passes up.
 */
import type { NicConn, NicDriver, NicHandlers, NicListener, NicListenOptions } from '@iscsi-target/icl-core/kpi';
import { NicAddressError, NicClosedError, NicResetError } from './errors.js';
import { Prng } from './prng.js';

/** Tunables of a simulated network. */
export interface SimNetworkOptions {
  /** Seed of the PRNG used for reordered completions. Default 1. */
  seed?: number;
  /** `send` returns false above this many uncompleted bytes per end. Default 4 MiB. */
  sendHighWater?: number;
}

/** Default of `SimNetworkOptions.sendHighWater`. */
export const SIM_NIC_DEFAULT_SEND_HIGH_WATER = 4 * 1024 * 1024;
/** Largest piece the peer receives in one `data` upcall (a socket read's size). */
export const SIM_READ_SIZE = 64 * 1024;
/** Bytes delivered per event-loop turn and direction before yielding. */
const SIM_TURN_BUDGET = 256 * 1024;

type SendDone = (err: Error | null) => void;

interface SimSend {
  readonly bufs: readonly Buffer[];
  readonly bytes: number;
  readonly done: SendDone;
  fired: boolean;
}

interface SimShared {
  readonly prng: Prng;
  readonly highWater: number;
}

interface SimAddress {
  address: string;
  port: number;
}

/** One end of a simulated connection. */
export class SimNicConn implements NicConn {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;

  readonly #shared: SimShared;
  #peer: SimNicConn | null = null;
  #handlers: NicHandlers | null = null;
  /** 'open' → 'closing' (after `close()`, until the FIN is delivered) → 'closed'. */
  #state: 'open' | 'closing' | 'closed' = 'open';
  /** Error for sends on a closed end (set by destroy/reset). */
  #failError: Error | null = null;

  // Transmit side: sends not yet fully copied to the wire, oldest first.
  #tx: SimSend[] = [];
  #txHead = 0;
  /** Position inside the head send: buffer index and offset. */
  #txBuf = 0;
  #txOff = 0;
  /** Bytes queued in `#tx` not yet copied. */
  #txBytes = 0;
  #finPending = false;
  #pumpScheduled = false;
  /** Transmitted sends whose completion is held. */
  #held: SimSend[] = [];
  #hold = false;
  #reorder = false;
  #maxSegment = Number.POSITIVE_INFINITY;
  #sendQueueBytes = 0;
  #needDrain = false;
  #transmittedBytes = 0;

  // Receive side.
  #rxPaused = false;
  /** A close to deliver once handlers are set (undefined: none). */
  #pendingClose: Error | null | undefined = undefined;
  #closeDelivered = false;

  /** @internal Created by `SimNetwork`; use `pair()`, `listen` or `connect`. */
  constructor(shared: SimShared, local: SimAddress, remote: SimAddress) {
    this.#shared = shared;
    this.localAddress = local.address;
    this.localPort = local.port;
    this.remoteAddress = remote.address;
    this.remotePort = remote.port;
  }

  /** @internal */
  static link(a: SimNicConn, b: SimNicConn): void {
    a.#peer = b;
    b.#peer = a;
  }

  get sendQueueBytes(): number {
    return this.#sendQueueBytes;
  }

  /** Number of sends whose completion is currently held. */
  get heldCompletions(): number {
    return this.#held.length;
  }

  /** Bytes of this end's sends copied onto the wire so far. */
  get transmittedBytes(): number {
    return this.#transmittedBytes;
  }

  /** True once this end has closed (FIN exchanged, destroyed or reset). */
  get closed(): boolean {
    return this.#state === 'closed';
  }

  setHandlers(handlers: NicHandlers): void {
    if (this.#handlers !== null) throw new Error('NicConn handlers already set');
    this.#handlers = handlers;
    if (this.#peer !== null) this.#peer.#schedulePump();
    if (this.#pendingClose !== undefined) {
      const err = this.#pendingClose;
      this.#pendingClose = undefined;
      this.#deliverClose(err);
    }
  }

  send(bufs: readonly Buffer[], done: SendDone): boolean {
    let bytes = 0;
    for (const b of bufs) bytes += b.length;
    const s: SimSend = { bufs: bufs.slice(), bytes, done, fired: false };
    this.#sendQueueBytes += bytes;
    if (this.#state !== 'open') {
      const err = this.#failError ?? new NicClosedError('send on a closed simulated connection');
      queueMicrotask(() => this.#complete(s, err));
      return true;
    }
    this.#tx.push(s);
    this.#txBytes += bytes;
    this.#schedulePump();
    if (this.#sendQueueBytes > this.#shared.highWater) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  pauseReceive(): void {
    this.#rxPaused = true;
  }

  resumeReceive(): void {
    this.#rxPaused = false;
    if (this.#peer !== null) this.#peer.#schedulePump();
  }

  /** Delivers everything queued, then a FIN; both ends then see `close(null)`. */
  close(): void {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    this.#finPending = true;
    this.#schedulePump();
  }

  /**
   * Closes now. Sends not yet on the wire complete with `err` (or a
   * `NicClosedError`); held completions stay held (the NIC still has those
   * buffers) until released. The peer sees a reset.
   */
  destroy(err?: Error): void {
    if (this.#state === 'closed') return;
    const e = err ?? new NicClosedError('simulated connection destroyed');
    this.#shutdown(e, false);
    this.#deliverClose(err ?? null);
    const peer = this.#peer;
    if (peer !== null && peer.#state !== 'closed') {
      const r = new NicResetError('connection reset by peer');
      peer.#shutdown(r, false);
      peer.#deliverClose(r);
    }
  }

  // ---- fault injection ------------------------------------------------

  /** Holds send completions (after the bytes went out) until `releaseCompletions()`. */
  holdCompletions(on: boolean): void {
    this.#hold = on;
    if (!on && this.#held.length !== 0) void this.releaseCompletions();
  }

  /**
   * Fires every held completion (with null: the bytes went out), on a later
   * event-loop turn, shuffled if reordering is on. Resolves with their
   * number once they have all run.
   */
  releaseCompletions(): Promise<number> {
    const list = this.#held.splice(0, this.#held.length);
    if (this.#reorder) this.#shared.prng.shuffle(list);
    return new Promise((resolve) => {
      setImmediate(() => {
        for (const s of list) this.#complete(s, null);
        resolve(list.length);
      });
    });
  }

  /** Completes sends in a shuffled order, some a few turns late. */
  reorderCompletions(on: boolean): void {
    this.#reorder = on;
  }

  /** The peer receives this end's bytes in pieces of at most `n` bytes (`Infinity`: no limit). */
  maxSegment(n: number): void {
    if (!(n >= 1)) throw new RangeError('maxSegment must be >= 1');
    this.#maxSegment = n;
  }

  /**
   * Resets the connection: both ends see `close(err)` (default a
   * `NicResetError`); every send of either end not yet completed — queued,
   * or transmitted with a held completion — completes with the error.
   */
  reset(err?: Error): void {
    const e = err ?? new NicResetError('simulated connection reset');
    for (const end of [this, this.#peer]) {
      if (end === null || end.#state === 'closed') continue;
      end.#shutdown(e, true);
      end.#deliverClose(e);
    }
  }

  // ---- internals --------------------------------------------------------

  #canReceive(): boolean {
    if (this.#state === 'closed') return false;
    // A closing end keeps reading (and discarding) until the FIN exchange.
    return this.#state === 'closing' || (this.#handlers !== null && !this.#rxPaused);
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => this.#pump());
  }

  /** Moves bytes to the peer, one piece per `data` upcall, within a per-turn budget. */
  #pump(): void {
    this.#pumpScheduled = false;
    const completed: SimSend[] = [];
    let budget = SIM_TURN_BUDGET;
    for (;;) {
      this.#retireHead(completed);
      if (this.#state === 'closed' || this.#txBytes === 0) break;
      const peer = this.#peer;
      if (peer === null || !peer.#canReceive()) break;
      if (budget === 0) {
        this.#schedulePump();
        break;
      }
      const n = Math.min(this.#txBytes, this.#maxSegment, SIM_READ_SIZE, budget);
      const piece = this.#copyOut(n, completed);
      budget -= n;
      peer.#receive(piece);
    }
    this.#finishTransmitted(completed);
    if (this.#finPending && this.#state === 'closing' && this.#txHead === this.#tx.length) {
      const peer = this.#peer;
      if (peer === null || peer.#canReceive()) {
        this.#finPending = false;
        this.#state = 'closed';
        if (peer !== null && peer.#state !== 'closed') {
          peer.#shutdown(new NicClosedError('peer closed the connection'), false);
          peer.#deliverClose(null);
        }
        this.#deliverClose(null);
      }
    }
  }

  /**
   * Copies the next `n` stream bytes into a fresh Buffer (the wire's copy),
   * retiring into `completed` every send whose last byte it copied.
   */
  #copyOut(n: number, completed: SimSend[]): Buffer {
    const piece = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      this.#retireHead(completed);
      // #txBytes > 0 and #retireHead skipped empty buffers: a byte is here.
      const b = this.#tx[this.#txHead]!.bufs[this.#txBuf]!;
      const k = Math.min(b.length - this.#txOff, n - filled);
      b.copy(piece, filled, this.#txOff, this.#txOff + k);
      filled += k;
      this.#txOff += k;
      if (this.#txOff === b.length) {
        this.#txBuf++;
        this.#txOff = 0;
      }
    }
    this.#txBytes -= n;
    this.#transmittedBytes += n;
    this.#retireHead(completed);
    return piece;
  }

  /** Retires sends at the head of the queue whose bytes are all on the wire. */
  #retireHead(completed: SimSend[]): void {
    while (this.#txHead < this.#tx.length) {
      const s = this.#tx[this.#txHead]!;
      while (this.#txBuf < s.bufs.length && s.bufs[this.#txBuf]!.length === 0) this.#txBuf++;
      if (this.#txBuf < s.bufs.length) return;
      (this.#tx as (SimSend | undefined)[])[this.#txHead] = undefined;
      this.#txHead++;
      this.#txBuf = 0;
      this.#txOff = 0;
      completed.push(s);
      if (this.#txHead === this.#tx.length) {
        this.#tx = [];
        this.#txHead = 0;
      } else if (this.#txHead >= 64 && this.#txHead * 2 >= this.#tx.length) {
        this.#tx = this.#tx.slice(this.#txHead);
        this.#txHead = 0;
      }
    }
  }

  #finishTransmitted(completed: SimSend[]): void {
    if (completed.length === 0) return;
    if (this.#hold) {
      this.#held.push(...completed);
      return;
    }
    if (!this.#reorder) {
      for (const s of completed) this.#complete(s, null);
      return;
    }
    const prng = this.#shared.prng;
    prng.shuffle(completed);
    for (const s of completed) {
      const delay = prng.int(4);
      if (delay === 0) this.#complete(s, null);
      else this.#later(delay, () => this.#complete(s, null));
    }
  }

  #later(turns: number, fn: () => void): void {
    if (turns === 0) fn();
    else setImmediate(() => this.#later(turns - 1, fn));
  }

  #receive(piece: Buffer): void {
    if (this.#state === 'open') this.#handlers!.data(piece);
  }

  /** Marks this end closed and fails its unsent sends (and held ones if `failHeld`). */
  #shutdown(err: Error, failHeld: boolean): void {
    this.#state = 'closed';
    this.#failError ??= err;
    this.#finPending = false;
    const unsent: SimSend[] = [];
    for (let i = this.#txHead; i < this.#tx.length; i++) unsent.push(this.#tx[i]!);
    this.#tx = [];
    this.#txHead = 0;
    this.#txBuf = 0;
    this.#txOff = 0;
    this.#txBytes = 0;
    if (failHeld) unsent.push(...this.#held.splice(0, this.#held.length));
    if (unsent.length !== 0) queueMicrotask(() => unsent.forEach((s) => this.#complete(s, err)));
  }

  /** Completes a send: exactly once; `drain` when back under the high-water mark. */
  #complete(s: SimSend, err: Error | null): void {
    if (s.fired) return;
    s.fired = true;
    this.#sendQueueBytes -= s.bytes;
    s.done(err);
    if (this.#needDrain && this.#sendQueueBytes <= this.#shared.highWater) {
      this.#needDrain = false;
      if (this.#state !== 'closed') this.#handlers?.drain();
    }
  }

  /** Delivers `close(err)` once, asynchronously (or when handlers are set). */
  #deliverClose(err: Error | null): void {
    if (this.#closeDelivered) return;
    const handlers = this.#handlers;
    if (handlers === null) {
      this.#pendingClose ??= err;
      return;
    }
    this.#closeDelivered = true;
    queueMicrotask(() => handlers.close(err));
  }
}

interface SimListenerEntry {
  readonly address: string;
  readonly port: number;
  readonly onConnection: (conn: NicConn) => void;
}

/**
 * A simulated network: a factory of connected `SimNicConn` pairs and a
 * `NicDriver` named "sim" (listen/connect by host and port, port 0 picks a
 * free one).
 */
export class SimNetwork implements NicDriver {
  readonly name = 'sim';
  readonly #shared: SimShared;
  readonly #listeners = new Map<string, SimListenerEntry>();
  #nextPort = 49152;

  constructor(options: SimNetworkOptions = {}) {
    this.#shared = {
      prng: new Prng(options.seed ?? 1),
      highWater: options.sendHighWater ?? SIM_NIC_DEFAULT_SEND_HIGH_WATER,
    };
  }

  /** Two connected ends, `[a, b]`. */
  pair(a: SimAddress = { address: 'sim-a', port: 0 }, b: SimAddress = { address: 'sim-b', port: 0 }): [SimNicConn, SimNicConn] {
    const la = { address: a.address, port: a.port === 0 ? this.#ephemeralPort() : a.port };
    const lb = { address: b.address, port: b.port === 0 ? this.#ephemeralPort() : b.port };
    const ea = new SimNicConn(this.#shared, la, lb);
    const eb = new SimNicConn(this.#shared, lb, la);
    SimNicConn.link(ea, eb);
    return [ea, eb];
  }

  listen(options: NicListenOptions, onConnection: (conn: NicConn) => void): Promise<NicListener> {
    const port = options.port === 0 ? this.#ephemeralPort() : options.port;
    const key = `${options.host}|${port}`;
    if (this.#listeners.has(key)) {
      return Promise.reject(new NicAddressError(`sim: ${options.host}:${port} already in use`));
    }
    const entry: SimListenerEntry = { address: options.host, port, onConnection };
    this.#listeners.set(key, entry);
    const listeners = this.#listeners;
    return Promise.resolve({
      address: options.host,
      port,
      close(): Promise<void> {
        if (listeners.get(key) === entry) listeners.delete(key);
        return Promise.resolve();
      },
    });
  }

  /** Connects to a listener; resolves with the client end (a `SimNicConn`). */
  connect(options: NicListenOptions): Promise<SimNicConn> {
    const entry = this.#listeners.get(`${options.host}|${options.port}`);
    if (entry === undefined) {
      return Promise.reject(new NicAddressError(`sim: connection refused by ${options.host}:${options.port}`));
    }
    const [client, server] = this.pair(
      { address: options.host, port: 0 },
      { address: entry.address, port: entry.port },
    );
    queueMicrotask(() => entry.onConnection(server));
    return Promise.resolve(client);
  }

  #ephemeralPort(): number {
    const p = this.#nextPort;
    this.#nextPort = p >= 65535 ? 49152 : p + 1;
    return p;
  }
}

/** A process-wide simulated network as a `NicDriver` (seed 1). */
export const simNicDriver: SimNetwork = new SimNetwork();
