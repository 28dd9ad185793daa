/**
 * Builders of the target PDUs that carry a status or a session-level
 * message: SCSI Response, Reject, Logout Response, Asynchronous Message —
 * and the residual computation shared with the final Data-In.
 *
 * What it does: allocates a PDU on the connection and fills its BHS (and
 * data segment) except StatSN/ExpCmdSN/MaxCmdSN, which the session writes
 * right before queueing (`IscsiSession` "prepare", FreeBSD
 * `cfiscsi_pdu_prepare`).
 *
 * What it does not do: no queueing, no sequence numbers, no decisions about
 * whether a response is due.
 *
 * Buffer ownership: data segments built here are fresh Buffers owned by
 * nobody else; they are appended with `noCopy` and no reference, so the
 * driver may keep them until completion without a copy.
 */
import {
  Bhs,
  AsyncMessageBhs,
  BHS_SIZE,
  Flag,
  LogoutResponseBhs,
  RESERVED_TAG,
  RejectBhs,
  ScsiResponseBhs,
  ScsiResponseCode,
  TargetOpcode,
  bhsSetOpcode,
  type IclConn,
  type Pdu,
} from '@iscsi-target/icl-core';
import type { ScsiIo } from '@iscsi-target/ctl-core';
import type { IscsiCommand } from './command.js';

/**
 * Residual of a command (RFC 7143 §11.4.5): compares the bytes the command
 * transfers per its CDB (`kernTotalLen`) with the initiator's
 * ExpectedDataTransferLength. Returns the O/U flag bits and the count.
 */
export function computeResidual(
  expectedDataTransferLength: number,
  totalLength: number,
): { flags: number; count: number } {
  if (totalLength > expectedDataTransferLength) {
    // RFC 7143 §11.4.5.1: overflow — "the target could not transfer all the data".
    return { flags: Flag.ResidualOverflow, count: totalLength - expectedDataTransferLength };
  }
  if (totalLength < expectedDataTransferLength) {
    // RFC 7143 §11.4.5.2: underflow — fewer bytes than expected were transferred.
    return { flags: Flag.ResidualUnderflow, count: expectedDataTransferLength - totalLength };
  }
  return { flags: 0, count: 0 };
}

/** Appends a buffer this module just allocated (nobody else holds it). */
function appendOwned(conn: IclConn, pdu: Pdu, buf: Buffer): void {
  conn.pduAppendData(pdu, buf, { noCopy: true });
}

/**
 * SCSI Response (RFC 7143 §11.4) for a completed command: response
 * "Command Completed at Target", SCSI status, ExpDataSN, residuals, and the
 * sense data as `SenseLength (2 bytes) + sense` (§11.4.7). Sense is copied.
 */
export function buildScsiResponse(conn: IclConn, cmd: IscsiCommand, io: ScsiIo): Pdu {
  const pdu = conn.newPdu();
  const bhs = pdu.bhs;
  bhsSetOpcode(bhs, TargetOpcode.ScsiResponse);
  const residual = computeResidual(cmd.expectedDataTransferLength, io.kernTotalLen);
  bhs[ScsiResponseBhs.flags] = Flag.Final | residual.flags;
  bhs[ScsiResponseBhs.response] = ScsiResponseCode.CommandCompleted;
  bhs[ScsiResponseBhs.status] = io.scsiStatus;
  bhs.writeUInt32BE(cmd.initiatorTaskTag, ScsiResponseBhs.initiatorTaskTag);
  // RFC 7143 §11.4.8: ExpDataSN = the number of R2T and Data-In PDUs the
  // target has sent for the command (they share one input numbering).
  bhs.writeUInt32BE((cmd.dataSn + cmd.r2tSn) >>> 0, ScsiResponseBhs.expDataSn);
  bhs.writeUInt32BE(residual.count, ScsiResponseBhs.residualCount);
  const sense = io.senseData;
  if (sense !== null && sense.length > 0) {
    const len = Math.min(sense.length, 0xffff);
    const seg = Buffer.allocUnsafe(2 + len);
    seg.writeUInt16BE(len, 0);
    sense.copy(seg, 2, 0, len);
    appendOwned(conn, pdu, seg);
  }
  return pdu;
}

/**
 * Reject (RFC 7143 §11.17): the data segment carries a copy of the rejected
 * PDU's BHS (§11.17.1 "the complete header of the bad PDU").
 */
export function buildReject(conn: IclConn, reason: number, rejectedBhs: Buffer): Pdu {
  const pdu = conn.newPdu();
  const bhs = pdu.bhs;
  bhsSetOpcode(bhs, TargetOpcode.Reject);
  bhs[Bhs.flags] = Flag.Final;
  bhs[RejectBhs.reason] = reason;
  // RFC 7143 §11.17: the ITT of a Reject is the reserved value.
  bhs.writeUInt32BE(RESERVED_TAG, Bhs.initiatorTaskTag);
  const copy = Buffer.allocUnsafe(BHS_SIZE);
  rejectedBhs.copy(copy, 0, 0, BHS_SIZE);
  appendOwned(conn, pdu, copy);
  return pdu;
}

/** Logout Response (RFC 7143 §11.15) with Time2Wait = Time2Retain = 0. */
export function buildLogoutResponse(conn: IclConn, initiatorTaskTag: number, response: number): Pdu {
  const pdu = conn.newPdu();
  const bhs = pdu.bhs;
  bhsSetOpcode(bhs, TargetOpcode.LogoutResponse);
  bhs[Bhs.flags] = Flag.Final;
  bhs[LogoutResponseBhs.response] = response;
  bhs.writeUInt32BE(initiatorTaskTag, LogoutResponseBhs.initiatorTaskTag);
  // RFC 7143 §11.15.4-5: no reconnection wait; nothing is retained (ERL 0).
  bhs.writeUInt16BE(0, LogoutResponseBhs.time2Wait);
  bhs.writeUInt16BE(0, LogoutResponseBhs.time2Retain);
  return pdu;
}

/**
 * Asynchronous Message (RFC 7143 §11.9) for a non-SCSI event, e.g. 1
 * "target requests Logout" with Parameter3 = seconds the initiator has, or 3
 * "target will drop all connections" with Parameter2/3 = Time2Wait/Time2Retain.
 */
export function buildAsyncMessage(
  conn: IclConn,
  asyncEvent: number,
  parameters: { parameter1?: number; parameter2?: number; parameter3?: number } = {},
): Pdu {
  const pdu = conn.newPdu();
  const bhs = pdu.bhs;
  bhsSetOpcode(bhs, TargetOpcode.AsyncMessage);
  bhs[Bhs.flags] = Flag.Final;
  // RFC 7143 §11.9: ITT is the reserved value.
  bhs.writeUInt32BE(RESERVED_TAG, Bhs.initiatorTaskTag);
  bhs[AsyncMessageBhs.asyncEvent] = asyncEvent;
  bhs[AsyncMessageBhs.asyncVCode] = 0;
  bhs.writeUInt16BE(parameters.parameter1 ?? 0, AsyncMessageBhs.parameter1);
  bhs.writeUInt16BE(parameters.parameter2 ?? 0, AsyncMessageBhs.parameter2);
  bhs.writeUInt16BE(parameters.parameter3 ?? 0, AsyncMessageBhs.parameter3);
  return pdu;
}
