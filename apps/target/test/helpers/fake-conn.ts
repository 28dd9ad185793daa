/**
 * An in-memory `IclConn` for unit tests of the login and discovery code:
 * queued PDUs are recorded (their data segment flattened), completions run
 * on a later turn, `close`/`free` are recorded. Received PDUs are delivered
 * by calling `deliver`.
 */
import { IclConnBase, Pdu, type NicConn, type PduCompletion } from '@iscsi-target/icl-core/kpi';

export interface SentPdu {
  readonly bhs: Buffer;
  readonly data: Buffer;
}

export class FakeConn extends IclConnBase {
  readonly offload = 'fake';
  readonly sent: SentPdu[] = [];
  closed = false;
  freed = false;
  /** Completions withheld when set (to test close timeouts). */
  holdCompletions = false;

  constructor(name = 'fake') {
    super({ name });
    this.remoteAddress = '192.0.2.1';
    this.remotePort = 50000;
    this.localAddress = '192.0.2.10';
    this.localPort = 3260;
  }

  get disconnecting(): boolean {
    return this.closed;
  }

  pduQueue(pdu: Pdu): void {
    const data = Buffer.concat(pdu.data.map((c) => c.buf));
    this.sent.push({ bhs: Buffer.from(pdu.bhs), data });
    pdu.releaseData();
  }

  /** This fake completes PDUs truthfully (`pduQueueCb` below), so it borrows `noCopy` data. */
  protected override get canBorrow(): boolean {
    return true;
  }

  override pduQueueCb(pdu: Pdu, cb: PduCompletion): void {
    const err = this.closed ? new Error('closed') : null;
    this.pduQueue(pdu);
    if (!this.holdCompletions) setImmediate(() => cb(pdu, err));
  }

  handoff(_nic: NicConn): void {}

  close(): void {
    this.closed = true;
  }

  free(): void {
    this.freed = true;
  }

  /** Delivers a received PDU (BHS + data) to `onReceive`. */
  deliver(bhs: Buffer, data: Buffer = Buffer.alloc(0)): void {
    const pdu = new Pdu(Buffer.from(bhs));
    if (data.length > 0) {
      pdu.data.push({ buf: Buffer.from(data), ref: null });
      pdu.dataLength = data.length;
    }
    this.onReceive(pdu);
  }
}
