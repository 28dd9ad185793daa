/**
 * The Data-Out side of a session: immediate data, unsolicited Data-Out and
 * the R2T engine (FreeBSD `cfiscsi_datamove_out`, `cfiscsi_data_wait` and
 * `cfiscsi_pdu_handle_data_out`; freebsd-arch §5.7).
 *
 * What it does, per CTL datamove of direction Out:
 * 1. consumes data already received for the command — immediate data in the
 *    SCSI Command PDU (bounded by FirstBurstLength and ExpectedDataTransfer
 *    Length) and, with InitialR2T=No, unsolicited Data-Out PDUs (TTT
 *    0xffffffff) up to FirstBurstLength — keeping bytes beyond the current
 *    piece for the next piece instead of asking for them again;
 * 2. waits while unsolicited data for the piece is still to come;
 * 3. solicits the rest with R2Ts of at most MaxBurstLength, up to
 *    MaxOutstandingR2T at a time, with a per-command R2TSN and a TTT from the
 *    session passed through `conn.transferSetup` (an offload driver may
 *    rewrite it, freebsd-arch §11.4.5);
 * 4. checks every Data-Out: known TTT, ITT, DataSN (from 0 per sequence,
 *    advancing by 1 + `additionalPdus`), BufferOffset continuity, no data
 *    past the burst, F exactly on the last PDU of a sequence — any violation
 *    is a `ProtocolViolation` (ERL 0: the session terminates and the
 *    datamove completes with a non-zero `portStatus`), except a wrong
 *    DataSN: that is an implied digest error (RFC 7143 §7.9), answered as
 *    §7.8 allows at ERL 0 without recovery R2Ts — the sequence is received to
 *    its end and the datamove fails with `PORT_STATUS_PROTOCOL_CRC_ERROR`
 *    (CHECK CONDITION, ABORTED COMMAND / PROTOCOL SERVICE CRC ERROR; nothing
 *    is written);
 * 5. delivers payload per `io.dataOutMode`: `Views` sets `io.kernSgList` to
 *    views of the received data segments (no copy), `Copy` copies into the
 *    backend's `io.kernSgList` with `conn.pduGetData` (counted);
 * 6. completes the datamove (`datamoveDone`) once the piece is filled.
 * Aborts (ABORT TASK, aborted I/O, session teardown) complete pending
 * datamoves with a non-zero `portStatus`, so nothing half-received reaches
 * storage (freebsd-arch §11.4.11). Data-Out still arriving for a transfer
 * that was aborted or completed early is discarded silently.
 *
 * What it does not do: no StatSN bookkeeping (the session's prepare step),
 * no SCSI status, no session termination (violations are thrown).
 *
 * Assumes DataPDUInOrder=Yes and DataSequenceInOrder=Yes (what the daemon
 * negotiates, like ctld): sequences arrive in R2T order, PDUs in offset order.
 *
 * Buffer ownership: received Data-Out PDUs are owned here until consumed
 * (then `pduFree`d); received memory is never reused by the driver, so views
 * handed to the backend in `Views` mode stay valid after the free. The
 * immediate data stays in the command's request PDU, which the command owns.
 */
import {
  Bhs,
  DataOutBhs,
  Flag,
  R2tBhs,
  RESERVED_TAG,
  TargetOpcode,
  bhsSetOpcode,
  type IclConn,
  type Pdu,
} from '@iscsi-target/icl-core';
import { DataOutMode, PORT_STATUS_PROTOCOL_CRC_ERROR, type ScsiIo } from '@iscsi-target/ctl-core';
import type { IscsiCommand } from './command.js';
import { ProtocolViolation } from './errors.js';

/** Values the frontend puts in `io.portStatus` (0 = transfer succeeded). */
export const PortStatus = {
  Ok: 0,
  /** ABORT TASK or another abort ended the transfer (FreeBSD uses 43). */
  TaskAborted: 43,
  /** The session is terminating (FreeBSD uses 44). */
  SessionTerminating: 44,
  /** The initiator broke the Data-Out rules; the session is dropped. */
  ProtocolError: 45,
  /** The piece extends past ExpectedDataTransferLength: those bytes cannot be received. */
  Overflow: 46,
  /** `Copy` mode with `kernSgList` smaller than `kernDataLen`. */
  BufferTooSmall: 47,
} as const;
export type PortStatus = (typeof PortStatus)[keyof typeof PortStatus];

/** What the engine needs from its session. */
export interface DataOutHost {
  readonly conn: IclConn;
  readonly maxBurstLength: number;
  readonly firstBurstLength: number;
  readonly initialR2t: boolean;
  readonly maxOutstandingR2t: number;
  /** A fresh Target Transfer Tag, never 0xffffffff. */
  allocTtt(): number;
  /** Writes StatSN/ExpCmdSN/MaxCmdSN and queues the PDU. */
  send(pdu: Pdu): void;
  /** `ctl.datamoveDone(io)`. */
  datamoveDone(io: ScsiIo): void;
  /** The live command with this ITT, if any. */
  commandByItt(itt: number): IscsiCommand | undefined;
}

/** Received data not yet handed to a datamove. */
interface HeldSegment {
  pdu: Pdu;
  pduOffset: number;
  /** Offset of the first byte within the command's data. */
  bufferOffset: number;
  length: number;
  /** false for the immediate data, which lives in the command's request PDU. */
  owned: boolean;
}

/** One outstanding R2T (a FreeBSD cdw). */
interface Burst {
  readonly ttt: number;
  readonly prv: unknown;
  readonly cmd: IscsiCommand;
  readonly offset: number;
  readonly end: number;
  expDataSn: number;
}

/** The datamove piece being filled. */
interface ActiveMove {
  readonly io: ScsiIo;
  readonly start: number;
  /** start + bytes receivable (clipped at ExpectedDataTransferLength). */
  readonly end: number;
  /** The piece asked for bytes past ExpectedDataTransferLength. */
  readonly overflow: boolean;
  /** Next byte offset (within the command) to fill. */
  filled: number;
  /** `Views` mode: the views collected so far; null in `Copy` mode. */
  readonly views: Buffer[] | null;
  sgIndex: number;
  sgOffset: number;
  /** Outstanding R2Ts, in offset order. */
  bursts: Burst[];
  /** Offset up to which R2Ts were sent. */
  r2tEnd: number;
}

/** Data-Out state of one command (the command's `dataOut`). */
export class DataOutState {
  readonly held: HeldSegment[] = [];
  /** More unsolicited Data-Out is expected (InitialR2T=No, command F=0). */
  unsolicitedActive = false;
  /** min(FirstBurstLength, ExpectedDataTransferLength). */
  unsolicitedEnd = 0;
  unsolicitedNextOffset = 0;
  unsolicitedDataSn = 0;
  move: ActiveMove | null = null;
  /**
   * A Data-Out PDU of this command carried an unexpected DataSN (RFC 7143
   * §7.9: an implied digest error). The data keeps being received to the end
   * of the sequence; the datamove then fails with PROTOCOL SERVICE CRC ERROR.
   */
  dataSnError = false;
}

/** A bounded set of recently retired tags (oldest forgotten first). */
class RecentTags {
  readonly #ring: number[];
  readonly #set = new Set<number>();
  #pos = 0;

  constructor(size: number) {
    this.#ring = new Array<number>(size);
  }

  add(tag: number): void {
    if (this.#set.has(tag)) return;
    const old = this.#ring[this.#pos];
    if (old !== undefined) this.#set.delete(old);
    this.#ring[this.#pos] = tag;
    this.#set.add(tag);
    this.#pos = (this.#pos + 1) % this.#ring.length;
  }

  has(tag: number): boolean {
    return this.#set.has(tag);
  }
}

const RETIRED_TAGS_REMEMBERED = 256;

export class DataOutEngine {
  readonly #host: DataOutHost;
  /** TTT → outstanding burst. */
  readonly #bursts = new Map<number, Burst>();
  /** Commands with a datamove in progress. */
  readonly #active = new Set<IscsiCommand>();
  readonly #retiredTtts = new RecentTags(RETIRED_TAGS_REMEMBERED);
  readonly #retiredItts = new RecentTags(RETIRED_TAGS_REMEMBERED);

  constructor(host: DataOutHost) {
    this.#host = host;
  }

  /** Number of R2Ts awaiting data. */
  get outstandingR2ts(): number {
    return this.#bursts.size;
  }

  /** Number of datamoves waiting for data. */
  get pendingDatamoves(): number {
    return this.#active.size;
  }

  /**
   * A SCSI Command with the W bit arrived: records its immediate data and
   * whether unsolicited Data-Out follows. Throws `ProtocolViolation` if the
   * immediate data exceeds FirstBurstLength or ExpectedDataTransferLength.
   */
  commandReceived(cmd: IscsiCommand, request: Pdu): void {
    const st = new DataOutState();
    const host = this.#host;
    const firstBurstEnd = Math.min(host.firstBurstLength, cmd.expectedDataTransferLength);
    const immediateLength = request.dataLength;
    // RFC 7143 §13.14: unsolicited data (immediate included) <= FirstBurstLength;
    // §11.3.4: and never more than the command transfers.
    if (immediateLength > firstBurstEnd) {
      throw new ProtocolViolation(
        `immediate data of ${immediateLength} bytes exceeds min(FirstBurstLength, ExpectedDataTransferLength) = ${firstBurstEnd}`,
      );
    }
    if (immediateLength > 0) {
      st.held.push({ pdu: request, pduOffset: 0, bufferOffset: 0, length: immediateLength, owned: false });
    }
    // RFC 7143 §11.3.1 / §13.10: with InitialR2T=No and F=0 in the command,
    // unsolicited Data-Out PDUs follow, up to FirstBurstLength, the last with F.
    if (!host.initialR2t && (request.flags & Flag.Final) === 0 && immediateLength < firstBurstEnd) {
      st.unsolicitedActive = true;
      st.unsolicitedNextOffset = immediateLength;
      st.unsolicitedEnd = firstBurstEnd;
    }
    cmd.dataOut = st;
  }

  /** CTL asks for the piece `[kernRelOffset, kernRelOffset + kernDataLen)` of a write. */
  datamoveOut(cmd: IscsiCommand, io: ScsiIo): void {
    let st = cmd.dataOut;
    if (st === null) {
      // A command without the W bit that CTL wants data for: only
      // ExpectedDataTransferLength (0 if the initiator was right) is receivable.
      st = new DataOutState();
      cmd.dataOut = st;
    }
    io.kernDataResid = io.kernDataLen;
    if (st.move !== null) {
      // CTL contract: one datamove at a time per command.
      io.portStatus = PortStatus.ProtocolError;
      this.#host.datamoveDone(io);
      return;
    }
    const start = io.kernRelOffset;
    const receivable = Math.max(0, Math.min(io.kernDataLen, cmd.expectedDataTransferLength - start));
    const views = io.dataOutMode === DataOutMode.Views ? ([] as Buffer[]) : null;
    if (views === null) {
      let capacity = 0;
      for (const b of io.kernSgList) capacity += b.length;
      if (capacity < receivable) {
        io.portStatus = PortStatus.BufferTooSmall;
        this.#host.datamoveDone(io);
        return;
      }
    }
    st.move = {
      io,
      start,
      end: start + receivable,
      overflow: receivable < io.kernDataLen,
      filled: start,
      views,
      sgIndex: 0,
      sgOffset: 0,
      bursts: [],
      r2tEnd: start,
    };
    this.#active.add(cmd);
    this.#pump(cmd, st);
  }

  /**
   * A Data-Out PDU arrived. Takes ownership of `pdu`. Throws
   * `ProtocolViolation` on any sequence, offset, tag or F-bit violation.
   */
  dataOut(pdu: Pdu): void {
    let kept = false;
    try {
      const bhs = pdu.bhs;
      const ttt = bhs.readUInt32BE(DataOutBhs.targetTransferTag);
      const itt = bhs.readUInt32BE(DataOutBhs.initiatorTaskTag);
      if (ttt === RESERVED_TAG) kept = this.#unsolicited(pdu, itt);
      else this.#solicited(pdu, ttt, itt);
    } finally {
      if (!kept) this.#host.conn.pduFree(pdu);
    }
  }

  /**
   * Ends the data transfer of `cmd`: outstanding R2Ts are retired, later
   * Data-Out for them is discarded, and a datamove in progress completes
   * with `portStatus` (if none was set yet).
   */
  abortCommand(cmd: IscsiCommand, portStatus: PortStatus): void {
    const st = cmd.dataOut;
    if (st === null) return;
    if (st.unsolicitedActive) {
      st.unsolicitedActive = false;
      this.#retiredItts.add(cmd.initiatorTaskTag);
    }
    const move = st.move;
    if (move === null) return;
    for (const b of move.bursts) this.#retireBurst(b);
    move.bursts = [];
    this.#finish(cmd, st, portStatus);
  }

  /** Aborts every transfer in progress (session teardown). */
  abortAll(portStatus: PortStatus): void {
    for (const cmd of [...this.#active]) this.abortCommand(cmd, portStatus);
  }

  /** Aborts transfers of I/Os that CTL marked aborted (TMF from any nexus). */
  sweepAborted(): void {
    for (const cmd of [...this.#active]) if (cmd.io.aborted) this.abortCommand(cmd, PortStatus.TaskAborted);
  }

  /** The command completed: frees data held for it and forgets its tags. */
  releaseCommand(cmd: IscsiCommand): void {
    const st = cmd.dataOut;
    if (st === null) return;
    if (st.unsolicitedActive) {
      // RFC 7143 §11.4: a target may complete a command before all its
      // unsolicited data arrived; the rest is discarded.
      st.unsolicitedActive = false;
      this.#retiredItts.add(cmd.initiatorTaskTag);
    }
    if (st.move !== null) {
      for (const b of st.move.bursts) this.#retireBurst(b);
      st.move = null;
      this.#active.delete(cmd);
    }
    while (st.held.length > 0) this.#dropHeld(st);
    cmd.dataOut = null;
  }

  #unsolicited(pdu: Pdu, itt: number): boolean {
    const bhs = pdu.bhs;
    const cmd = this.#host.commandByItt(itt);
    const st = cmd?.dataOut ?? null;
    if (cmd === undefined || st === null || !st.unsolicitedActive) {
      if (this.#retiredItts.has(itt)) return false;
      // RFC 7143 §13.10: with InitialR2T=Yes (or after F) no unsolicited data may be sent.
      throw new ProtocolViolation(`unsolicited Data-Out for ITT 0x${hex(itt)} not expected`);
    }
    const dataSn = bhs.readUInt32BE(DataOutBhs.dataSn);
    const offset = bhs.readUInt32BE(DataOutBhs.bufferOffset);
    const len = pdu.dataLength;
    const final = (pdu.flags & Flag.Final) !== 0;
    // RFC 7143 §11.7.5: DataSN of unsolicited data starts at 0 per command. A wrong one is an
    // implied digest error (§7.9), answered per §7.8 with CHECK CONDITION, not a dropped connection.
    if (dataSn !== st.unsolicitedDataSn) st.dataSnError = true;
    st.unsolicitedDataSn = (st.unsolicitedDataSn + 1 + pdu.additionalPdus) >>> 0;
    // RFC 7143 §13.20 DataPDUInOrder=Yes: no gaps, no reordering.
    if (offset !== st.unsolicitedNextOffset) {
      throw new ProtocolViolation(`unsolicited Data-Out BufferOffset ${offset}, expected ${st.unsolicitedNextOffset}`);
    }
    // RFC 7143 §13.14: unsolicited data is bounded by FirstBurstLength (and EDTL).
    if (offset + len > st.unsolicitedEnd) {
      throw new ProtocolViolation(`unsolicited data up to ${offset + len} exceeds ${st.unsolicitedEnd} bytes`);
    }
    st.unsolicitedNextOffset = offset + len;
    if (final) {
      st.unsolicitedActive = false;
    } else if (st.unsolicitedNextOffset === st.unsolicitedEnd) {
      // RFC 7143 §11.7.1: the last PDU of the unsolicited sequence carries F.
      throw new ProtocolViolation('unsolicited data reached FirstBurstLength without the F bit');
    }
    let kept = false;
    if (len > 0) {
      st.held.push({ pdu, pduOffset: 0, bufferOffset: offset, length: len, owned: true });
      kept = true;
    }
    // The held PDU is now owned by `st.held`; pump may consume and free it.
    if (st.move !== null) this.#pump(cmd, st);
    return kept;
  }

  #solicited(pdu: Pdu, ttt: number, itt: number): void {
    const burst = this.#bursts.get(ttt);
    if (burst === undefined) {
      if (this.#retiredTtts.has(ttt)) return;
      // ERL 0 (freebsd-arch §5.12): Data-Out for a TTT we never issued.
      throw new ProtocolViolation(`Data-Out with unknown TTT 0x${hex(ttt)} (ITT 0x${hex(itt)})`);
    }
    const cmd = burst.cmd;
    const st = cmd.dataOut!;
    const move = st.move!;
    const fail = (msg: string): never => {
      move.io.portStatus = PortStatus.ProtocolError;
      throw new ProtocolViolation(msg);
    };
    const bhs = pdu.bhs;
    // RFC 7143 §11.7.4: the ITT of a Data-Out is the command's.
    if (itt !== cmd.initiatorTaskTag) fail(`Data-Out ITT 0x${hex(itt)} does not match TTT 0x${hex(ttt)}`);
    const dataSn = bhs.readUInt32BE(DataOutBhs.dataSn);
    // RFC 7143 §11.7.5: DataSN starts at 0 for every R2T-solicited sequence; a wrong one is an
    // implied digest error (§7.9): keep receiving the sequence, then fail the task (§7.8, option b).
    if (dataSn !== burst.expDataSn) st.dataSnError = true;
    burst.expDataSn = (burst.expDataSn + 1 + pdu.additionalPdus) >>> 0;
    // RFC 7143 §13.19 DataSequenceInOrder=Yes: sequences arrive in R2T order.
    if (move.bursts[0] !== burst) fail(`Data-Out for TTT 0x${hex(ttt)} before the earlier R2T completed`);
    const offset = bhs.readUInt32BE(DataOutBhs.bufferOffset);
    const len = pdu.dataLength;
    // RFC 7143 §13.20 DataPDUInOrder=Yes: the PDU must continue at the fill
    // position (an overlap with bytes already received is tolerated, as FreeBSD does).
    if (offset > move.filled || offset + len <= move.filled) {
      fail(`Data-Out BufferOffset ${offset} (+${len}) does not continue at ${move.filled}`);
    }
    // RFC 7143 §11.8.5: no more than DesiredDataTransferLength per R2T.
    if (offset + len > burst.end) fail(`Data-Out up to ${offset + len} exceeds the R2T's end ${burst.end}`);
    const final = (pdu.flags & Flag.Final) !== 0;
    const skip = move.filled - offset;
    this.#deliver(move, pdu, skip, len - skip);
    move.filled = offset + len;
    if (move.filled === burst.end) {
      // RFC 7143 §11.7.1: F marks the last PDU of the sequence.
      if (!final) fail('last Data-Out of an R2T sequence without the F bit');
      move.bursts.shift();
      this.#retireBurst(burst);
      if (move.filled === move.end) this.#finish(cmd, st, PortStatus.Ok);
      else this.#pump(cmd, st);
    } else if (final) {
      fail(`F bit at ${move.filled} before the R2T's end ${burst.end}`);
    }
  }

  /** Fills the move from held data, then waits or solicits the rest. */
  #pump(cmd: IscsiCommand, st: DataOutState): void {
    const move = st.move!;
    while (st.held.length > 0 && move.filled < move.end) {
      const seg = st.held[0]!;
      if (seg.bufferOffset + seg.length <= move.filled) {
        this.#dropHeld(st); // before this piece (already delivered, or skipped by CTL)
        continue;
      }
      if (seg.bufferOffset > move.filled) break;
      const skip = move.filled - seg.bufferOffset;
      const n = Math.min(seg.length - skip, move.end - move.filled);
      this.#deliver(move, seg.pdu, seg.pduOffset + skip, n);
      move.filled += n;
      if (skip + n === seg.length) this.#dropHeld(st);
    }
    if (move.filled === move.end) {
      this.#finish(cmd, st, PortStatus.Ok);
      return;
    }
    // Unsolicited data for this range is still on its way.
    if (st.unsolicitedActive && move.filled < st.unsolicitedEnd) return;
    const host = this.#host;
    if (move.r2tEnd < move.filled) move.r2tEnd = move.filled;
    while (move.bursts.length < host.maxOutstandingR2t && move.r2tEnd < move.end) {
      const offset = move.r2tEnd;
      // RFC 7143 §13.13: an R2T asks for at most MaxBurstLength bytes.
      const length = Math.min(move.end - offset, host.maxBurstLength);
      move.r2tEnd = offset + length;
      this.#sendR2t(cmd, move, offset, length);
    }
  }

  #sendR2t(cmd: IscsiCommand, move: ActiveMove, offset: number, length: number): void {
    const host = this.#host;
    const conn = host.conn;
    const request = cmd.requestPdu;
    if (request === null) throw new Error(`command 0x${hex(cmd.initiatorTaskTag)} lost its request PDU`);
    const setup = conn.transferSetup(request, host.allocTtt());
    if (setup.ttt === RESERVED_TAG || this.#bursts.has(setup.ttt)) {
      conn.transferDone(setup.prv);
      throw new Error(`transferSetup returned an unusable TTT 0x${hex(setup.ttt)}`);
    }
    const burst: Burst = { ttt: setup.ttt, prv: setup.prv, cmd, offset, end: offset + length, expDataSn: 0 };
    this.#bursts.set(burst.ttt, burst);
    move.bursts.push(burst);
    const pdu = conn.newPdu();
    const bhs = pdu.bhs;
    bhsSetOpcode(bhs, TargetOpcode.R2t);
    bhs[Bhs.flags] = Flag.Final; // RFC 7143 §11.8: F is always 1
    bhs.writeUInt32BE(cmd.lunHi, R2tBhs.lun);
    bhs.writeUInt32BE(cmd.lunLo, R2tBhs.lun + 4);
    bhs.writeUInt32BE(cmd.initiatorTaskTag, R2tBhs.initiatorTaskTag);
    bhs.writeUInt32BE(burst.ttt, R2tBhs.targetTransferTag);
    bhs.writeUInt32BE(cmd.r2tSn, R2tBhs.r2tSn);
    cmd.r2tSn = (cmd.r2tSn + 1) >>> 0;
    bhs.writeUInt32BE(offset, R2tBhs.bufferOffset);
    bhs.writeUInt32BE(length, R2tBhs.desiredDataTransferLength);
    host.send(pdu);
  }

  #deliver(move: ActiveMove, pdu: Pdu, pduOffset: number, length: number): void {
    if (length === 0) return;
    const conn = this.#host.conn;
    if (move.views !== null) {
      for (const v of conn.pduDataViews(pdu, pduOffset, length)) move.views.push(v);
      return;
    }
    const sg = move.io.kernSgList;
    let left = length;
    let from = pduOffset;
    while (left > 0) {
      const dst = sg[move.sgIndex]!; // capacity checked when the move started
      const room = dst.length - move.sgOffset;
      if (room === 0) {
        move.sgIndex++;
        move.sgOffset = 0;
        continue;
      }
      const n = Math.min(room, left);
      conn.pduGetData(pdu, from, dst, move.sgOffset, n);
      move.sgOffset += n;
      from += n;
      left -= n;
    }
  }

  #finish(cmd: IscsiCommand, st: DataOutState, portStatus: PortStatus): void {
    const move = st.move!;
    st.move = null;
    this.#active.delete(cmd);
    const io = move.io;
    io.kernDataResid = io.kernDataLen - (move.filled - move.start);
    if (move.views !== null) io.kernSgList = move.views;
    if (portStatus !== PortStatus.Ok) {
      if (io.portStatus === 0) io.portStatus = portStatus;
    } else if (st.dataSnError) {
      // RFC 7143 §7.8: terminate the task with CHECK CONDITION, PROTOCOL SERVICE CRC ERROR, after
      // all data of the outstanding R2Ts arrived (which it has: the piece is complete).
      io.portStatus = PORT_STATUS_PROTOCOL_CRC_ERROR;
    } else if (move.overflow) {
      // Bytes past ExpectedDataTransferLength can never arrive: do not let
      // the backend write a partly filled piece.
      io.portStatus = PortStatus.Overflow;
    }
    this.#host.datamoveDone(io);
  }

  #dropHeld(st: DataOutState): void {
    const seg = st.held.shift();
    if (seg !== undefined && seg.owned) this.#host.conn.pduFree(seg.pdu);
  }

  #retireBurst(burst: Burst): void {
    if (this.#bursts.get(burst.ttt) === burst) this.#bursts.delete(burst.ttt);
    this.#retiredTtts.add(burst.ttt);
    this.#host.conn.transferDone(burst.prv);
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
