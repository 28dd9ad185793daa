/**
 * Per-command frontend state of a SCSI command (FreeBSD's
 * `CTL_PRIV_FRONTEND` area plus the saved request PDU), stored in
 * `ScsiIo.fePriv` so that `port.datamove`/`port.done` find their session.
 *
 * What it does: keeps what later PDUs of the command need — ITT, the raw LUN
 * field, ExpectedDataTransferLength, R/W bits, DataSN/R2TSN counters, the
 * "status already sent" flag (phase collapse), the request PDU (for
 * `transferSetup` and its immediate data) and the Data-Out state.
 *
 * What it does not do: no I/O, no protocol decisions.
 *
 * Buffer ownership: `requestPdu` is a received PDU owned by this command
 * until `release()`; its BHS may be a view of a receive buffer, which is
 * never reused by the driver, so keeping it is safe.
 */
import type { IclConn, Pdu } from '@iscsi-target/icl-core';
import type { ScsiIo } from '@iscsi-target/ctl-core';
import type { DataOutState } from './data-out.js';
import type { IscsiSession } from './session.js';

export class IscsiCommand {
  readonly session: IscsiSession;
  readonly io: ScsiIo;
  readonly initiatorTaskTag: number;
  /** The LUN field of the request, as two big-endian words (copied into R2Ts). */
  readonly lunHi: number;
  readonly lunLo: number;
  readonly expectedDataTransferLength: number;
  /** R bit of the request. */
  readonly read: boolean;
  /** W bit of the request. */
  readonly write: boolean;
  /** The SCSI Command PDU; null once released. */
  requestPdu: Pdu | null;
  /** DataSN of the next Data-In PDU = the number of Data-In PDUs sent so far. */
  dataSn = 0;
  /** Bytes sent in the current Data-In sequence (F closes a sequence at MaxBurstLength). */
  dataInSequenceBytes = 0;
  /** R2TSN of the next R2T = the number of R2Ts sent so far. */
  r2tSn = 0;
  /** Status went out in the final Data-In (phase collapse): no SCSI Response. */
  statusSent = false;
  /** Data-Out state of a command with the W bit; null otherwise. */
  dataOut: DataOutState | null = null;
  /** `performance.now()` when the SCSI Command PDU arrived (for the command observer). */
  readonly startedAt = performance.now();
  /** Payload bytes queued in Data-In PDUs so far. */
  dataInBytes = 0;
  /** Payload bytes of the Data-Out datamoves the backend asked for so far. */
  dataOutBytes = 0;

  constructor(
    session: IscsiSession,
    io: ScsiIo,
    request: Pdu,
    init: { initiatorTaskTag: number; lunHi: number; lunLo: number; expectedDataTransferLength: number; read: boolean; write: boolean },
  ) {
    this.session = session;
    this.io = io;
    this.requestPdu = request;
    this.initiatorTaskTag = init.initiatorTaskTag;
    this.lunHi = init.lunHi;
    this.lunLo = init.lunLo;
    this.expectedDataTransferLength = init.expectedDataTransferLength;
    this.read = init.read;
    this.write = init.write;
  }

  /** Frees the request PDU (idempotent). */
  release(conn: IclConn): void {
    const pdu = this.requestPdu;
    this.requestPdu = null;
    if (pdu !== null) conn.pduFree(pdu);
  }
}
