/**
 * Task management in a session (RFC 7143 §11.5-11.6; FreeBSD
 * `cfiscsi_pdu_handle_task_request` and `cfiscsi_task_management_done`,
 * freebsd-arch §5.9): a TMF request becomes a CTL `TaskIo`, and its
 * completion becomes a TMF Response.
 *
 * What it does: `request(pdu)` answers at once the functions the target does
 * not offer and ABORT TASK for a tag the session does not know (RFC 7143
 * §11.5.1), otherwise submits a `TaskIo` (LUN 0 for target-level functions,
 * whose LUN field is reserved) and schedules the sweep that completes the
 * victims' Data-Out waits; `complete(ctx, io)` completes the Data-Out waits of
 * the aborted tasks, then sends the response — and after a TARGET COLD RESET
 * that succeeded, drops every session of the target once it is sent.
 *
 * What it does not do: no TMF codes or PDU layout (`tmf.ts`), no CmdSN
 * checks (the session's receive dispatch), no outstanding-I/O bookkeeping
 * beyond the host's `submit`, nothing once the session left full feature
 * phase (the session stops calling `complete`).
 *
 * Buffer ownership: reads the request's BHS only; the caller frees the PDU.
 * The response PDU is built here and handed to the host's `send`.
 */
import { TaskMgmtRequestBhs, type IclConn, type Pdu, type PduCompletion } from '@iscsi-target/icl-core';
import { TaskAction, TaskStatus, newTaskIo, type CtlIo, type TaskIo } from '@iscsi-target/ctl-core';
import type { CmdSnWindow } from './cmdsn.js';
import type { IscsiCommand } from './command.js';
import { lunOf } from './command-intake.js';
import { PortStatus, type DataOutEngine } from './data-out.js';
import type { IscsiSession } from './session.js';
import {
  TmfContext,
  abortUnknownTaskResponse,
  buildTmfResponse,
  mapTmfFunction,
  tmfResponseFromTaskStatus,
} from './tmf.js';

/** What task management needs from its session. */
export interface TaskManagementHost {
  /** The CTL nexus (`initiatorIndex`, `target.portNumber`) and counters. */
  readonly session: IscsiSession;
  readonly conn: IclConn;
  /** The task table (read only here). */
  readonly commands: ReadonlyMap<number, IscsiCommand>;
  /** ExpCmdSN and the window size, for ABORT TASK of an unknown tag. */
  readonly window: CmdSnWindow;
  readonly dataOut: DataOutEngine;
  /** Prepares (StatSN...) and queues a PDU. */
  send(pdu: Pdu, onComplete?: PduCompletion): void;
  /** Counts the I/O as outstanding and `ctl.run`s it; on a throw, uncounts and rethrows. */
  submit(io: CtlIo): void;
  /** Completes aborted tasks' Data-Out waits in a later turn (`DataOutEngine.sweepAborted`). */
  scheduleSweep(): void;
  /** TARGET COLD RESET: drop every session of the target. */
  terminateTargetSessions(reason: string): void;
}

/** Functions whose completion may leave aborted tasks with Data-Out waits. */
const ABORT_ACTIONS: ReadonlySet<TaskAction> = new Set([
  TaskAction.AbortTask,
  TaskAction.AbortTaskSet,
  TaskAction.ClearTaskSet,
  TaskAction.LogicalUnitReset,
  TaskAction.TargetReset,
  TaskAction.ItNexusReset,
]);

export class TaskManagement {
  readonly #host: TaskManagementHost;

  constructor(host: TaskManagementHost) {
    this.#host = host;
  }

  /** A TMF request that passed the CmdSN window. Throws what `ctl.run` throws. */
  request(pdu: Pdu): void {
    const host = this.#host;
    const session = host.session;
    const bhs = pdu.bhs;
    const fn = bhs[TaskMgmtRequestBhs.function]! & 0x7f;
    const itt = pdu.initiatorTaskTag;
    const rtt = bhs.readUInt32BE(TaskMgmtRequestBhs.referencedTaskTag);
    session.counters.taskManagementRequests++;
    const mapping = mapTmfFunction(fn);
    if (mapping.kind === 'respond') {
      host.send(buildTmfResponse(host.conn, itt, mapping.response));
      return;
    }
    if (mapping.action === TaskAction.AbortTask && !host.commands.has(rtt)) {
      const response = abortUnknownTaskResponse(
        bhs.readUInt32BE(TaskMgmtRequestBhs.refCmdSn),
        bhs.readUInt32BE(TaskMgmtRequestBhs.cmdSn),
        host.window.expCmdSn,
        host.window.maxTags,
      );
      host.send(buildTmfResponse(host.conn, itt, response));
      return;
    }
    const io = newTaskIo({
      nexus: {
        initiatorIndex: session.initiatorIndex,
        targetPort: session.target.portNumber,
        // RFC 7143 §11.5.3: the LUN field is reserved for target-level functions.
        lun: mapping.targetLevel ? 0 : lunOf(bhs, TaskMgmtRequestBhs.lun),
      },
      taskAction: mapping.action,
      tagNum: itt,
      referencedTag: rtt,
    });
    io.fePriv = new TmfContext(session, itt, fn, rtt, mapping.coldReset);
    host.submit(io);
    // CTL marks the victims aborted when it processes the TMF; complete
    // their Data-Out waits without waiting for the next tick.
    host.scheduleSweep();
  }

  /** CTL completed the TMF of `ctx`, the session being in full feature phase. */
  complete(ctx: TmfContext, io: TaskIo): void {
    const host = this.#host;
    // RFC 7143 §11.5.1: the aborted task's data transfer ends with the
    // abort; pending Data-Out waits are completed before the response.
    if (io.taskAction === TaskAction.AbortTask && io.taskStatus === TaskStatus.FunctionComplete) {
      const aborted = host.commands.get(ctx.referencedTaskTag);
      if (aborted !== undefined) host.dataOut.abortCommand(aborted, PortStatus.TaskAborted);
    }
    if (ABORT_ACTIONS.has(io.taskAction)) host.dataOut.sweepAborted();
    const response = buildTmfResponse(host.conn, ctx.initiatorTaskTag, tmfResponseFromTaskStatus(io.taskStatus), io.taskResp);
    const complete = io.taskStatus === TaskStatus.FunctionComplete;
    if (ctx.coldReset && complete) {
      // RFC 7143 §11.5.1: after a cold reset the target drops all sessions.
      host.send(response, () => host.terminateTargetSessions('target cold reset'));
    } else {
      host.send(response);
    }
  }
}
