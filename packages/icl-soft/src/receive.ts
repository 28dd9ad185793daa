/**
 * The soft driver's receive path (FreeBSD `icl_soft` rx thread and
 * `icl_conn_receive_pdus`, freebsd-arch.md §3.3), for one connection.
 *
 * What it does: feeds the Buffers the NIC delivers into icl-core's
 * `PduParser` and upcalls `conn.onReceive(pdu)` once per complete PDU.
 * Before each `next()` the parser's digest and MaxRecvDataSegmentLength
 * settings are synced from the connection (login turns digests on between
 * two PDUs). At most `receiveBatchPdus` PDUs / `receiveBatchBytes` data
 * bytes are delivered per event-loop turn; the rest waits in the parser with
 * the NIC paused, so one busy connection cannot starve the others and the
 * parser never holds more than one turn's worth of backlog. A protocol
 * error (digest, DataSegmentLength over the limit, AHS) is terminal: it is
 * reported once through `fail`, then nothing more is delivered.
 *
 * What it does not do: interpret PDUs (the iSCSI frontend does), or copy
 * payload — data segments are views of the received Buffers.
 *
 * Buffer ownership: Buffers from the NIC pass to the parser and then, as
 * views, to the PDUs, which pass to the `onReceive` handler (who must
 * `pduFree` them). Received memory is never written or reused here.
 * The parser bounds what it buffers for one PDU: it refuses a
 * DataSegmentLength over our MaxRecvDataSegmentLength as soon as the BHS
 * (and header digest) are in (RFC 7143 §13.12), so a peer that never
 * completes a PDU cannot make us hold more than one maximal PDU.
 */
import { IclError, PduParser, type IclConn, type NicConn, type Pdu } from '@iscsi-target/icl-core/kpi';
import type { SoftDriverOptions } from './options.js';

export class Receiver {
  readonly #conn: IclConn;
  readonly #options: SoftDriverOptions;
  readonly #fail: (err: Error) => void;
  #parser: PduParser | null;
  #nic: NicConn | null = null;
  /** A continuation of delivery is scheduled (the NIC is paused meanwhile). */
  #backlog = false;
  #stopped = false;
  /** PDUs delivered in total (for tests and metrics). */
  pdusDelivered = 0;

  /**
   * `conn` supplies the negotiated settings and the `onReceive` upcall;
   * `fail` is called once with a protocol error.
   */
  constructor(conn: IclConn, options: SoftDriverOptions, fail: (err: Error) => void) {
    this.#conn = conn;
    this.#options = options;
    this.#fail = fail;
    this.#parser = new PduParser({
      headerDigest: conn.headerDigest,
      dataDigest: conn.dataDigest,
      maxRecvDataSegmentLength: conn.maxRecvDataSegmentLength,
    });
  }

  /** Bytes received and not yet delivered in PDUs (a partial PDU, or a yielded backlog). */
  get bufferedBytes(): number {
    return this.#parser?.bufferedBytes ?? 0;
  }

  attach(nic: NicConn): void {
    this.#nic = nic;
  }

  /** NIC `data` upcall: ownership of `buf` passes to the parser. */
  onData(buf: Buffer): void {
    const parser = this.#parser;
    if (parser === null) return;
    parser.push(buf);
    if (!this.#backlog) this.#deliver();
  }

  /** Stops delivery for good and drops what was buffered. */
  stop(): void {
    this.#stopped = true;
    this.#parser = null;
  }

  #deliver(): void {
    const conn = this.#conn;
    const { receiveBatchPdus, receiveBatchBytes } = this.#options;
    let pdus = 0;
    let bytes = 0;
    for (;;) {
      const parser = this.#parser;
      if (parser === null || this.#stopped) return;
      if (pdus >= receiveBatchPdus || bytes >= receiveBatchBytes) {
        this.#yield();
        return;
      }
      parser.headerDigest = conn.headerDigest;
      parser.dataDigest = conn.dataDigest;
      parser.maxRecvDataSegmentLength = conn.maxRecvDataSegmentLength;
      let pdu: Pdu | null;
      try {
        pdu = parser.next();
      } catch (err) {
        if (!(err instanceof IclError)) throw err;
        this.stop();
        this.#fail(err);
        return;
      }
      if (pdu === null) break;
      pdus++;
      bytes += pdu.dataLength;
      this.pdusDelivered++;
      try {
        conn.onReceive(pdu);
      } catch (err) {
        // A throwing handler is a bug in the ICL user: report it as an
        // uncaught exception, outside the driver's bookkeeping.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    if (this.#backlog) {
      this.#backlog = false;
      this.#nic?.resumeReceive();
    }
  }

  /** Pauses the NIC and continues delivering on the next turn. */
  #yield(): void {
    if (!this.#backlog) {
      this.#backlog = true;
      this.#nic?.pauseReceive();
    }
    setImmediate(() => this.#deliver());
  }
}
