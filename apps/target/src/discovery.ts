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
 * The PDU mechanics are the iSCSI frontend's (`ctl-frontend-iscsi`): Text
 * continuation (`TextExchange`), the NOP-In echo, Logout Response and
 * Reject builders, and the StatSN/ExpCmdSN/MaxCmdSN `Sequencer`; this module
 * adds what is the discovery session's own — the answers, the opcode
 * rules and the CmdSN rule.
 *
 * What it does not do: no SCSI, no digests (login never negotiates them on
 * discovery sessions); filtering is `send-targets.ts`'s.
 */
import {
  InitiatorOpcode,
  IMMEDIATE_BIT,
  LogoutReason,
  LogoutRequestBhs,
  LogoutResponse,
  RejectReason,
  RESERVED_TAG,
  TextBhs,
  type IclConn,
  type Pdu,
  type TextKeyList,
} from '@iscsi-target/icl-core';
import {
  buildLogoutResponse,
  buildNopInEcho,
  buildReject,
  CmdSnWindow,
  ProtocolViolation,
  Sequencer,
  snAdd,
  snLt,
  TextExchange,
} from '@iscsi-target/ctl-frontend-iscsi';
import type { Logger } from './logger.js';
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

/**
 * A discovery session holds no command: MaxCmdSN = ExpCmdSN, room for one
 * request at a time (the window the frontend's sequencer computes from it).
 */
const DISCOVERY_WINDOW = 1;

/** One discovery session on a logged-in connection. */
export class DiscoverySession {
  readonly #conn: IclConn;
  readonly #o: DiscoveryOptions;
  readonly #onClosed: () => void;
  readonly #window: CmdSnWindow;
  readonly #sequencer: Sequencer;
  readonly #text: TextExchange;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #nextTtt = 1;

  constructor(conn: IclConn, options: DiscoveryOptions, onClosed: () => void) {
    this.#conn = conn;
    this.#o = options;
    this.#onClosed = onClosed;
    conn.maxSendDataSegmentLength = options.maxSendDataSegmentLength;
    this.#window = new CmdSnWindow(options.cmdSn, DISCOVERY_WINDOW);
    this.#sequencer = new Sequencer(options.statSn, this.#window);
    this.#text = new TextExchange({
      conn,
      maxTextRequestLength: options.maxTextLength,
      allocTtt: () => this.#allocTtt(),
      send: (pdu) => this.#send(pdu),
      answer: (keys) => this.#answer(keys),
    });
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
      if (e instanceof ProtocolViolation) {
        this.#rejectAndDrop(pdu.bhs, e.rejectReason, e.message);
      } else {
        this.#o.logger.error({ err: e }, 'discovery session: internal error');
        this.close();
      }
    } finally {
      this.#conn.pduFree(pdu);
    }
  }

  #handle(pdu: Pdu): void {
    switch (pdu.opcode) {
      case InitiatorOpcode.TextRequest:
        this.#sequence(pdu);
        this.#text.handle(pdu);
        return;
      case InitiatorOpcode.NopOut:
        this.#sequence(pdu);
        // RFC 7143 §11.18: ITT 0xffffffff asks for no answer (and we never ping, so no TTT to match).
        if (pdu.initiatorTaskTag !== RESERVED_TAG) this.#send(buildNopInEcho(this.#conn, pdu));
        return;
      case InitiatorOpcode.LogoutRequest:
        this.#sequence(pdu);
        this.#logout(pdu);
        return;
      case InitiatorOpcode.LoginRequest:
        // RFC 7143 §6.3: a Login Request in full feature phase is a protocol error.
        throw new ProtocolViolation('Login Request in full feature phase');
      case InitiatorOpcode.ScsiCommand:
      case InitiatorOpcode.TaskManagementRequest:
        // RFC 7143 §13.21: a discovery session carries only Text, NOP, Logout.
        throw new ProtocolViolation(
          `opcode 0x${pdu.opcode.toString(16)} in a discovery session`,
          RejectReason.CommandNotSupported,
        );
      default:
        throw new ProtocolViolation(`opcode 0x${pdu.opcode.toString(16)} in a discovery session`);
    }
  }

  /**
   * CmdSN bookkeeping (RFC 7143 §4.2.2.1): a CmdSN that goes back is a
   * protocol error; a non-immediate request consumes one. (Not the
   * frontend's window check: one request at a time, and an initiator that
   * skips numbers loses nothing here.)
   */
  #sequence(pdu: Pdu): void {
    const cmdSn = pdu.bhs.readUInt32BE(CMDSN_OFFSET);
    if (snLt(cmdSn, this.#window.expCmdSn)) {
      throw new ProtocolViolation(`CmdSN ${cmdSn} went back (expected ${this.#window.expCmdSn})`);
    }
    if ((pdu.bhs[0]! & IMMEDIATE_BIT) === 0) this.#window.expCmdSn = snAdd(cmdSn, 1);
  }

  /** The answer to one complete Text Request: SendTargets, and the other keys answered by `answerOtherKey`. */
  #answer(keys: TextKeyList): TextKeyList {
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
    return answer;
  }

  #allocTtt(): number {
    const t = this.#nextTtt;
    this.#nextTtt = this.#nextTtt >= 0x7fffffff ? 1 : this.#nextTtt + 1;
    return t;
  }

  /** Writes StatSN (advancing where the PDU consumes one), ExpCmdSN and MaxCmdSN, and queues. */
  #send(pdu: Pdu): void {
    this.#sequencer.prepare(pdu, 0);
    this.#conn.pduQueue(pdu);
  }

  #logout(pdu: Pdu): void {
    const reason = pdu.bhs[LogoutRequestBhs.reasonCode]! & 0x7f;
    // RFC 7143 §11.15.1: at ERL 0 there is no connection recovery.
    const response =
      reason === LogoutReason.RemoveConnectionForRecovery ? LogoutResponse.RecoveryNotSupported : LogoutResponse.ClosedSuccessfully;
    this.#o.logger.debug({ reason }, 'discovery: logout');
    this.#queueThenClose(buildLogoutResponse(this.#conn, pdu.initiatorTaskTag, response));
  }

  /** RFC 7143 §11.17: a Reject carries the rejected BHS; at ERL 0 the connection is then dropped. */
  #rejectAndDrop(rejected: Buffer, reason: number, why: string): void {
    this.#o.logger.info({ reason }, `discovery: rejecting PDU and closing: ${why}`);
    this.#queueThenClose(buildReject(this.#conn, reason, rejected));
  }

  /** Sends `pdu`, then closes once it was sent (or after a bounded wait). */
  #queueThenClose(pdu: Pdu): void {
    this.#text.reset();
    const timer = setTimeout(() => this.close(), 5000);
    timer.unref();
    // Stop reading further requests; the session is over.
    this.#conn.onReceive = (p) => this.#conn.pduFree(p);
    this.#sequencer.prepare(pdu, 0);
    this.#conn.pduQueueCb(pdu, () => {
      clearTimeout(timer);
      this.close();
    });
  }
}
