/**
 * The NIC driver interface: what carries bytes below a software ICL driver
 * (DESIGN.md §4). Pure types; implementations (`tcp` over `node:net`, `sim`
 * in-process with fault injection) and the conformance kit live in
 * `@iscsi-target/icl-offload-kpi`, which re-exports these types. They are
 * declared here so that `IclConn.handoff` can be typed without icl-core
 * depending on a package above it.
 *
 * Buffer ownership across this interface:
 * - `send(bufs, done)`: the NIC driver borrows every Buffer in `bufs` and
 *   must not touch any of them after calling `done` — and `done` is the
 *   caller's only signal that it may reuse or return them. `done` is called
 *   exactly once, never synchronously inside `send`.
 * - `data(buf)` upcall: ownership of `buf` passes up; the NIC driver never
 *   writes into or reuses a Buffer it delivered.
 */

/** Upcalls from a NIC connection to its user (the ICL driver). */
export interface NicHandlers {
  /** Received bytes; ownership of `buf` passes to the handler. */
  data(buf: Buffer): void;
  /** The send queue went back under its high-water mark. */
  drain(): void;
  /** The connection is gone (peer closed, reset, local close). Called once. */
  close(err: Error | null): void;
}

/** One connection of a NIC driver. */
export interface NicConn {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Bytes accepted by `send` whose `done` has not been called yet. */
  readonly sendQueueBytes: number;
  /** Installs the upcalls; received data is held until handlers are set. */
  setHandlers(handlers: NicHandlers): void;
  /**
   * Sends `bufs` in order, as one vectored write where possible. Returns
   * false if the send queue is above the high-water mark (wait for `drain`);
   * the buffers are accepted either way. `done(err)` fires exactly once,
   * asynchronously, when the NIC driver no longer references any of `bufs`;
   * `err` is non-null if the bytes may not have been sent.
   */
  send(bufs: readonly Buffer[], done: (err: Error | null) => void): boolean;
  /** Stop / resume delivering `data` upcalls (receive backpressure). */
  pauseReceive(): void;
  resumeReceive(): void;
  /** Flush what was queued, then close. */
  close(): void;
  /** Close now, failing queued sends with `err` (or a generic error). */
  destroy(err?: Error): void;
}

/** A listening endpoint of a NIC driver. */
export interface NicListener {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface NicListenOptions {
  host: string;
  port: number;
}

/** A NIC driver: named, listens and (for tests and initiators) connects. */
export interface NicDriver {
  readonly name: string;
  listen(options: NicListenOptions, onConnection: (conn: NicConn) => void): Promise<NicListener>;
  connect(options: NicListenOptions): Promise<NicConn>;
}
