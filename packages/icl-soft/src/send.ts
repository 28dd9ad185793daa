/**
 * The soft driver's send queue (FreeBSD `icl_soft_conn.to_send` and the tx
 * thread, freebsd-arch.md §3.4), for one connection.
 *
 * What it does:
 * - serializes each PDU when it is queued, with the digest settings of that
 *   moment (login switches digests on right after queueing the final Login
 *   Response, which must go out without them);
 * - coalesces the PDUs queued in one event-loop turn into one `nic.send` of
 *   all their wire parts (one `writev`), bounded by `maxCoalesceBytes`;
 * - stops handing PDUs to the NIC above `sendHighWater` (or when the NIC
 *   says so) and resumes on `drain` or on completions;
 * - completes each PDU exactly once, after the NIC's `done` for the send
 *   that carried it: borrowed references are released first, then the
 *   callback runs; a PDU queued on a closed connection, or still queued at
 *   `close()`, completes with `IclConnClosedError` on a later tick.
 *
 * What it does not do: framing details (icl-core's `serializePdu`), socket
 * I/O (the NIC driver), or splitting a PDU (a PDU always goes out whole).
 *
 * Buffer ownership: the wire parts of a queued PDU are its own BHS, digests
 * and padding, plus its data chunks by reference (borrowed ones included).
 * From `enqueue` until the PDU's completion the queue owns the PDU; the NIC
 * borrows the parts between `send` and its `done`. Nothing here writes into
 * a data chunk.
 */
import { serializePdu, type NicConn, type Pdu, type PduCompletion } from '@iscsi-target/icl-core/kpi';
import type { SoftDriverOptions } from './options.js';

/** A PDU between `enqueue` and its completion. */
interface SendEntry {
  readonly pdu: Pdu;
  readonly cb: PduCompletion | null;
  /** Wire parts from `serializePdu`. */
  readonly parts: Buffer[];
  /** Sum of `parts` lengths. */
  readonly bytes: number;
}

/** Rethrows an exception of a user callback outside the driver's bookkeeping. */
function reportCallbackError(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}

/** Completes one PDU: release borrowed references, then the callback. */
function complete(e: SendEntry, err: Error | null): void {
  e.pdu.releaseData();
  if (e.cb === null) return;
  try {
    e.cb(e.pdu, err);
  } catch (cbErr) {
    reportCallbackError(cbErr);
  }
}

export class SendQueue {
  readonly #options: SoftDriverOptions;
  #nic: NicConn | null = null;
  /** PDUs not yet handed to the NIC, oldest first from `#head`. */
  #queue: SendEntry[] = [];
  #head = 0;
  /** Wire bytes in `#queue`. */
  #queuedBytes = 0;
  /** Wire bytes handed to the NIC whose `done` has not fired. */
  #inFlightBytes = 0;
  #flushScheduled = false;
  /** The NIC returned false from `send` and has not emitted `drain` yet. */
  #nicBlocked = false;
  /** Set by `close()` or when the NIC is gone: no more sending. */
  #closedError: Error | null = null;
  /** Number of `nic.send` calls made (for tests and metrics). */
  nicSends = 0;

  constructor(options: SoftDriverOptions) {
    this.#options = options;
  }

  /** Wire bytes queued here or handed to the NIC and not yet completed. */
  get bytes(): number {
    return this.#queuedBytes + this.#inFlightBytes;
  }

  /** Starts sending through `nic` (PDUs queued before are flushed now). */
  attach(nic: NicConn): void {
    this.#nic = nic;
    if (this.#head < this.#queue.length) this.#scheduleFlush();
  }

  /**
   * Queues `pdu` (ownership passes to the queue). Throws RangeError, without
   * taking ownership, if the PDU cannot be serialized.
   */
  enqueue(pdu: Pdu, cb: PduCompletion | null, headerDigest: boolean, dataDigest: boolean): void {
    const closed = this.#closedError;
    if (closed !== null) {
      // As icl_soft's ENOTCONN (freebsd-arch.md §3.4): a PDU queued on a
      // closing connection completes with an error — here never synchronously.
      const e: SendEntry = { pdu, cb, parts: [], bytes: 0 };
      queueMicrotask(() => complete(e, closed));
      return;
    }
    const parts = serializePdu(pdu, { headerDigest, dataDigest });
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    this.#queue.push({ pdu, cb, parts, bytes });
    this.#queuedBytes += bytes;
    if (this.#nic !== null) this.#scheduleFlush();
  }

  /** The NIC went back under its high-water mark. */
  onDrain(): void {
    this.#nicBlocked = false;
    if (this.#head < this.#queue.length) this.#scheduleFlush();
  }

  /**
   * Stops sending. PDUs not yet handed to the NIC complete with `err` on a
   * later tick; PDUs the NIC has complete when its `done` fires.
   */
  close(err: Error): void {
    if (this.#closedError !== null) return;
    this.#closedError = err;
    const unsent = this.#queue.slice(this.#head);
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
    if (unsent.length !== 0) {
      queueMicrotask(() => {
        for (const e of unsent) complete(e, err);
      });
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    if (this.#options.flushScheduler === 'immediate') setImmediate(() => this.#flush());
    else queueMicrotask(() => this.#flush());
  }

  /** Hands queued PDUs to the NIC in coalesced sends while it has room. */
  #flush(): void {
    this.#flushScheduled = false;
    const nic = this.#nic;
    if (nic === null || this.#closedError !== null) return;
    const { coalesce, maxCoalesceBytes, sendHighWater } = this.#options;
    const queue = this.#queue;
    while (this.#head < queue.length) {
      if (this.#nicBlocked || nic.sendQueueBytes >= sendHighWater) break;
      const batch: SendEntry[] = [];
      const bufs: Buffer[] = [];
      let bytes = 0;
      do {
        const e = queue[this.#head]!;
        (queue as (SendEntry | undefined)[])[this.#head] = undefined;
        this.#head++;
        batch.push(e);
        for (const p of e.parts) bufs.push(p);
        bytes += e.bytes;
      } while (coalesce && this.#head < queue.length && bytes + queue[this.#head]!.bytes <= maxCoalesceBytes);
      this.#queuedBytes -= bytes;
      this.#inFlightBytes += bytes;
      this.nicSends++;
      const ok = nic.send(bufs, (err) => this.#onSent(batch, bytes, err));
      if (!ok) this.#nicBlocked = true;
    }
    if (this.#head === queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** The NIC is done with a coalesced send: complete its PDUs in order. */
  #onSent(batch: readonly SendEntry[], bytes: number, err: Error | null): void {
    this.#inFlightBytes -= bytes;
    for (const e of batch) complete(e, err);
    if (this.#head < this.#queue.length && this.#closedError === null) this.#scheduleFlush();
  }
}
