/**
 * NOP-Out / NOP-In (RFC 7143 §11.18-11.19) and the keepalive that drives
 * target pings and the ping timeout (FreeBSD `cfiscsi_callout`, freebsd-arch
 * §5.10).
 *
 * What it does: builds the NOP-In echoing an initiator's NOP-Out, builds a
 * target ping (ITT 0xffffffff with a valid TTT, which obliges the initiator
 * to answer with a NOP-Out, §11.19.1), and `KeepAlive`, a pure state machine
 * that tells the session, from the time of the last received PDU, when to
 * ping and when to give up.
 *
 * What it does not do: no timers (the session owns one interval timer and
 * calls `KeepAlive.check`), no queueing, no StatSN (a ping does not advance
 * StatSN; the session's prepare step knows).
 *
 * Buffer ownership: the echo borrows views of the NOP-Out's received data
 * segment without a reference — received memory is owned by whoever holds
 * the received PDU and is never reused by the driver, so the request may be
 * freed right after.
 */
import {
  Bhs,
  Flag,
  NopBhs,
  RESERVED_TAG,
  TargetOpcode,
  bhsSetOpcode,
  type IclConn,
  type Pdu,
} from '@iscsi-target/icl-core';

/**
 * NOP-In answering a NOP-Out with a valid ITT: same ITT and LUN, TTT
 * 0xffffffff, and the ping data echoed (RFC 7143 §11.19.3), cut to what the
 * initiator accepts (its MaxRecvDataSegmentLength).
 */
export function buildNopInEcho(conn: IclConn, request: Pdu): Pdu {
  const pdu = conn.newPdu();
  const bhs = pdu.bhs;
  bhsSetOpcode(bhs, TargetOpcode.NopIn);
  bhs[Bhs.flags] = Flag.Final;
  request.bhs.copy(bhs, NopBhs.lun, NopBhs.lun, NopBhs.lun + 8);
  bhs.writeUInt32BE(request.initiatorTaskTag, NopBhs.initiatorTaskTag);
  bhs.writeUInt32BE(RESERVED_TAG, NopBhs.targetTransferTag);
  const len = Math.min(request.dataLength, conn.maxSendDataSegmentLength);
  if (len > 0) {
    for (const view of conn.pduDataViews(request, 0, len)) conn.pduAppendData(pdu, view, { noCopy: true });
  }
  return pdu;
}

/**
 * Target ping: NOP-In with ITT 0xffffffff and a valid TTT (RFC 7143
 * §11.19.2: "If the target is sending a NOP-In as a Ping (intending to
 * receive a corresponding NOP-Out), this field is set to a valid value").
 * LUN 0: the initiator copies it back (§11.19.1 requires a valid LUN with a
 * valid TTT).
 */
export function buildTargetPing(conn: IclConn, targetTransferTag: number): Pdu {
  const pdu = conn.newPdu();
  const bhs = pdu.bhs;
  bhsSetOpcode(bhs, TargetOpcode.NopIn);
  bhs[Bhs.flags] = Flag.Final;
  bhs.writeUInt32BE(RESERVED_TAG, NopBhs.initiatorTaskTag);
  bhs.writeUInt32BE(targetTransferTag, NopBhs.targetTransferTag);
  return pdu;
}

/** What the session should do at a keepalive check. */
export const KeepAliveAction = {
  None: 'none',
  Ping: 'ping',
  Timeout: 'timeout',
} as const;
export type KeepAliveAction = (typeof KeepAliveAction)[keyof typeof KeepAliveAction];

/**
 * Silence tracking. Every received PDU resets the silence (FreeBSD: "Every
 * incoming PDU - not just NOP-Out - resets the ping timer").
 */
export class KeepAlive {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  #lastReceive: number;
  #lastPing = -Infinity;

  /**
   * @param intervalMs ping after this much silence, then again every
   *   interval while silent; 0 disables pings.
   * @param timeoutMs give up after this much silence; 0 disables.
   */
  constructor(intervalMs: number, timeoutMs: number, now: number) {
    this.intervalMs = intervalMs;
    this.timeoutMs = timeoutMs;
    this.#lastReceive = now;
  }

  /** A PDU arrived. */
  touch(now: number): void {
    this.#lastReceive = now;
  }

  /** The silence so far. */
  idleMs(now: number): number {
    return now - this.#lastReceive;
  }

  /** Decides at time `now`; records a ping when it answers `Ping`. */
  check(now: number): KeepAliveAction {
    const idle = now - this.#lastReceive;
    if (this.timeoutMs > 0 && idle >= this.timeoutMs) return KeepAliveAction.Timeout;
    if (this.intervalMs > 0 && idle >= this.intervalMs && now - this.#lastPing >= this.intervalMs) {
      this.#lastPing = now;
      return KeepAliveAction.Ping;
    }
    return KeepAliveAction.None;
  }

  /** How often the session should call `check`: fine enough for both limits, at most 1 s. */
  get tickMs(): number {
    let tick = 1000;
    if (this.intervalMs > 0) tick = Math.min(tick, this.intervalMs / 4);
    if (this.timeoutMs > 0) tick = Math.min(tick, this.timeoutMs / 4);
    return Math.max(10, Math.floor(tick));
  }
}
