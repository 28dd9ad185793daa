/**
 * Task Management Function requests and responses (RFC 7143 §11.5-11.6,
 * with the SAM-5 functions QUERY TASK etc. added by RFC 7144) — FreeBSD
 * `cfiscsi_pdu_handle_task_request` / `cfiscsi_task_management_done`,
 * freebsd-arch §5.9.
 *
 * What it does: maps an iSCSI TMF function code to a CTL task action (or to
 * an immediate response for functions the target does not offer), maps
 * CTL's task status to the iSCSI response code, decides the ABORT TASK
 * answer for a tag the session does not know (RFC 7143 §11.5.1), and builds
 * the TMF Response PDU.
 *
 * What it does not do: no CTL calls, no session state (the session submits
 * the `TaskIo` and aborts Data-Out waits when an abort completes).
 */
import {
  Bhs,
  Flag,
  TargetOpcode,
  TaskMgmtFunction,
  TaskMgmtResponse,
  TaskMgmtResponseBhs,
  bhsSetOpcode,
  type IclConn,
  type Pdu,
} from '@iscsi-target/icl-core';
import { TaskAction, TaskStatus } from '@iscsi-target/ctl-core';
import { snGte, snLt, snLte, snAdd } from './cmdsn.js';
import type { IscsiSession } from './session.js';

/** TMF function codes added by RFC 7144 (iSCSI SCSI features update). */
export const TaskMgmtFunctionExt = {
  QueryTask: 9,
  QueryTaskSet: 10,
  ItNexusReset: 11,
  QueryAsyncEvent: 12,
} as const;

/** TMF response "Function succeeded" added by RFC 7144 (QUERY answers). */
export const TMF_RESPONSE_FUNCTION_SUCCEEDED = 7;

/** Offset of the 3-byte Additional Response Information (RFC 7144; FreeBSD `bhstmr_additional_reponse_information`). */
export const TMF_ADDITIONAL_RESPONSE_INFO = 8;

export type TmfMapping =
  | {
      readonly kind: 'ctl';
      readonly action: TaskAction;
      /** The function names a task by its Referenced Task Tag. */
      readonly referencesTask: boolean;
      /** The function addresses the whole target: the LUN field is reserved. */
      readonly targetLevel: boolean;
      /** TARGET COLD RESET: the target's sessions are dropped after the response. */
      readonly coldReset: boolean;
    }
  | { readonly kind: 'respond'; readonly response: number };

const ctl = (action: TaskAction, referencesTask = false, targetLevel = false, coldReset = false): TmfMapping => ({
  kind: 'ctl',
  action,
  referencesTask,
  targetLevel,
  coldReset,
});

/** Maps the function field (byte 1, low 7 bits) of a TMF request. */
export function mapTmfFunction(fn: number): TmfMapping {
  switch (fn) {
    case TaskMgmtFunction.AbortTask:
      return ctl(TaskAction.AbortTask, true);
    case TaskMgmtFunction.AbortTaskSet:
      return ctl(TaskAction.AbortTaskSet);
    case TaskMgmtFunction.ClearTaskSet:
      return ctl(TaskAction.ClearTaskSet);
    case TaskMgmtFunction.LogicalUnitReset:
      return ctl(TaskAction.LogicalUnitReset);
    case TaskMgmtFunction.TargetWarmReset:
      return ctl(TaskAction.TargetReset, false, true);
    case TaskMgmtFunction.TargetColdReset:
      return ctl(TaskAction.TargetReset, false, true, true);
    case TaskMgmtFunctionExt.QueryTask:
      return ctl(TaskAction.QueryTask, true);
    case TaskMgmtFunctionExt.QueryTaskSet:
      return ctl(TaskAction.QueryTaskSet);
    case TaskMgmtFunctionExt.ItNexusReset:
      return ctl(TaskAction.ItNexusReset, false, true);
    case TaskMgmtFunctionExt.QueryAsyncEvent:
      return ctl(TaskAction.QueryAsyncEvent);
    case TaskMgmtFunction.TaskReassign:
      // RFC 7143 §11.6.1: with ErrorRecoveryLevel < 2, TASK REASSIGN is
      // answered "Task allegiance reassignment not supported".
      return { kind: 'respond', response: TaskMgmtResponse.TaskAllegianceReassignmentNotSupported };
    case TaskMgmtFunction.ClearAca:
    default:
      // ACA is not supported (NormACA=0); unknown functions likewise.
      return { kind: 'respond', response: TaskMgmtResponse.FunctionNotSupported };
  }
}

/** CTL task status → RFC 7143 §11.6.1 response code. */
export function tmfResponseFromTaskStatus(status: TaskStatus): number {
  switch (status) {
    case TaskStatus.FunctionComplete:
      return TaskMgmtResponse.FunctionComplete;
    case TaskStatus.FunctionSucceeded:
      return TMF_RESPONSE_FUNCTION_SUCCEEDED;
    case TaskStatus.LunDoesNotExist:
      return TaskMgmtResponse.LunDoesNotExist;
    case TaskStatus.FunctionRejected:
      return TaskMgmtResponse.FunctionRejected;
    case TaskStatus.FunctionNotSupported:
    default:
      return TaskMgmtResponse.FunctionNotSupported;
  }
}

/**
 * ABORT TASK for a Referenced Task Tag the session has no task for (RFC 7143
 * §11.5.1): if RefCmdSN is inside the CmdSN window and before the TMF's own
 * CmdSN, the command is considered received and the answer is "Function
 * complete"; otherwise "Task does not exist".
 */
export function abortUnknownTaskResponse(
  refCmdSn: number,
  tmfCmdSn: number,
  expCmdSn: number,
  maxTags: number,
): number {
  const inWindow = snGte(refCmdSn, expCmdSn) && snLte(refCmdSn, snAdd(expCmdSn, maxTags - 1));
  return inWindow && snLt(refCmdSn, tmfCmdSn) ? TaskMgmtResponse.FunctionComplete : TaskMgmtResponse.TaskDoesNotExist;
}

/** TMF Response (RFC 7143 §11.6) with the optional 3-byte additional response information. */
export function buildTmfResponse(
  conn: IclConn,
  initiatorTaskTag: number,
  response: number,
  additionalResponseInfo: Buffer | null = null,
): Pdu {
  const pdu = conn.newPdu();
  const bhs = pdu.bhs;
  bhsSetOpcode(bhs, TargetOpcode.TaskManagementResponse);
  bhs[Bhs.flags] = Flag.Final;
  bhs[TaskMgmtResponseBhs.response] = response;
  if (additionalResponseInfo !== null) additionalResponseInfo.copy(bhs, TMF_ADDITIONAL_RESPONSE_INFO, 0, 3);
  bhs.writeUInt32BE(initiatorTaskTag, TaskMgmtResponseBhs.initiatorTaskTag);
  return pdu;
}

/** Frontend state of a submitted TMF, stored in `TaskIo.fePriv`. */
export class TmfContext {
  readonly session: IscsiSession;
  /** ITT of the TMF request. */
  readonly initiatorTaskTag: number;
  /** The function code of the request (RFC 7143 §11.5.1). */
  readonly function: number;
  readonly referencedTaskTag: number;
  readonly coldReset: boolean;

  constructor(session: IscsiSession, initiatorTaskTag: number, fn: number, referencedTaskTag: number, coldReset: boolean) {
    this.session = session;
    this.initiatorTaskTag = initiatorTaskTag;
    this.function = fn;
    this.referencedTaskTag = referencedTaskTag;
    this.coldReset = coldReset;
  }
}
