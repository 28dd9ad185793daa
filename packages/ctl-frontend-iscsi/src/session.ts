/**
 * One iSCSI session on one connection in full feature phase (FreeBSD
 * `struct cfiscsi_session`, freebsd-arch §5.3-5.12): the state machine that
 * turns received PDUs into CTL I/O and CTL upcalls into PDUs.
 *
 * What it does:
 * - receive dispatch: CmdSN window (immediate PDUs unchecked; out-of-window
 *   ignored; an in-window gap terminates), then SCSI Command → intake
 *   (`command-intake.ts`), Data-Out → the R2T engine (`data-out.ts`), TMF →
 *   `task-management.ts`, NOP-Out → NOP-In, Text (`text-request.ts`, its
 *   answers from `text-answer.ts`), Logout; Reject for PDUs not valid in
 *   full feature phase. Nothing thrown by a handler escapes `onReceive`: it
 *   terminates the session.
 * - sending: every outgoing PDU goes through `#send`, where the sequencer
 *   (`sequencer.ts`, FreeBSD `cfiscsi_pdu_prepare`) writes StatSN/ExpCmdSN/
 *   MaxCmdSN with the current count of outstanding CTL I/Os.
 * - the task table (ITT → command) and the outstanding CTL I/O count, shared
 *   with intake and task management.
 * - CTL upcalls: datamove In/Out, SCSI command and TMF completion.
 * - keepalive pings and the ping timeout; logout; Async Messages.
 * - termination, idempotent and in DESIGN.md §6 order: stop timers →
 *   `conn.close()` → `ctl.removeInitiator` (I_T nexus loss aborts every task)
 *   → complete pending Data-Out waits with a non-zero `portStatus` → wait
 *   until the outstanding CTL I/O count reaches zero → `conn.free()`. On
 *   termination nothing more is sent to the initiator.
 *
 * States: `active` (full feature phase) → `closing` (a Logout Response or a
 * final Reject is on its way; input is ignored, nothing else is sent) →
 * `terminating` (teardown, waiting for CTL) → `terminated`.
 *
 * What it does not do: login, negotiation, discovery (the daemon's), the
 * target/session registry and reinstatement (the frontend's).
 *
 * Buffer ownership: received PDUs are owned by the session from `onReceive`
 * on and freed when handled (SCSI Command PDUs live as long as their command,
 * unsolicited Data-Out until consumed). PDUs built here are handed to the
 * driver by `pduQueue`/`pduQueueCb`.
 */
import {
  Bhs,
  InitiatorOpcode,
  LogoutReason,
  LogoutResponse,
  OPCODE_MASK,
  RESERVED_TAG,
  RejectReason,
  LogoutRequestBhs,
  AsyncEvent,
  type IclConn,
  type Pdu,
  type PduCompletion,
} from '@iscsi-target/icl-core';
import {
  DataDirection,
  IoStatus,
  type CtlFrontendServices,
  type CtlIo,
  type ScsiIo,
  type TaskIo,
} from '@iscsi-target/ctl-core';
import { CmdSnVerdict, CmdSnWindow } from './cmdsn.js';
import type { IscsiCommand } from './command.js';
import { submitScsiCommand, type CommandIntakeHost } from './command-intake.js';
import { observeCommandDone } from './command-observer.js';
import { datamoveIn, type DataInSender } from './data-in.js';
import { DataOutEngine, PortStatus, type DataOutHost } from './data-out.js';
import { ProtocolViolation } from './errors.js';
import { initiatorPortName, type HandoffParams } from './handoff.js';
import { KeepAlive, KeepAliveAction, buildNopInEcho, buildTargetPing } from './nop.js';
import type { ResolvedFrontendOptions } from './options.js';
import { buildAsyncMessage, buildLogoutResponse, buildReject, buildScsiResponse } from './responses.js';
import { Sequencer } from './sequencer.js';
import type { IscsiTargetPort } from './target-port.js';
import { TaskManagement } from './task-management.js';
import { answerTextKeys } from './text-answer.js';
import { TextExchange, type TextHost } from './text-request.js';
import type { TmfContext } from './tmf.js';

export const SessionState = {
  Active: 'active',
  Closing: 'closing',
  Terminating: 'terminating',
  Terminated: 'terminated',
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** What a session needs from the frontend that owns it. */
export interface SessionOwner {
  readonly ctl: CtlFrontendServices;
  readonly options: ResolvedFrontendOptions;
  /** The session reached `terminated`. */
  sessionGone(session: IscsiSession): void;
  /** TARGET COLD RESET: drop every session of the target. */
  terminateTargetSessions(target: IscsiTargetPort, reason: string): void;
}

export interface SessionCounters {
  pdusReceived: number;
  pdusSent: number;
  scsiCommands: number;
  taskManagementRequests: number;
  /** Payload bytes queued in Data-In PDUs. */
  dataInBytes: number;
  /** Payload bytes received in immediate data and Data-Out PDUs. */
  dataOutBytes: number;
  rejects: number;
}

/** A snapshot for listings (the admin CLI). */
export interface SessionInfo {
  id: number;
  state: SessionState;
  initiatorName: string;
  initiatorAlias: string | undefined;
  initiatorAddress: string;
  initiatorPortName: string;
  isid: string;
  tsih: number;
  targetName: string;
  targetAlias: string | undefined;
  portalGroupTag: number;
  offload: string;
  headerDigest: boolean;
  dataDigest: boolean;
  maxRecvDataSegmentLength: number;
  maxSendDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  immediateData: boolean;
  initialR2t: boolean;
  maxOutstandingR2t: number;
  expCmdSn: number;
  statSn: number;
  outstanding: number;
  pendingDatamoves: number;
  counters: SessionCounters;
}

export class IscsiSession {
  readonly id: number;
  readonly target: IscsiTargetPort;
  readonly conn: IclConn;
  readonly initiatorName: string;
  readonly initiatorAlias: string | undefined;
  readonly initiatorAddress: string;
  /** A copy of the 6-byte ISID. */
  readonly isid: Buffer;
  readonly tsih: number;
  /** `"<iqn>,i,0x<ISID>"`, registered with CTL. */
  readonly initiatorPortName: string;
  readonly maxBurstLength: number;
  readonly firstBurstLength: number;
  readonly immediateData: boolean;
  readonly initialR2t: boolean;
  readonly maxOutstandingR2t: number;
  readonly maxRecvDataSegmentLength: number;
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  readonly counters: SessionCounters = {
    pdusReceived: 0,
    pdusSent: 0,
    scsiCommands: 0,
    taskManagementRequests: 0,
    dataInBytes: 0,
    dataOutBytes: 0,
    rejects: 0,
  };
  /** CTL initiator index (valid once started). */
  initiatorIndex = -1;

  readonly #owner: SessionOwner;
  readonly #ctl: CtlFrontendServices;
  readonly #options: ResolvedFrontendOptions;
  #state: SessionState = SessionState.Active;
  /** StatSN, ExpCmdSN and the CmdSN window. */
  readonly #seq: Sequencer;
  /** CTL I/Os (commands and TMFs) submitted and not yet done. */
  #outstanding = 0;
  /** The task table: ITT → command. */
  readonly #commands = new Map<number, IscsiCommand>();
  #nextTtt = 0;
  readonly #dataOut: DataOutEngine;
  readonly #text: TextExchange;
  readonly #intake: CommandIntakeHost;
  readonly #tmf: TaskManagement;
  readonly #keepAlive: KeepAlive;
  #timer: NodeJS.Timeout | null = null;
  #closeTimer: NodeJS.Timeout | null = null;
  #sweepScheduled = false;
  #inTeardown = false;
  #terminationReason: string | null = null;
  readonly #closed: Promise<void>;
  #resolveClosed!: () => void;
  readonly #dataInSender: DataInSender;

  constructor(owner: SessionOwner, id: number, target: IscsiTargetPort, conn: IclConn, params: HandoffParams) {
    this.#owner = owner;
    this.#ctl = owner.ctl;
    this.#options = owner.options;
    this.id = id;
    this.target = target;
    this.conn = conn;
    this.initiatorName = params.initiatorName;
    this.initiatorAlias = params.initiatorAlias;
    this.initiatorAddress = params.initiatorAddress;
    this.isid = Buffer.from(params.isid);
    this.tsih = params.tsih;
    this.initiatorPortName = initiatorPortName(params.initiatorName, this.isid);
    this.maxBurstLength = params.maxBurstLength;
    this.firstBurstLength = params.firstBurstLength;
    this.immediateData = params.immediateData;
    this.initialR2t = params.initialR2t;
    this.maxOutstandingR2t = params.maxOutstandingR2t;
    this.maxRecvDataSegmentLength = params.maxRecvDataSegmentLength;
    this.headerDigest = params.headerDigest;
    this.dataDigest = params.dataDigest;
    const window = new CmdSnWindow(params.cmdSn, this.#options.maxTags);
    this.#seq = new Sequencer(params.statSn, window);
    this.#keepAlive = new KeepAlive(this.#options.pingIntervalMs, this.#options.pingTimeoutMs, Date.now());
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    conn.maxSendDataSegmentLength = params.maxSendDataSegmentLength;

    const send = (pdu: Pdu): void => this.#send(pdu);
    const allocTtt = (): number => this.#allocTtt();
    const submit = (io: CtlIo): void => this.#submit(io);
    this.#dataInSender = {
      conn,
      noCopy: this.#options.noCopy,
      maxBurstLength: this.maxBurstLength,
      send,
    };
    const dataOutHost: DataOutHost = {
      conn,
      maxBurstLength: this.maxBurstLength,
      firstBurstLength: this.firstBurstLength,
      initialR2t: this.initialR2t,
      maxOutstandingR2t: this.maxOutstandingR2t,
      allocTtt,
      send,
      datamoveDone: (io) => this.#ctl.datamoveDone(io),
      commandByItt: (itt) => this.#commands.get(itt),
    };
    this.#dataOut = new DataOutEngine(dataOutHost);
    const textHost: TextHost = {
      conn,
      maxTextRequestLength: this.#options.maxTextRequestLength,
      allocTtt,
      send,
      answer: (keys) =>
        answerTextKeys(
          {
            session: this,
            conn,
            onTextRequest: this.#options.onTextRequest,
            logError: (obj, msg) => this.#log('error', obj, msg),
          },
          keys,
        ),
    };
    this.#text = new TextExchange(textHost);
    this.#intake = {
      session: this,
      commands: this.#commands,
      dataOut: this.#dataOut,
      reject: (bhs, reason) => this.#reject(bhs, reason),
      rejectAndClose: (bhs, reason, why) => this.#rejectAndClose(bhs, reason, why),
      log: (level, obj, msg) => this.#log(level, obj, msg),
      submit,
    };
    this.#tmf = new TaskManagement({
      session: this,
      conn,
      commands: this.#commands,
      window,
      dataOut: this.#dataOut,
      send: (pdu, onComplete) => this.#send(pdu, onComplete),
      submit,
      scheduleSweep: () => this.#scheduleSweep(),
      terminateTargetSessions: (reason) => this.#owner.terminateTargetSessions(this.target, reason),
    });
  }

  get state(): SessionState {
    return this.#state;
  }

  /** Resolves once the session is `terminated` (never rejects). */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Why the session ended, once it did. */
  get terminationReason(): string | null {
    return this.#terminationReason;
  }

  get expCmdSn(): number {
    return this.#seq.expCmdSn;
  }

  get statSn(): number {
    return this.#seq.statSn;
  }

  /** CTL I/Os in flight (commands + TMFs). */
  get outstanding(): number {
    return this.#outstanding;
  }

  /** The MaxCmdSN the next PDU will advertise. */
  get maxCmdSn(): number {
    return this.#seq.maxCmdSn(this.#outstanding);
  }

  /**
   * Registers the initiator with CTL, takes over the connection's upcalls
   * and starts the keepalive. Called once by the frontend after
   * reinstatement. Throws if CTL refuses the initiator.
   */
  start(): void {
    this.initiatorIndex = this.#ctl.addInitiator(this.target.portNumber, this.initiatorPortName);
    this.conn.onReceive = (pdu) => this.#onReceive(pdu);
    this.conn.onError = (_conn, err) => this.terminate(`connection error: ${err.message}`);
    const tickMs = this.#keepAlive.tickMs;
    this.#timer = setInterval(() => this.#tick(), tickMs);
    this.#timer.unref();
    this.#log('info', {}, 'session started');
    if (this.conn.disconnecting) this.terminate('connection closed before handoff completed');
  }

  info(): SessionInfo {
    return {
      id: this.id,
      state: this.#state,
      initiatorName: this.initiatorName,
      initiatorAlias: this.initiatorAlias,
      initiatorAddress: this.initiatorAddress,
      initiatorPortName: this.initiatorPortName,
      isid: this.isid.toString('hex'),
      tsih: this.tsih,
      targetName: this.target.targetName,
      targetAlias: this.target.alias,
      portalGroupTag: this.target.portalGroupTag,
      offload: this.conn.offload,
      headerDigest: this.headerDigest,
      dataDigest: this.dataDigest,
      maxRecvDataSegmentLength: this.maxRecvDataSegmentLength,
      maxSendDataSegmentLength: this.conn.maxSendDataSegmentLength,
      maxBurstLength: this.maxBurstLength,
      firstBurstLength: this.firstBurstLength,
      immediateData: this.immediateData,
      initialR2t: this.initialR2t,
      maxOutstandingR2t: this.maxOutstandingR2t,
      expCmdSn: this.#seq.expCmdSn,
      statSn: this.#seq.statSn,
      outstanding: this.#outstanding,
      pendingDatamoves: this.#dataOut.pendingDatamoves,
      counters: { ...this.counters },
    };
  }

  /**
   * Async Message "target requests Logout" (RFC 7143 §11.9.1, event 1): the
   * initiator must log out within `seconds` (Parameter3). Returns false if
   * the session is not in full feature phase.
   */
  requestLogout(seconds: number): boolean {
    if (this.#state !== SessionState.Active) return false;
    const p3 = Math.max(0, Math.min(0xffff, Math.ceil(seconds)));
    this.#send(buildAsyncMessage(this.conn, AsyncEvent.LogoutRequested, { parameter3: p3 }));
    return true;
  }

  /**
   * Tells the initiator the session is being dropped (Async Message event 3,
   * Time2Wait = Time2Retain = 0) and terminates once that PDU is sent.
   */
  drop(reason: string): void {
    if (this.#state !== SessionState.Active) {
      this.terminate(reason);
      return;
    }
    this.#closeAfter(buildAsyncMessage(this.conn, AsyncEvent.SessionDrop), reason);
  }

  /**
   * Ends the session (idempotent, never throws); see the module comment for
   * the order. `closed` resolves when the last CTL I/O is done.
   */
  terminate(reason: string): void {
    if (this.#state === SessionState.Terminating || this.#state === SessionState.Terminated) return;
    this.#state = SessionState.Terminating;
    this.#terminationReason = reason;
    this.#inTeardown = true;
    this.#log('info', { reason, outstanding: this.#outstanding }, 'session terminating');
    this.#stopTimers();
    const conn = this.conn;
    this.#guard('conn.close', () => {
      conn.onReceive = (pdu) => conn.pduFree(pdu);
      conn.onError = () => {};
      conn.close();
    });
    // I_T nexus loss: CTL aborts every task; their `done` still arrives.
    this.#guard('ctl.removeInitiator', () => this.#ctl.removeInitiator(this.target.portNumber, this.initiatorIndex));
    // Nothing half-received may reach storage (freebsd-arch §11.4.11).
    this.#guard('abort Data-Out waits', () => this.#dataOut.abortAll(PortStatus.SessionTerminating));
    this.#text.reset();
    this.#inTeardown = false;
    this.#checkDrained();
  }

  // ---- CTL upcalls (through IscsiTargetPort) ------------------------------

  /** @internal CTL: move the current piece of a command's data. */
  datamove(cmd: IscsiCommand, io: ScsiIo): void {
    if (this.#state !== SessionState.Active) {
      io.kernDataResid = io.kernDataLen;
      io.portStatus = PortStatus.SessionTerminating;
      this.#ctl.datamoveDone(io);
      return;
    }
    if (io.dataDirection === DataDirection.Out) {
      cmd.dataOutBytes += io.kernDataLen;
      try {
        this.#dataOut.datamoveOut(cmd, io);
      } catch (err) {
        // The move, if registered, is completed by the teardown.
        this.#fail(err);
      }
      return;
    }
    if (io.dataDirection === DataDirection.In) {
      let sent = 0;
      try {
        sent = datamoveIn(this.#dataInSender, cmd, io);
      } catch (err) {
        io.portStatus = PortStatus.SessionTerminating;
        this.#fail(err);
      }
      this.counters.dataInBytes += sent;
      cmd.dataInBytes += sent;
    }
    // The datamove is done once its PDUs are queued (freebsd-arch §5.6 step 7).
    this.#ctl.datamoveDone(io);
  }

  /** @internal CTL: a SCSI command completed. */
  scsiDone(cmd: IscsiCommand, io: ScsiIo): void {
    if (this.#commands.get(cmd.initiatorTaskTag) === cmd) this.#commands.delete(cmd.initiatorTaskTag);
    this.#guard('release Data-Out state', () => this.#dataOut.releaseCommand(cmd));
    cmd.release(this.conn);
    this.#outstanding--;
    if (this.#options.commandObserver !== null) observeCommandDone(this.#options.commandObserver, cmd, io);
    // Aborted I/O: nothing is sent (freebsd-arch §5.8). Status already in
    // the final Data-In: nothing either (never both).
    if (this.#state === SessionState.Active && !io.aborted && io.status !== IoStatus.Aborted && !cmd.statusSent) {
      this.#guard('SCSI Response', () => this.#send(buildScsiResponse(this.conn, cmd, io)));
    }
    this.#checkDrained();
  }

  /** @internal CTL: a task management function completed. */
  taskDone(ctx: TmfContext, io: TaskIo): void {
    this.#outstanding--;
    if (this.#state === SessionState.Active) this.#guard('TMF completion', () => this.#tmf.complete(ctx, io));
    this.#checkDrained();
  }

  // ---- receive -----------------------------------------------------------

  #onReceive(pdu: Pdu): void {
    if (this.#state !== SessionState.Active) {
      this.conn.pduFree(pdu);
      return;
    }
    this.counters.pdusReceived++;
    this.#keepAlive.touch(Date.now());
    let owned = true;
    try {
      const opcode = pdu.opcode;
      if (opcode === InitiatorOpcode.DataOut) {
        owned = false;
        this.counters.dataOutBytes += pdu.dataLength;
        this.#dataOut.dataOut(pdu);
        return;
      }
      if (
        opcode === InitiatorOpcode.ScsiCommand ||
        opcode === InitiatorOpcode.NopOut ||
        opcode === InitiatorOpcode.TaskManagementRequest ||
        opcode === InitiatorOpcode.TextRequest ||
        opcode === InitiatorOpcode.LogoutRequest
      ) {
        const cmdSn = pdu.bhs.readUInt32BE(Bhs.cmdSn);
        const window = this.#seq.window;
        const verdict = window.receive(cmdSn, pdu.immediate);
        if (verdict === CmdSnVerdict.Ignore) {
          // RFC 7143 §4.2.2.1: silently ignored.
          this.#log('warn', { cmdSn, expCmdSn: window.expCmdSn, opcode }, 'PDU outside the CmdSN window ignored');
          return;
        }
        if (verdict === CmdSnVerdict.Gap) {
          this.terminate(`CmdSN ${cmdSn} received while ${window.expCmdSn} expected (lost PDU, ERL 0)`);
          return;
        }
      }
      switch (opcode) {
        case InitiatorOpcode.ScsiCommand:
          owned = false;
          this.#handleScsiCommand(pdu);
          return;
        case InitiatorOpcode.NopOut:
          this.#handleNopOut(pdu);
          return;
        case InitiatorOpcode.TaskManagementRequest:
          this.#tmf.request(pdu);
          return;
        case InitiatorOpcode.TextRequest:
          this.#text.handle(pdu);
          return;
        case InitiatorOpcode.LogoutRequest:
          this.#handleLogout(pdu);
          return;
        case InitiatorOpcode.Snack:
          // RFC 7143 §11.16 / §7.1.4: SNACK needs ErrorRecoveryLevel > 0.
          this.#reject(pdu.bhs, RejectReason.ProtocolError);
          return;
        case InitiatorOpcode.LoginRequest:
          // RFC 7143 §6: login requests belong to the login phase, not full feature phase.
          this.#reject(pdu.bhs, RejectReason.ProtocolError);
          return;
        default:
          // RFC 7143 §11.17.1: an opcode the target does not implement.
          this.#reject(pdu.bhs, RejectReason.CommandNotSupported);
          return;
      }
    } catch (err) {
      this.#fail(err);
    } finally {
      if (owned) this.conn.pduFree(pdu);
    }
  }

  #handleScsiCommand(pdu: Pdu): void {
    let kept = false;
    try {
      kept = submitScsiCommand(this.#intake, pdu);
    } finally {
      if (!kept) this.conn.pduFree(pdu);
    }
  }

  #handleNopOut(pdu: Pdu): void {
    // RFC 7143 §11.18: ITT 0xffffffff — an answer to our ping (TTT copied)
    // or a one-way ping; no reply. Receiving it already reset the timer.
    if (pdu.initiatorTaskTag === RESERVED_TAG) return;
    // RFC 7143 §11.19: answer with a NOP-In echoing ITT and data.
    this.#send(buildNopInEcho(this.conn, pdu));
  }

  #handleLogout(pdu: Pdu): void {
    const reason = pdu.bhs[LogoutRequestBhs.reasonCode]! & 0x7f;
    const itt = pdu.initiatorTaskTag;
    switch (reason) {
      case LogoutReason.CloseSession:
      case LogoutReason.CloseConnection:
        // RFC 7143 §11.14: respond, then close; with one connection both
        // reasons end the session.
        this.#closeAfter(buildLogoutResponse(this.conn, itt, LogoutResponse.ClosedSuccessfully), 'logout');
        return;
      case LogoutReason.RemoveConnectionForRecovery:
        // RFC 7143 §11.15.1: connection recovery needs ErrorRecoveryLevel 2.
        this.#send(buildLogoutResponse(this.conn, itt, LogoutResponse.RecoveryNotSupported));
        return;
      default:
        this.#reject(pdu.bhs, RejectReason.InvalidPduField);
        return;
    }
  }

  // ---- sending -----------------------------------------------------------

  /** Prepares (DataSegmentLength, StatSN, ExpCmdSN, MaxCmdSN: `sequencer.ts`) and queues. */
  #send(pdu: Pdu, onComplete?: PduCompletion): void {
    this.#seq.prepare(pdu, this.#outstanding);
    this.counters.pdusSent++;
    if (onComplete !== undefined) this.conn.pduQueueCb(pdu, onComplete);
    else this.conn.pduQueue(pdu);
  }

  /** Counts one CTL I/O as outstanding and submits it; uncounts it if CTL throws. */
  #submit(io: CtlIo): void {
    this.#outstanding++;
    try {
      this.#ctl.run(io);
    } catch (err) {
      this.#outstanding--;
      throw err;
    }
  }

  #reject(rejectedBhs: Buffer, reason: number): void {
    this.counters.rejects++;
    this.#log('warn', { reason, opcode: rejectedBhs[Bhs.opcode]! & OPCODE_MASK }, 'rejecting PDU');
    this.#send(buildReject(this.conn, reason, rejectedBhs));
  }

  #rejectAndClose(rejectedBhs: Buffer, reason: number, why: string): void {
    this.counters.rejects++;
    this.#log('warn', { reason, why }, 'rejecting PDU and dropping the session');
    this.#closeAfter(buildReject(this.conn, reason, rejectedBhs), why);
  }

  /**
   * Sends a last PDU, stops processing input and terminates once the PDU is
   * completed (or after `closeTimeoutMs`).
   */
  #closeAfter(pdu: Pdu, reason: string): void {
    this.#state = SessionState.Closing;
    this.#closeTimer = setTimeout(() => this.terminate(`${reason} (completion timed out)`), this.#options.closeTimeoutMs);
    this.#closeTimer.unref();
    this.#send(pdu, () => this.terminate(reason));
  }

  #allocTtt(): number {
    let ttt = this.#nextTtt;
    if (ttt === RESERVED_TAG) ttt = 0; // RFC 7143 §11.2.1.8: 0xffffffff is reserved
    this.#nextTtt = (ttt + 1) >>> 0;
    return ttt;
  }

  // ---- timers and teardown ------------------------------------------------

  #tick(): void {
    if (this.#state !== SessionState.Active) return;
    this.#guard('sweep', () => this.#dataOut.sweepAborted());
    const action = this.#keepAlive.check(Date.now());
    if (action === KeepAliveAction.Timeout) {
      this.terminate(`no PDU from the initiator for ${this.#keepAlive.idleMs(Date.now())} ms (ping timeout)`);
    } else if (action === KeepAliveAction.Ping) {
      this.#guard('ping', () => this.#send(buildTargetPing(this.conn, this.#allocTtt())));
    }
  }

  #scheduleSweep(): void {
    if (this.#sweepScheduled) return;
    this.#sweepScheduled = true;
    setImmediate(() => {
      this.#sweepScheduled = false;
      if (this.#state === SessionState.Active) this.#guard('sweep', () => this.#dataOut.sweepAborted());
    });
  }

  #stopTimers(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#closeTimer !== null) clearTimeout(this.#closeTimer);
    this.#timer = null;
    this.#closeTimer = null;
  }

  #checkDrained(): void {
    if (this.#state !== SessionState.Terminating || this.#inTeardown || this.#outstanding > 0) return;
    this.#state = SessionState.Terminated;
    this.#guard('conn.free', () => this.conn.free());
    this.#log('info', { reason: this.#terminationReason }, 'session terminated');
    this.#resolveClosed();
    this.#owner.sessionGone(this);
  }

  /** A handler failed: log and drop the session (ERL 0). */
  #fail(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof ProtocolViolation) this.#log('warn', { err: message }, 'protocol violation');
    else this.#log('error', { err: message, stack: err instanceof Error ? err.stack : undefined }, 'internal error');
    this.terminate(err instanceof ProtocolViolation ? `protocol violation: ${message}` : `internal error: ${message}`);
  }

  #guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#log('error', { err: err instanceof Error ? err.message : String(err), during: what }, 'error during session work');
    }
  }

  #log(level: 'info' | 'warn' | 'error' | 'debug', obj: Record<string, unknown>, msg: string): void {
    this.#options.logger[level](
      { session: this.id, initiator: this.initiatorName, address: this.initiatorAddress, target: this.target.targetName, ...obj },
      msg,
    );
  }
}
