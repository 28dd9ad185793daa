/**
 * The ICL connection contract (FreeBSD `icl_conn` + `icl_conn_if.m`) and a
 * base class that gives every driver the generic methods and the defaults of
 * the optional ones.
 *
 * What it does: PDU allocation, freeing, appending data (copy or borrow),
 * reading received data (copy or views), the default `pduQueueCb` for drivers
 * that always copy, and no-op transfer/task hooks.
 *
 * What it does not do: move bytes. `pduQueue`, `handoff`, `close` and `free`
 * are the driver's.
 *
 * Completion contract of `pduQueueCb(pdu, cb)` (DESIGN.md §3.1), which every
 * driver must honour and the conformance kit in icl-offload-kpi checks:
 * 1. `cb(pdu, error)` is called exactly once per queued PDU;
 * 2. after the driver and everything below it (the NIC driver) no longer
 *    touch any memory the PDU borrowed, and after the PDU's borrowed
 *    references have been released;
 * 3. `error` is null, or the first error recorded (connection closed, write
 *    failed);
 * 4. never synchronously inside `pduQueueCb` (no caller is re-entered);
 * 5. in any order relative to other PDUs, possibly long after the command,
 *    the session or the LUN are gone;
 * 6. the PDU is invalid after queueing; the callback may read its BHS but
 *    must not keep it.
 * Freeing a PDU that was never queued (`pduFree`) releases its borrowed
 * references.
 */
import { type CopyCounters, iclCopyCounters } from './counters.js';
import type { NicConn } from './nic.js';
import { bhsDataSegmentLength, Pdu, type BufRef } from './pdu.js';

export type PduCompletion = (pdu: Pdu, error: Error | null) => void;

export interface AppendOptions {
  /**
   * Borrow `buf` instead of copying it (FreeBSD `ICL_NOCOPY`). The caller
   * must not modify `buf` until the PDU's completion (`pduQueueCb`) or until
   * `pduFree`. A driver that cannot borrow copies instead and counts it.
   */
  noCopy?: boolean;
  /**
   * With `noCopy`: a reference on the memory's owner. The PDU retains it
   * once now and releases it once when the transport is done with the bytes
   * (or at `pduFree`). Must not capture the I/O, LUN or session.
   */
  ref?: BufRef;
}

/** Limits a driver reports (FreeBSD `icl_drv_limits`); 0 = no opinion. */
export interface IclDrvLimits {
  maxRecvDataSegmentLength: number;
  /** Implementation cap on what we send, whatever the initiator allows. */
  maxSendDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
}

export interface IclConnOptions {
  /** Name for logs, e.g. the initiator address. */
  name: string;
  /** Where copies are counted; defaults to the process-wide counters. */
  counters?: CopyCounters;
}

/** An ICL driver module (FreeBSD `struct icl_module`). */
export interface IclDriver {
  /** Name used by `offload <name>`; the soft driver is "none". */
  readonly name: string;
  readonly iser: boolean;
  /** Highest priority wins when no name is asked for. Offload drivers < 0. */
  readonly priority: number;
  /** Limits for a given accepted connection (the adapter is known only then). */
  limits(nic: NicConn | null): IclDrvLimits;
  newConn(options: IclConnOptions): IclConn;
}

/** An ICL connection, as its users see it. */
export interface IclConn {
  /** The driver name ("none" for the soft driver). */
  readonly offload: string;
  readonly name: string;
  /** Negotiated: largest data segment we accept (our MaxRecvDataSegmentLength). */
  maxRecvDataSegmentLength: number;
  /** Negotiated: largest data segment we send (initiator's MRDSL, capped by the driver). */
  maxSendDataSegmentLength: number;
  headerDigest: boolean;
  dataDigest: boolean;
  /** If > 0 the driver splits Data-In up to this size itself (ISO). 0 for soft. */
  readonly hwIsoMax: number;
  /** Set once `close` started; queueing afterwards completes with an error. */
  readonly disconnecting: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly counters: CopyCounters;

  /** Upcall: a complete PDU arrived; the handler owns it (must `pduFree` it). */
  onReceive: (pdu: Pdu) => void;
  /** Upcall: fatal connection error (protocol error, digest, reset). Once. */
  onError: (conn: IclConn, err: Error) => void;

  newPdu(): Pdu;
  /** Frees a PDU that will not be queued; releases its borrowed references. */
  pduFree(pdu: Pdu): void;
  pduDataSegmentLength(pdu: Pdu): number;
  /** Appends `buf` to the data segment, copying unless `options.noCopy`. */
  pduAppendData(pdu: Pdu, buf: Buffer, options?: AppendOptions): void;
  /** Copies `length` bytes from offset `offset` of the data segment into `dst`. Counted as a copy. */
  pduGetData(pdu: Pdu, offset: number, dst: Buffer, dstOffset?: number, length?: number): void;
  /**
   * Views of `length` bytes from offset `offset` of a received data segment,
   * without copying. The views stay valid as long as they are referenced
   * (received memory is never reused). Counted as referenced.
   */
  pduDataViews(pdu: Pdu, offset: number, length: number): Buffer[];
  /** Transmits the PDU; ownership passes to the driver. */
  pduQueue(pdu: Pdu): void;
  /** Transmits and calls `cb` per the completion contract above. */
  pduQueueCb(pdu: Pdu, cb: PduCompletion): void;
  /** Takes over a connected transport and starts receiving. */
  handoff(nic: NicConn): void;
  /** Stops I/O, closes the transport, completes queued PDUs with an error. */
  close(): void;
  /** Releases the connection object. */
  free(): void;
  /**
   * Before an R2T: lets an offload driver set up direct data placement and
   * rewrite the Target Transfer Tag. Default: keep `ttt`, no private state.
   */
  transferSetup(requestPdu: Pdu, ttt: number): { ttt: number; prv: unknown };
  transferDone(prv: unknown): void;
  taskSetup(requestPdu: Pdu, itt: number): { itt: number; prv: unknown };
  taskDone(prv: unknown): void;
}

/**
 * Generic parts of a connection. A driver extends this and implements
 * `pduQueue`, `handoff`, `close` and `free`; a driver that can borrow memory
 * truthfully also overrides `pduQueueCb`.
 */
export abstract class IclConnBase implements IclConn {
  abstract readonly offload: string;
  readonly name: string;
  readonly counters: CopyCounters;
  maxRecvDataSegmentLength = 8192;
  maxSendDataSegmentLength = 8192;
  headerDigest = false;
  dataDigest = false;
  readonly hwIsoMax: number = 0;
  remoteAddress = '';
  remotePort = 0;
  localAddress = '';
  localPort = 0;
  onReceive: (pdu: Pdu) => void = () => {
    throw new Error('IclConn.onReceive not set');
  };
  onError: (conn: IclConn, err: Error) => void = () => {};

  constructor(options: IclConnOptions) {
    this.name = options.name;
    this.counters = options.counters ?? iclCopyCounters;
  }

  abstract get disconnecting(): boolean;
  abstract pduQueue(pdu: Pdu): void;
  abstract handoff(nic: NicConn): void;
  abstract close(): void;
  abstract free(): void;

  newPdu(): Pdu {
    return new Pdu();
  }

  pduFree(pdu: Pdu): void {
    pdu.releaseData();
  }

  pduDataSegmentLength(pdu: Pdu): number {
    return bhsDataSegmentLength(pdu.bhs);
  }

  /**
   * Whether this driver borrows `noCopy` data (false: it copies and counts).
   * False by default, to agree with the default `pduQueueCb`, which completes
   * right after queueing and is only truthful for a driver that copies: a
   * driver that borrows must also override `pduQueueCb` to complete when it
   * no longer touches the memory, and then overrides this to return true.
   */
  protected get canBorrow(): boolean {
    return false;
  }

  pduAppendData(pdu: Pdu, buf: Buffer, options?: AppendOptions): void {
    if (buf.length === 0) return;
    if (options?.noCopy === true && this.canBorrow) {
      const ref = options.ref ?? null;
      ref?.retain();
      pdu.data.push({ buf, ref });
      this.counters.referencedOut += buf.length;
    } else {
      pdu.data.push({ buf: Buffer.from(buf), ref: null });
      this.counters.copiedOut += buf.length;
    }
    pdu.dataLength += buf.length;
  }

  pduGetData(pdu: Pdu, offset: number, dst: Buffer, dstOffset = 0, length = pdu.dataLength - offset): void {
    if (offset < 0 || length < 0 || offset + length > pdu.dataLength || dstOffset + length > dst.length) {
      throw new RangeError('pduGetData out of range');
    }
    let pos = 0;
    let left = length;
    let out = dstOffset;
    for (const { buf } of pdu.data) {
      if (left === 0) break;
      const end = pos + buf.length;
      if (end > offset) {
        const from = Math.max(0, offset - pos);
        const n = Math.min(buf.length - from, left);
        buf.copy(dst, out, from, from + n);
        out += n;
        left -= n;
      }
      pos = end;
    }
    this.counters.copiedIn += length;
  }

  pduDataViews(pdu: Pdu, offset: number, length: number): Buffer[] {
    if (offset < 0 || length < 0 || offset + length > pdu.dataLength) {
      throw new RangeError('pduDataViews out of range');
    }
    const views: Buffer[] = [];
    let pos = 0;
    let left = length;
    for (const { buf } of pdu.data) {
      if (left === 0) break;
      const end = pos + buf.length;
      if (end > offset) {
        const from = Math.max(0, offset - pos);
        const n = Math.min(buf.length - from, left);
        views.push(from === 0 && n === buf.length ? buf : buf.subarray(from, from + n));
        left -= n;
      }
      pos = end;
    }
    this.counters.referencedIn += length;
    return views;
  }

  /**
   * Default for drivers that always copy: queue, then complete on a later
   * turn of the event loop. Truthful only if `pduQueue` never keeps a
   * reference to borrowed memory — a driver that borrows must override.
   */
  pduQueueCb(pdu: Pdu, cb: PduCompletion): void {
    const error = this.disconnecting ? new Error('connection is closing') : null;
    this.pduQueue(pdu);
    setImmediate(() => cb(pdu, error));
  }

  transferSetup(_requestPdu: Pdu, ttt: number): { ttt: number; prv: unknown } {
    return { ttt, prv: undefined };
  }

  transferDone(_prv: unknown): void {}

  taskSetup(_requestPdu: Pdu, itt: number): { itt: number; prv: unknown } {
    return { itt, prv: undefined };
  }

  taskDone(_prv: unknown): void {}
}
