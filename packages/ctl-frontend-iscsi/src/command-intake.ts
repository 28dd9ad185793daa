/**
 * SCSI Command intake (RFC 7143 §11.3; FreeBSD `cfiscsi_pdu_handle_scsi_command`,
 * freebsd-arch §5.5): a SCSI Command PDU that passed the CmdSN window becomes
 * a CTL `ScsiIo` with its frontend state (`IscsiCommand`).
 *
 * What it does: checks the PDU against the session's negotiated parameters
 * and task table — immediate data with ImmediateData=No or without the W bit
 * (Reject, then the session closes: ERL 0), the reserved ITT, bidirectional
 * commands, an ITT already in use (Reject) — maps the task attribute and the
 * LUN field, builds the `ScsiIo` (the CDB copied), registers the command in
 * the task table, hands its immediate data to the R2T engine and submits the
 * I/O to CTL.
 *
 * What it does not do: no CmdSN checks (the session's receive dispatch), no
 * Data-Out or R2T (`data-out.ts`), no completion (`IscsiSession.scsiDone`),
 * no PDU is sent from here except through the host's reject callbacks.
 *
 * Buffer ownership: when `submitScsiCommand` returns true the request PDU
 * belongs to the new command (`IscsiCommand.requestPdu`, freed at its
 * completion); when it returns false or throws, the caller still owns it and
 * frees it. The CDB is copied out of the BHS, which may be a view of a
 * receive buffer.
 */
import {
  Flag,
  RESERVED_TAG,
  RejectReason,
  ScsiCommandBhs,
  TASK_ATTRIBUTE_MASK,
  TaskAttribute,
  type Pdu,
} from '@iscsi-target/icl-core';
import { TagType, decodeLun, newScsiIo, type CtlIo } from '@iscsi-target/ctl-core';
import { IscsiCommand } from './command.js';
import type { DataOutEngine } from './data-out.js';
import type { IscsiSession } from './session.js';

/** What intake needs from its session. */
export interface CommandIntakeHost {
  /** Negotiated parameters, the CTL nexus (`initiatorIndex`, `target.portNumber`) and counters. */
  readonly session: IscsiSession;
  /** The task table: ITT → command, shared with the session and the TMF code. */
  readonly commands: Map<number, IscsiCommand>;
  readonly dataOut: DataOutEngine;
  reject(rejectedBhs: Buffer, reason: number): void;
  /** Reject, then close the session once the Reject is sent. */
  rejectAndClose(rejectedBhs: Buffer, reason: number, why: string): void;
  log(level: 'warn', obj: Record<string, unknown>, msg: string): void;
  /** Counts the I/O as outstanding and `ctl.run`s it; on a throw, uncounts and rethrows. */
  submit(io: CtlIo): void;
}

/**
 * The LUN field decoded with CTL's own SAM single-level rules (peripheral or
 * flat space addressing, the forms its REPORT LUNS produces); anything else
 * becomes a LUN no map contains, so CTL answers LOGICAL UNIT NOT SUPPORTED.
 */
export function lunOf(bhs: Buffer, offset: number): number {
  return decodeLun(bhs, offset) ?? 0xffffffff;
}

/** RFC 7143 §11.3.1.2 task attribute → CTL tag type; null for reserved values. */
export function mapTaskAttribute(attr: number): TagType | null {
  switch (attr) {
    case TaskAttribute.Untagged:
      return TagType.Untagged;
    case TaskAttribute.Simple:
      return TagType.Simple;
    case TaskAttribute.Ordered:
      return TagType.Ordered;
    case TaskAttribute.HeadOfQueue:
      return TagType.HeadOfQueue;
    case TaskAttribute.Aca:
      return TagType.Aca;
    default:
      return null;
  }
}

/**
 * Takes in one SCSI Command PDU. Returns true if the PDU now belongs to a
 * command (see the module comment for ownership otherwise). Throws what
 * `ctl.run` throws, after undoing the registration.
 */
export function submitScsiCommand(host: CommandIntakeHost, pdu: Pdu): boolean {
  const session = host.session;
  const bhs = pdu.bhs;
  const flags = bhs[ScsiCommandBhs.flags]!;
  const itt = bhs.readUInt32BE(ScsiCommandBhs.initiatorTaskTag);
  const read = (flags & Flag.Read) !== 0;
  const write = (flags & Flag.Write) !== 0;
  const edtl = bhs.readUInt32BE(ScsiCommandBhs.expectedDataTransferLength);
  const immediateLength = pdu.dataLength;
  if (immediateLength > 0 && !session.immediateData) {
    // RFC 7143 §13.11: with ImmediateData=No the command carries no data.
    // The Reject tells the initiator why; ERL 0 then drops the session
    // (what follows — possibly Data-Out for this task — is unusable).
    host.rejectAndClose(bhs, RejectReason.ProtocolError, 'immediate data with ImmediateData=No');
    return false;
  }
  if (immediateLength > 0 && !write) {
    // RFC 7143 §11.3.1: data flows to the target only for W commands.
    host.rejectAndClose(bhs, RejectReason.ProtocolError, 'immediate data on a command without the W bit');
    return false;
  }
  if (itt === RESERVED_TAG) {
    // RFC 7143 §11.2.1.8: 0xffffffff is not a valid task tag.
    host.reject(bhs, RejectReason.InvalidPduField);
    return false;
  }
  if (read && write) {
    // Bidirectional commands need the Read EDTL AHS, which is not supported.
    host.reject(bhs, RejectReason.CommandNotSupported);
    return false;
  }
  const commands = host.commands;
  if (commands.has(itt)) {
    // RFC 7143 §11.17.1: "Task in progress" — the ITT is in use.
    host.reject(bhs, RejectReason.TaskInProgress);
    return false;
  }
  let tagType = mapTaskAttribute(flags & TASK_ATTRIBUTE_MASK);
  if (tagType === null) {
    host.log('warn', { itt, attribute: flags & TASK_ATTRIBUTE_MASK }, 'unknown task attribute, using untagged');
    tagType = TagType.Untagged;
  }
  const io = newScsiIo({
    nexus: { initiatorIndex: session.initiatorIndex, targetPort: session.target.portNumber, lun: lunOf(bhs, ScsiCommandBhs.lun) },
    tagNum: itt,
    tagType,
    // Copy: the BHS may be a view of a receive buffer (freebsd-arch §5.5).
    cdb: Buffer.from(bhs.subarray(ScsiCommandBhs.cdb, ScsiCommandBhs.cdb + ScsiCommandBhs.cdbLength)),
    expectedDataTransferLength: edtl,
  });
  const cmd = new IscsiCommand(session, io, pdu, {
    initiatorTaskTag: itt,
    lunHi: bhs.readUInt32BE(ScsiCommandBhs.lun),
    lunLo: bhs.readUInt32BE(ScsiCommandBhs.lun + 4),
    expectedDataTransferLength: edtl,
    read,
    write,
  });
  io.fePriv = cmd;
  if (write) host.dataOut.commandReceived(cmd, pdu);
  session.counters.dataOutBytes += immediateLength;
  session.counters.scsiCommands++;
  commands.set(itt, cmd);
  try {
    host.submit(io);
  } catch (err) {
    commands.delete(itt);
    host.dataOut.releaseCommand(cmd);
    cmd.requestPdu = null; // freed by the caller
    throw err;
  }
  return true;
}
