/**
 * The numbering a target writes into every PDU it sends on a connection
 * (RFC 7143 §4.2.2 "Command Numbering and Acknowledging", §4.2.2.2 StatSN):
 * StatSN, ExpCmdSN and MaxCmdSN — the "prepare" step of FreeBSD
 * `cfiscsi_pdu_prepare`.
 *
 * What it does: owns the connection's StatSN and its CmdSN window
 * (`cmdsn.ts`); `prepare(pdu, outstanding)` writes DataSegmentLength,
 * StatSN, ExpCmdSN and MaxCmdSN into the BHS right before the PDU is queued
 * and advances StatSN, except for R2T (§11.8.3), a NOP-In with ITT
 * 0xffffffff (§11.19.3) and a Data-In without the S bit (§11.7.4: StatSN is
 * not even written there). MaxCmdSN = ExpCmdSN − 1 + max(0, maxTags −
 * outstanding). Used by full feature phase sessions and by the daemon's
 * discovery sessions alike.
 *
 * What it does not do: no queueing, no counters, no decision about a
 * received CmdSN (`CmdSnWindow.receive`, or the discovery session's own
 * rule); it does not read the data segment.
 *
 * Buffer ownership: writes into the BHS of a PDU the caller built and still
 * owns; nothing is kept.
 */
import {
  Bhs,
  Flag,
  OPCODE_MASK,
  RESERVED_TAG,
  TargetOpcode,
  bhsSetDataSegmentLength,
  type Pdu,
} from '@iscsi-target/icl-core';
import { snAdd, type CmdSnWindow } from './cmdsn.js';

export class Sequencer {
  /** ExpCmdSN and the window size that bounds MaxCmdSN. */
  readonly window: CmdSnWindow;
  #statSn: number;

  /**
   * @param statSn the StatSN of the first PDU to send (the login's next StatSN).
   * @param window the CmdSN window, shared with the receive path.
   */
  constructor(statSn: number, window: CmdSnWindow) {
    this.#statSn = statSn >>> 0;
    this.window = window;
  }

  /** The StatSN the next status-bearing PDU will carry. */
  get statSn(): number {
    return this.#statSn;
  }

  get expCmdSn(): number {
    return this.window.expCmdSn;
  }

  /** The MaxCmdSN the next PDU will advertise with `outstanding` CTL I/Os in flight. */
  maxCmdSn(outstanding: number): number {
    return this.window.maxCmdSn(outstanding);
  }

  /**
   * Writes DataSegmentLength (from `pdu.dataLength`), StatSN, ExpCmdSN and
   * MaxCmdSN into `pdu.bhs` and advances StatSN where the PDU consumes one.
   * Call once per PDU, right before queueing it.
   */
  prepare(pdu: Pdu, outstanding: number): void {
    const bhs = pdu.bhs;
    bhsSetDataSegmentLength(bhs, pdu.dataLength);
    const opcode = bhs[Bhs.opcode]! & OPCODE_MASK;
    let advance = true;
    let writeStatSn = true;
    if (opcode === TargetOpcode.R2t) {
      // RFC 7143 §11.8.3: "The StatSN for this connection is not advanced after this PDU is sent."
      advance = false;
    } else if (opcode === TargetOpcode.NopIn && bhs.readUInt32BE(Bhs.initiatorTaskTag) === RESERVED_TAG) {
      // RFC 7143 §11.19.3: a NOP-In with ITT 0xffffffff does not advance StatSN.
      advance = false;
    } else if (opcode === TargetOpcode.DataIn && (bhs[Bhs.flags]! & Flag.Status) === 0) {
      // RFC 7143 §11.7.4: StatSN is meaningful only with the S bit.
      advance = false;
      writeStatSn = false;
    }
    if (writeStatSn) bhs.writeUInt32BE(this.#statSn, Bhs.statSn);
    bhs.writeUInt32BE(this.window.expCmdSn, Bhs.expCmdSn);
    bhs.writeUInt32BE(this.window.maxCmdSn(outstanding), Bhs.maxCmdSn);
    if (advance) this.#statSn = snAdd(this.#statSn, 1);
  }
}
