/**
 * Discovery sessions (SessionType=Discovery), served by the daemon itself
 * as ctld does (FreeBSD `discovery.c`), after a successful login.
 *
 * What it does, per received PDU (RFC 7143 full feature phase rules):
 * - Text Request: answers `SendTargets` (`send-targets.ts`); other keys
 *   are answered NotUnderstood (unknown, X- and X# keys) or Reject (keys
 *   this target does not renegotiate after login). A request text sent
 *   with the C bit is reassembled (each piece acknowledged by an empty
 *   response with F=0 and a Target Transfer Tag, RFC 7143 §11.11.4), up to
 *   a cap; a long answer is split at the initiator's
 *   MaxRecvDataSegmentLength over several responses with C=1, F=0 and a
 *   Target Transfer Tag, continued on each empty Text Request carrying that
 *   tag (RFC 7143 §11.10-11.11); the last has F=1 and TTT 0xffffffff;
 * - NOP-Out with a valid ITT: a NOP-In echoing its data (RFC 7143 §11.18);
 * - Logout Request: a Logout Response, then the connection is closed once
 *   the response was sent (reason "remove for recovery" is answered
 *   "recovery not supported": ERL 0);
 * - anything else (SCSI command, task management, Data-Out, SNACK, a Login
 *   Request in full feature phase, an unknown opcode): a Reject carrying
 *   the offending header, then the connection is dropped (ERL 0).
 * StatSN continues from the login and advances per status PDU; CmdSN
 * advances for non-immediate requests and must not go back. The session is
 * closed after `idleTimeoutMs` without a PDU.
 *
 * What it does not do: no SCSI, no digests (login never negotiates them on
 * discovery sessions); filtering is `send-targets.ts`'s.
 */
import {
  BHS_SIZE,
  Bhs,
  bhsSetDataSegmentLength,
  bhsSetOpcode,
  encodeTextKeys,
  Flag,
  IMMEDIATE_BIT,
  InitiatorOpcode,
  IclProtocolError,
  LogoutReason,
  LogoutRequestBhs,
  LogoutResponse,
  LogoutResponseBhs,
  NopBhs,
  parseTextKeys,
  RejectBhs,
  RejectReason,
  RESERVED_TAG,
  splitTextResponse,
  TargetOpcode,
  TextBhs,
  TextReassembler,
  type IclConn,
  type Pdu,
  type TextKeyList,
} from '@iscsi-target/icl-core';
import type { Logger } from './logger.js';
import { serialLt } from './serial.js';
import type { DiscoveryInitiator } from './auth/discovery-filter.js';
import { sendTargets, type DiscoveryCatalog } from './send-targets.js';

export interface DiscoveryOptions {
  readonly catalog: DiscoveryCatalog;
  /** The portal group the connection came in on. */
  readonly portalGroup: string;
  /** From the login: the next StatSN and the expected CmdSN. */
  readonly statSn: number;
  readonly cmdSn: number;
  /** The initiator's MaxRecvDataSegmentLength (capped by the driver): our largest data segment. */
  readonly maxSendDataSegmentLength: number;
  /** Cap on a request text reassembled from C-bit PDUs. */
  readonly maxTextLength: number;
  /** Close after this long without a PDU; 0 disables. */
  readonly idleTimeoutMs: number;
  readonly logger: Logger;
  /** Who logged in (name, address, CHAP), for `discovery-filter`. */
  readonly initiator?: DiscoveryInitiator;
}

/** CmdSN sits at byte 24 of every initiator request BHS (RFC 7143 §11.10.6, §11.14.6, §11.18.3). */
const CMDSN_OFFSET = TextBhs.cmdSnOrStatSn;

/** Keys answered Reject in full feature phase (known, but not renegotiated here). */
const KNOWN_KEYS = new Set([
  'HeaderDigest', 'DataDigest', 'MaxConnections', 'TargetName', 'InitiatorName', 'TargetAlias', 'InitiatorAlias',
  'TargetAddress', 'TargetPortalGroupTag', 'InitialR2T', 'ImmediateData', 'MaxRecvDataSegmentLength', 'MaxBurstLength',
  'FirstBurstLength', 'DefaultTime2Wait', 'DefaultTime2Retain', 'MaxOutstandingR2T', 'DataPDUInOrder',
  'DataSequenceInOrder', 'ErrorRecoveryLevel', 'SessionType', 'AuthMethod', 'OFMarker', 'IFMarker', 'OFMarkInt',
  'IFMarkInt', 'iSCSIProtocolLevel', 'TaskReporting',
]);

/**
 * Answers the keys of a full-feature Text Request other than SendTargets
 * (shared with the normal-session hook in `daemon.ts`).
 */
export function answerOtherKey(key: string): string {
  if (key.startsWith('X-') || key.startsWith('X#') || !KNOWN_KEYS.has(key)) return 'NotUnderstood';
  return 'Reject';
}

interface PendingResponse {
  readonly itt: number;
  readonly ttt: number;
  readonly lun: Buffer;
  readonly pieces: Buffer[];
  next: number;
}

/** One discovery session on a logged-in connection. */
export class DiscoverySession {
  readonly #conn: IclConn;
  readonly #o: DiscoveryOptions;
  readonly #onClosed: () => void;
  readonly #text: TextReassembler;
  #statSn: number;
  #expCmdSn: number;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #nextTtt = 1;
  /** A long answer being sent piece by piece. */
  #pending: PendingResponse | null = null;
  /** TTT given to the initiator while it sends a C-bit request text, or -1. */
  #requestTtt = -1;

  constructor(conn: IclConn, options: DiscoveryOptions, onClosed: () => void) {
    this.#conn = conn;
    this.#o = options;
    this.#onClosed = onClosed;
    this.#text = new TextReassembler(options.maxTextLength);
    this.#statSn = options.statSn >>> 0;
    this.#expCmdSn = options.cmdSn >>> 0;
  }

  /** Takes over `conn` (call synchronously after the login's final response). */
  start(): void {
    this.#conn.onReceive = (pdu) => this.#receive(pdu);
    this.#conn.onError = (_c, err) => {
      this.#o.logger.debug({ err }, 'discovery session: connection error');
      this.close();
    };
    this.#armTimer();
  }

  /** Closes the session and the connection (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    const conn = this.#conn;
    conn.onReceive = (p) => conn.pduFree(p);
    conn.onError = () => {};
    conn.close();
    conn.free();
    this.#onClosed();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #armTimer(): void {
    if (this.#o.idleTimeoutMs <= 0) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#o.logger.info({}, `discovery session idle for ${this.#o.idleTimeoutMs} ms; closing`);
      this.close();
    }, this.#o.idleTimeoutMs);
    this.#timer.unref();
  }

  #receive(pdu: Pdu): void {
    try {
      if (this.#closed) return;
      this.#armTimer();
      this.#handle(pdu);
    } catch (e) {
      this.#o.logger.error({ err: e }, 'discovery session: internal error');
      this.close();
    } finally {
      this.#conn.pduFree(pdu);
    }
  }

  #handle(pdu: Pdu): void {
    const bhs = pdu.bhs;
    switch (pdu.opcode) {
      case InitiatorOpcode.TextRequest:
        if (!this.#sequence(pdu)) return;
        this.#textRequest(pdu);
        return;
      case InitiatorOpcode.NopOut:
        if (!this.#sequence(pdu)) return;
        this.#nopOut(pdu);
        return;
      case InitiatorOpcode.LogoutRequest:
        if (!this.#sequence(pdu)) return;
        this.#logout(pdu);
        return;
      case InitiatorOpcode.LoginRequest:
        // RFC 7143 §6.3: a Login Request in full feature phase is a protocol error.
        this.#rejectAndDrop(bhs, RejectReason.ProtocolError, 'Login Request in full feature phase');
        return;
      case InitiatorOpcode.ScsiCommand:
      case InitiatorOpcode.TaskManagementRequest:
        // RFC 7143 §13.21: a discovery session carries only Text, NOP, Logout.
        this.#rejectAndDrop(bhs, RejectReason.CommandNotSupported, `opcode 0x${pdu.opcode.toString(16)} in a discovery session`);
        return;
      default:
        this.#rejectAndDrop(bhs, RejectReason.ProtocolError, `opcode 0x${pdu.opcode.toString(16)} in a discovery session`);
    }
  }

  /** CmdSN bookkeeping (RFC 7143 §4.2.2.1); false if the PDU was rejected. */
  #sequence(pdu: Pdu): boolean {
    const cmdSn = pdu.bhs.readUInt32BE(CMDSN_OFFSET);
    if (serialLt(cmdSn, this.#expCmdSn)) {
      this.#rejectAndDrop(pdu.bhs, RejectReason.ProtocolError, `CmdSN ${cmdSn} went back (expected ${this.#expCmdSn})`);
      return false;
    }
    // Non-immediate requests consume a CmdSN.
    if ((pdu.bhs[0]! & IMMEDIATE_BIT) === 0) this.#expCmdSn = (cmdSn + 1) >>> 0;
    return true;
  }

  #textRequest(pdu: Pdu): void {
    const bhs = pdu.bhs;
    const flags = bhs[TextBhs.flags]!;
    const cont = (flags & Flag.Continue) !== 0;
    const final = (flags & Flag.Final) !== 0;
    const itt = bhs.readUInt32BE(TextBhs.initiatorTaskTag);
    const ttt = bhs.readUInt32BE(TextBhs.targetTransferTag);
    const lun = Buffer.from(bhs.subarray(TextBhs.lun, TextBhs.lun + 8));
    // RFC 7143 §11.10.2: "A Text Request with the C bit set to 1 MUST have the F bit set to 0."
    if (cont && final) {
      this.#rejectAndDrop(bhs, RejectReason.ProtocolError, 'Text Request with both F and C set');
      return;
    }
    const p = this.#pending;
    if (p !== null && ttt === p.ttt && itt === p.itt) {
      // RFC 7143 §11.10.4: an empty request with our TTT asks for the next piece.
      this.#sendPiece(p);
      return;
    }
    if (ttt !== RESERVED_TAG && ttt !== this.#requestTtt) {
      this.#rejectAndDrop(bhs, RejectReason.InvalidPduField, `unknown Target Transfer Tag 0x${ttt.toString(16)}`);
      return;
    }
    // A new request (TTT 0xffffffff) abandons an answer in progress (RFC 7143 §11.10.4).
    this.#pending = null;
    const len = pdu.dataLength;
    const views = len === 0 ? [] : this.#conn.pduDataViews(pdu, 0, len);
    const data = views.length === 1 ? views[0]! : Buffer.concat(views, len);
    let whole: Buffer | null;
    let keys: TextKeyList;
    try {
      whole = this.#text.push(data, cont);
      if (whole === null) {
        // Acknowledge a partial request: empty response, F=0, a TTT to continue with.
        this.#requestTtt = this.#allocTtt();
        this.#sendText({ itt, ttt: this.#requestTtt, lun, final: false, cont: false, data: null });
        return;
      }
      this.#requestTtt = -1;
      keys = parseTextKeys(whole);
    } catch (e) {
      if (e instanceof IclProtocolError) {
        this.#rejectAndDrop(bhs, RejectReason.ProtocolError, e.message);
        return;
      }
      throw e;
    }
    const answer: TextKeyList = [];
    for (const [key, value] of keys) {
      if (key === 'SendTargets') {
        const list = sendTargets(value, {
          catalog: this.#o.catalog,
          portalGroup: this.#o.portalGroup,
          session: { type: 'Discovery' },
          localAddress: this.#conn.localAddress,
          ...(this.#o.initiator === undefined ? {} : { initiator: this.#o.initiator }),
        });
        for (const kv of list) answer.push(kv);
      } else {
        answer.push([key, answerOtherKey(key)]);
      }
    }
    this.#o.logger.debug({ request: keys, answered: answer.length }, 'discovery: text request');
    const text = encodeTextKeys(answer);
    const pieces = splitTextResponse(text, this.#o.maxSendDataSegmentLength);
    if (pieces.length === 1) {
      this.#sendText({ itt, ttt: RESERVED_TAG, lun, final: true, cont: false, data: pieces[0]! });
      return;
    }
    const pending: PendingResponse = { itt, ttt: this.#allocTtt(), lun, pieces, next: 0 };
    this.#pending = pending;
    this.#sendPiece(pending);
  }

  #sendPiece(p: PendingResponse): void {
    const piece = p.pieces[p.next++]!;
    const last = p.next === p.pieces.length;
    if (last) this.#pending = null;
    // RFC 7143 §11.11.2-4: C=1 and F=0 with a TTT while more text follows; F=1 and TTT 0xffffffff at the end.
    this.#sendText({ itt: p.itt, ttt: last ? RESERVED_TAG : p.ttt, lun: p.lun, final: last, cont: !last, data: piece });
  }

  #allocTtt(): number {
    const t = this.#nextTtt;
    this.#nextTtt = this.#nextTtt >= 0x7fffffff ? 1 : this.#nextTtt + 1;
    return t;
  }

  #sendText(r: { itt: number; ttt: number; lun: Buffer; final: boolean; cont: boolean; data: Buffer | null }): void {
    const pdu = this.#conn.newPdu();
    const bhs = pdu.bhs;
    bhs.fill(0);
    bhsSetOpcode(bhs, TargetOpcode.TextResponse);
    bhs[TextBhs.flags] = (r.final ? Flag.Final : 0) | (r.cont ? Flag.Continue : 0);
    r.lun.copy(bhs, TextBhs.lun);
    bhs.writeUInt32BE(r.itt, TextBhs.initiatorTaskTag);
    bhs.writeUInt32BE(r.ttt >>> 0, TextBhs.targetTransferTag);
    this.#status(bhs, TextBhs.cmdSnOrStatSn, TextBhs.expStatSnOrExpCmdSn, TextBhs.maxCmdSn);
    const len = r.data?.length ?? 0;
    // The answer text is ours and never modified: borrow it.
    if (r.data !== null && len > 0) this.#conn.pduAppendData(pdu, r.data, { noCopy: true });
    bhsSetDataSegmentLength(bhs, len);
    this.#conn.pduQueue(pdu);
  }

  /** StatSN (advancing), ExpCmdSN and MaxCmdSN at the given offsets. */
  #status(bhs: Buffer, statSnAt: number, expCmdSnAt: number, maxCmdSnAt: number): void {
    bhs.writeUInt32BE(this.#statSn, statSnAt);
    this.#statSn = (this.#statSn + 1) >>> 0;
    bhs.writeUInt32BE(this.#expCmdSn, expCmdSnAt);
    bhs.writeUInt32BE(this.#expCmdSn, maxCmdSnAt);
  }

  #nopOut(pdu: Pdu): void {
    const itt = pdu.bhs.readUInt32BE(NopBhs.initiatorTaskTag);
    // RFC 7143 §11.18: ITT 0xffffffff asks for no answer (and we never ping, so no TTT to match).
    if (itt === RESERVED_TAG) return;
    const reply = this.#conn.newPdu();
    const bhs = reply.bhs;
    bhs.fill(0);
    bhsSetOpcode(bhs, TargetOpcode.NopIn);
    bhs[1] = Flag.Final;
    pdu.bhs.copy(bhs, NopBhs.lun, NopBhs.lun, NopBhs.lun + 8);
    bhs.writeUInt32BE(itt, NopBhs.initiatorTaskTag);
    bhs.writeUInt32BE(RESERVED_TAG, NopBhs.targetTransferTag);
    this.#status(bhs, NopBhs.cmdSnOrStatSn, NopBhs.expStatSnOrExpCmdSn, NopBhs.maxCmdSn);
    // RFC 7143 §11.19: the ping data is returned. Views of the received segment stay valid.
    const len = pdu.dataLength;
    if (len > 0) for (const v of this.#conn.pduDataViews(pdu, 0, len)) this.#conn.pduAppendData(reply, v, { noCopy: true });
    bhsSetDataSegmentLength(bhs, len);
    this.#conn.pduQueue(reply);
  }

  #logout(pdu: Pdu): void {
    const reason = pdu.bhs[LogoutRequestBhs.reasonCode]! & 0x7f;
    const reply = this.#conn.newPdu();
    const bhs = reply.bhs;
    bhs.fill(0);
    bhsSetOpcode(bhs, TargetOpcode.LogoutResponse);
    bhs[1] = Flag.Final;
    // RFC 7143 §11.15.1: at ERL 0 there is no connection recovery.
    bhs[LogoutResponseBhs.response] =
      reason === LogoutReason.RemoveConnectionForRecovery ? LogoutResponse.RecoveryNotSupported : LogoutResponse.ClosedSuccessfully;
    bhs.writeUInt32BE(pdu.bhs.readUInt32BE(LogoutRequestBhs.initiatorTaskTag), LogoutResponseBhs.initiatorTaskTag);
    this.#status(bhs, LogoutResponseBhs.statSn, LogoutResponseBhs.expCmdSn, LogoutResponseBhs.maxCmdSn);
    this.#o.logger.debug({ reason }, 'discovery: logout');
    this.#queueThenClose(reply);
  }

  /** RFC 7143 §11.17: a Reject carries the rejected BHS; at ERL 0 the connection is then dropped. */
  #rejectAndDrop(rejected: Buffer, reason: number, why: string): void {
    this.#o.logger.info({ reason }, `discovery: rejecting PDU and closing: ${why}`);
    const reply = this.#conn.newPdu();
    const bhs = reply.bhs;
    bhs.fill(0);
    bhsSetOpcode(bhs, TargetOpcode.Reject);
    bhs[1] = Flag.Final;
    bhs[RejectBhs.reason] = reason;
    // RFC 7143 §11.17: the ITT of a Reject is reserved (0xffffffff).
    bhs.writeUInt32BE(RESERVED_TAG, Bhs.initiatorTaskTag);
    this.#status(bhs, RejectBhs.statSn, RejectBhs.expCmdSn, RejectBhs.maxCmdSn);
    this.#conn.pduAppendData(reply, Buffer.from(rejected.subarray(0, BHS_SIZE)), { noCopy: true });
    bhsSetDataSegmentLength(bhs, BHS_SIZE);
    this.#queueThenClose(reply);
  }

  /** Sends `pdu`, then closes once it was sent (or after a bounded wait). */
  #queueThenClose(pdu: Pdu): void {
    this.#pending = null;
    const timer = setTimeout(() => this.close(), 5000);
    timer.unref();
    // Stop reading further requests; the session is over.
    this.#conn.onReceive = (p) => this.#conn.pduFree(p);
    this.#conn.pduQueueCb(pdu, () => {
      clearTimeout(timer);
      this.close();
    });
  }
}
