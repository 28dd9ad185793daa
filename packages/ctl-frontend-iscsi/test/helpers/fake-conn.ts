/**
 * A fake ICL connection for frontend tests: records every queued PDU (a
 * snapshot of its BHS and data plus the chunks themselves), completes
 * queued PDUs only when the test says so (`complete*`), and lets the test
 * inject received PDUs (`receive`). It checks the ownership rules the
 * frontend must follow: every received PDU freed exactly once, nothing
 * queued after `free`.
 *
 * Uses the driver door (`/kpi`) — allowed in tests only.
 */
import type { Pdu} from '@iscsi-target/icl-core/kpi';
import { IclConnBase, type DataChunk, type NicConn, type PduCompletion } from '@iscsi-target/icl-core/kpi';

export interface SentPdu {
  /** Copy of the BHS at queue time. */
  readonly bhs: Buffer;
  /** Copy of the data segment at queue time. */
  readonly data: Buffer;
  /** The chunks as queued (identity of borrowed buffers, their refs). */
  readonly chunks: DataChunk[];
  readonly pdu: Pdu;
  readonly cb: PduCompletion | null;
  completed: boolean;
}

export class FakeIclConn extends IclConnBase {
  readonly offload = 'fake';
  readonly sent: SentPdu[] = [];
  #disconnecting = false;
  closed = false;
  freed = false;
  closeCalls = 0;
  /** Received PDUs handed to the frontend, and how often each was freed. */
  readonly received = new Map<Pdu, number>();
  readonly transferSetups: Array<{ ttt: number; wire: number }> = [];
  readonly transferDones: unknown[] = [];
  /** If set, `transferSetup` rewrites the TTT (as an offload driver may). */
  rewriteTtt: ((ttt: number) => number) | null = null;
  /** Complete every queued PDU automatically on the next turn. */
  autoComplete = false;
  override hwIsoMax = 0;

  constructor(options: { maxSend?: number; maxRecv?: number } = {}) {
    super({ name: 'fake' });
    this.maxSendDataSegmentLength = options.maxSend ?? 8192;
    this.maxRecvDataSegmentLength = options.maxRecv ?? 8192;
    this.remoteAddress = '192.0.2.1';
    this.remotePort = 51000;
  }

  get disconnecting(): boolean {
    return this.#disconnecting;
  }

  /** Hands a PDU to the frontend as if it had been received. */
  receive(pdu: Pdu): void {
    this.received.set(pdu, 0);
    this.onReceive(pdu);
  }

  override pduFree(pdu: Pdu): void {
    const n = this.received.get(pdu);
    if (n !== undefined) {
      if (n > 0) throw new Error('received PDU freed twice');
      this.received.set(pdu, n + 1);
    }
    super.pduFree(pdu);
  }

  /** Received PDUs the frontend has not freed (yet). */
  unfreedReceived(): Pdu[] {
    return [...this.received].filter(([, n]) => n === 0).map(([p]) => p);
  }

  pduQueue(pdu: Pdu): void {
    this.#record(pdu, null);
  }

  /** This fake completes PDUs truthfully (`pduQueueCb` below), so it borrows `noCopy` data. */
  protected override get canBorrow(): boolean {
    return true;
  }

  override pduQueueCb(pdu: Pdu, cb: PduCompletion): void {
    this.#record(pdu, cb);
  }

  #record(pdu: Pdu, cb: PduCompletion | null): void {
    if (this.freed) throw new Error('PDU queued on a freed connection');
    const data = Buffer.alloc(pdu.dataLength);
    let pos = 0;
    for (const c of pdu.data) pos += c.buf.copy(data, pos);
    const entry: SentPdu = { bhs: Buffer.from(pdu.bhs), data, chunks: [...pdu.data], pdu, cb, completed: false };
    this.sent.push(entry);
    if (this.#disconnecting) {
      setImmediate(() => this.#complete(entry, new Error('connection is closing')));
    } else if (this.autoComplete) {
      setImmediate(() => this.#complete(entry, null));
    }
  }

  #complete(entry: SentPdu, error: Error | null): void {
    if (entry.completed) return;
    entry.completed = true;
    entry.pdu.releaseData();
    entry.cb?.(entry.pdu, error);
  }

  /** Completes every PDU queued so far that is not completed. */
  completeAll(error: Error | null = null): void {
    for (const e of [...this.sent]) this.#complete(e, error);
  }

  /** Completes one sent PDU (by index into `sent`). */
  completeAt(index: number, error: Error | null = null): void {
    const e = this.sent[index];
    if (e === undefined) throw new Error(`no sent PDU ${index}`);
    this.#complete(e, error);
  }

  handoff(_nic: NicConn): void {}

  close(): void {
    this.closeCalls++;
    if (this.#disconnecting) return;
    this.#disconnecting = true;
    this.closed = true;
    for (const e of [...this.sent]) if (!e.completed) setImmediate(() => this.#complete(e, new Error('connection closed')));
  }

  free(): void {
    this.freed = true;
  }

  /** Simulates a transport failure reported upward. */
  fail(err: Error): void {
    this.onError(this, err);
  }

  override transferSetup(requestPdu: Pdu, ttt: number): { ttt: number; prv: unknown } {
    const wire = this.rewriteTtt ? this.rewriteTtt(ttt) : ttt;
    this.transferSetups.push({ ttt, wire });
    void requestPdu;
    return { ttt: wire, prv: { ttt: wire } };
  }

  override transferDone(prv: unknown): void {
    this.transferDones.push(prv);
  }

  /** Sent PDUs with the given opcode. */
  sentOf(opcode: number): SentPdu[] {
    return this.sent.filter((s) => (s.bhs[0]! & 0x3f) === opcode);
  }
}
