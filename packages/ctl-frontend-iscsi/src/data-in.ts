/**
 * Data-In generation for a CTL datamove of direction In (reads) — FreeBSD
 * `cfiscsi_datamove_in`, freebsd-arch §5.6.
 *
 * What it does: walks the datamove's scatter list and queues SCSI Data-In
 * PDUs (RFC 7143 §11.7) of at most the initiator's MaxRecvDataSegmentLength
 * (or the driver's ISO size), with a per-command DataSN, BufferOffset, the
 * F bit at the end of every Data-In sequence (MaxBurstLength, RFC 7143
 * §13.13) and on the last PDU of the command, and — when CTL has already
 * marked the command successful — the status in the final Data-In (S bit,
 * "phase collapse", RFC 7143 §11.7.4), so no SCSI Response follows. Data
 * beyond ExpectedDataTransferLength is not sent (residual overflow).
 *
 * What it does not do: no StatSN/ExpCmdSN/MaxCmdSN (the sender's prepare
 * step writes them), no `ctl.datamoveDone` (the session calls it as soon as
 * the PDUs are queued), no SCSI Response.
 *
 * Buffer ownership: with `noCopy` and an I/O that offers `kernDataRef`,
 * every Data-In PDU borrows views of `io.kernSgList` and holds exactly one
 * `kernDataRef(kernDataArg, +1)` until the driver releases the PDU's chunks
 * (`-1`); the reference object captures only `kernDataRef` and `kernDataArg`,
 * never the I/O, the command or the session (DESIGN.md §3.1). Without
 * `kernDataRef` (or with `noCopy` off) the driver copies the bytes while
 * they are appended, so CTL may reuse its buffers after `datamoveDone`.
 */
import {
  DataInBhs,
  Flag,
  RESERVED_TAG,
  TargetOpcode,
  bhsSetOpcode,
  type AppendOptions,
  type BufRef,
  type IclConn,
  type Pdu,
} from '@iscsi-target/icl-core';
import { IoStatus, type ScsiIo } from '@iscsi-target/ctl-core';
import type { IscsiCommand } from './command.js';
import { computeResidual } from './responses.js';

/** What Data-In generation needs from its session. */
export interface DataInSender {
  readonly conn: IclConn;
  /** Borrow backend buffers when the I/O offers `kernDataRef`. */
  readonly noCopy: boolean;
  /** Negotiated MaxBurstLength: the longest Data-In sequence. */
  readonly maxBurstLength: number;
  /** Writes StatSN/ExpCmdSN/MaxCmdSN and queues the PDU. */
  send(pdu: Pdu): void;
}

/**
 * The reference one Data-In PDU holds on the backend's buffer set. The PDU
 * retains it once per borrowed chunk; the backend sees one +1 when the
 * first chunk is retained and one −1 when the last is released.
 */
export class DataInBufRef implements BufRef {
  readonly #kernDataRef: (arg: unknown, diff: number) => void;
  readonly #kernDataArg: unknown;
  #count = 0;

  constructor(kernDataRef: (arg: unknown, diff: number) => void, kernDataArg: unknown) {
    this.#kernDataRef = kernDataRef;
    this.#kernDataArg = kernDataArg;
  }

  retain(): void {
    if (this.#count++ === 0) this.#kernDataRef(this.#kernDataArg, 1);
  }

  release(): void {
    if (this.#count === 0) return;
    if (--this.#count === 0) this.#kernDataRef(this.#kernDataArg, -1);
  }
}

/**
 * Queues the Data-In PDUs of one datamove piece. Returns the number of
 * payload bytes queued and leaves `io.kernDataResid` = bytes of the piece not
 * sent. Sets `cmd.statusSent` if the status went out in the final Data-In.
 */
export function datamoveIn(sender: DataInSender, cmd: IscsiCommand, io: ScsiIo): number {
  const conn = sender.conn;
  io.kernDataResid = io.kernDataLen;
  const edtl = cmd.expectedDataTransferLength;
  const start = io.kernRelOffset;
  // RFC 7143 §11.4.5.1: nothing beyond ExpectedDataTransferLength is sent.
  if (start >= edtl || io.kernDataLen === 0) return 0;
  const sendLen = Math.min(io.kernDataLen, edtl - start);
  // The command's last byte on the wire: its total length, clipped to EDTL.
  // A CTL that left kernTotalLen unset is treated as "this piece is the end".
  const commandEnd = Math.min(Math.max(io.kernTotalLen, start + io.kernDataLen), edtl);
  const lastPiece = start + sendLen >= commandEnd;
  const maxSendDsl = conn.maxSendDataSegmentLength;
  const iso = conn.hwIsoMax > maxSendDsl;
  const maxSegment = iso ? conn.hwIsoMax : maxSendDsl;
  const maxBurst = sender.maxBurstLength;
  const kernDataRef = sender.noCopy ? io.kernDataRef : null;
  const sg = io.kernSgList;
  let sgIndex = 0;
  let sgOffset = 0;
  let sent = 0;

  while (sent < sendLen) {
    const want = Math.min(sendLen - sent, maxSegment, maxBurst - cmd.dataInSequenceBytes);
    const pdu = conn.newPdu();
    let options: AppendOptions | undefined;
    if (kernDataRef !== null) options = { noCopy: true, ref: new DataInBufRef(kernDataRef, io.kernDataArg) };
    let filled = 0;
    while (filled < want && sgIndex < sg.length) {
      const buf = sg[sgIndex]!;
      const avail = buf.length - sgOffset;
      if (avail <= 0) {
        sgIndex++;
        sgOffset = 0;
        continue;
      }
      const n = Math.min(avail, want - filled);
      conn.pduAppendData(pdu, sgOffset === 0 && n === buf.length ? buf : buf.subarray(sgOffset, sgOffset + n), options);
      filled += n;
      sgOffset += n;
    }
    if (filled === 0) {
      // The scatter list holds less than kernDataLen: send what there was.
      conn.pduFree(pdu);
      break;
    }
    const bufferOffset = start + sent;
    sent += filled;
    cmd.dataInSequenceBytes += filled;
    const lastOfCommand = lastPiece && sent === sendLen;
    const bhs = pdu.bhs;
    bhsSetOpcode(bhs, TargetOpcode.DataIn);
    let flags = 0;
    // RFC 7143 §11.7.1: F ends a Data-In sequence (at most MaxBurstLength
    // bytes, §13.13) and marks the command's last Data-In.
    if (lastOfCommand || cmd.dataInSequenceBytes >= maxBurst) {
      flags |= Flag.Final;
      cmd.dataInSequenceBytes = 0;
    }
    // RFC 7143 §11.7.4: status may ride on the final Data-In (S requires F)
    // only if it carries no sense data — i.e. GOOD, set before the datamove.
    if (lastOfCommand && io.status === IoStatus.Success && io.senseData === null) {
      const residual = computeResidual(edtl, Math.max(io.kernTotalLen, start + io.kernDataLen));
      flags |= Flag.Status | residual.flags;
      bhs[DataInBhs.status] = io.scsiStatus;
      bhs.writeUInt32BE(residual.count, DataInBhs.residualCount);
      cmd.statusSent = true;
    }
    bhs[DataInBhs.flags] = flags;
    bhs.writeUInt32BE(cmd.initiatorTaskTag, DataInBhs.initiatorTaskTag);
    // RFC 7143 §11.7.2: TTT is reserved unless the A bit asks for a SNACK ack.
    bhs.writeUInt32BE(RESERVED_TAG, DataInBhs.targetTransferTag);
    bhs.writeUInt32BE(cmd.dataSn, DataInBhs.dataSn);
    bhs.writeUInt32BE(bufferOffset, DataInBhs.bufferOffset);
    // RFC 7143 §11.7.5: DataSN counts wire PDUs; an ISO super-PDU is cut into
    // ceil(len / MaxSendDataSegmentLength) PDUs by the driver.
    cmd.dataSn = (cmd.dataSn + (iso ? Math.ceil(filled / maxSendDsl) : 1)) >>> 0;
    sender.send(pdu);
  }
  io.kernDataResid = io.kernDataLen - sent;
  return sent;
}
