/**
 * `SoftConn`: one connection of the software ICL driver (FreeBSD
 * `struct icl_soft_conn` in `icl_soft.c`) over any NIC driver.
 *
 * What it does: `handoff(nic)` takes over a connected NIC connection and
 * starts receiving; `pduQueue`/`pduQueueCb` queue PDUs for transmission with
 * truthful completions (borrowed memory is referenced, never copied, and
 * released only after the NIC's `done` — DESIGN.md §3.1); `close()` stops
 * I/O, completes queued PDUs with `IclConnClosedError` and closes the NIC
 * gracefully; a fatal receive error or the loss of the transport is
 * reported once through `onError`.
 *
 * What it does not do: login, sequence numbers or any iSCSI semantics (the
 * frontend and the daemon do that); error recovery (ERL 0: every error is
 * fatal to the connection, as in FreeBSD); hardware offload (`hwIsoMax`
 * stays 0, `transferSetup`/`taskSetup` keep the no-op defaults).
 *
 * Buffer ownership: see `send.ts` (transmit: data chunks by reference until
 * the NIC is done) and `receive.ts` (receive: data segments are views of
 * received Buffers, owned by the PDU handed to `onReceive`).
 */
import {
  IclConnBase,
  IclConnClosedError,
  IclDriverError,
  type IclConnOptions,
  type NicConn,
  type Pdu,
  type PduCompletion,
} from '@iscsi-target/icl-core/kpi';
import type { SoftDriverOptions } from './options.js';
import { Receiver } from './receive.js';
import { SendQueue } from './send.js';

export class SoftConn extends IclConnBase {
  readonly offload = 'none';
  readonly #options: SoftDriverOptions;
  readonly #send: SendQueue;
  readonly #receive: Receiver;
  #nic: NicConn | null = null;
  #disconnecting = false;
  /** `onError` was delivered (or must not be any more). */
  #failed = false;
  #freed = false;

  constructor(options: IclConnOptions, driverOptions: SoftDriverOptions) {
    super(options);
    this.#options = driverOptions;
    this.#send = new SendQueue(driverOptions);
    this.#receive = new Receiver(this, driverOptions, (err) => this.#fail(err));
  }

  get disconnecting(): boolean {
    return this.#disconnecting;
  }

  /**
   * Wire bytes of PDUs queued and not yet completed (waiting in the driver,
   * or handed to the NIC). A producer that wants to bound memory when the
   * peer stops reading compares it with `sendHighWater` and waits.
   */
  get sendQueueBytes(): number {
    return this.#send.bytes;
  }

  /** The driver's tunables for this connection. */
  get options(): Readonly<SoftDriverOptions> {
    return this.#options;
  }

  /** Received bytes not yet delivered as PDUs (at most about one PDU, or one turn's backlog). */
  get receiveBufferedBytes(): number {
    return this.#receive.bufferedBytes;
  }

  /** Number of NIC sends so far (each carries one or more coalesced PDUs). */
  get nicSends(): number {
    return this.#send.nicSends;
  }

  /** The soft driver borrows `noCopy` data: it never copies payload on transmit. */
  protected override get canBorrow(): boolean {
    return true;
  }

  handoff(nic: NicConn): void {
    if (this.#nic !== null) throw new IclDriverError('icl-soft: connection already handed off');
    if (this.#disconnecting) throw new IclDriverError('icl-soft: handoff on a closed connection');
    this.#nic = nic;
    this.remoteAddress = nic.remoteAddress;
    this.remotePort = nic.remotePort;
    this.localAddress = nic.localAddress;
    this.localPort = nic.localPort;
    this.#receive.attach(nic);
    this.#send.attach(nic);
    nic.setHandlers({
      data: (buf) => this.#receive.onData(buf),
      drain: () => this.#send.onDrain(),
      close: (err) => this.#onNicClose(err),
    });
  }

  pduQueue(pdu: Pdu): void {
    this.#send.enqueue(pdu, null, this.headerDigest, this.dataDigest);
  }

  override pduQueueCb(pdu: Pdu, cb: PduCompletion): void {
    this.#send.enqueue(pdu, cb, this.headerDigest, this.dataDigest);
  }

  /**
   * Stops I/O: no more `onReceive`, PDUs not yet handed to the NIC complete
   * with `IclConnClosedError`, PDUs the NIC has complete when it is done
   * with them, and the NIC flushes and closes. `onError` is not called. To
   * get a last PDU (a Logout Response) onto the wire, queue it with
   * `pduQueueCb` and close in its callback.
   */
  close(): void {
    if (this.#disconnecting) return;
    this.#disconnecting = true;
    this.#failed = true;
    this.#receive.stop();
    this.#send.close(new IclConnClosedError('connection closed'));
    this.#nic?.close();
  }

  /** Releases the connection; closes it first if needed. Idempotent. */
  free(): void {
    if (this.#freed) return;
    this.close();
    this.#freed = true;
  }

  /** A fatal error: stop receiving, report once (not after a local close). */
  #fail(err: Error): void {
    this.#receive.stop();
    this.#nic?.pauseReceive();
    if (this.#failed) return;
    this.#failed = true;
    this.onError(this, err);
  }

  #onNicClose(err: Error | null): void {
    const e = err ?? new IclConnClosedError('connection closed by peer');
    // The transport is gone: nothing queued can be sent any more.
    this.#send.close(e);
    this.#fail(e);
  }
}
