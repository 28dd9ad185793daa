/**
 * Task management (FreeBSD `ctl_run_task`, SAM-5 §7): which commands an
 * ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, TARGET
 * RESET or I_T NEXUS RESET affects, the unit attentions and reservation /
 * medium-removal releases each implies, QUERY TASK (SET), and the rule that
 * a task management function completes only once every command it aborted
 * has completed.
 *
 * Does NOT abort a command itself (the core's `abort` does: a command not
 * yet started completes at once, a running one when its backend and
 * frontend are done) nor deliver anything but the TMF's own `done`. Holds
 * no Buffers.
 */
import { IoPhase, type IoState, type TmfWait } from './io-state.js';
import { TaskAction, TaskStatus, type TaskIo } from './io.js';
import type { CtlLun } from './lun.js';
import type { CtlPortTable, PortEntry } from './port-table.js';
import { UaFlag } from './unit-attention.js';

/** What task management needs of the core. */
export interface TaskManagementHost {
  readonly ports: CtlPortTable;
  /** The LUNs that serve commands (not those being removed). */
  luns(): Iterable<CtlLun>;
  /** Every command the core holds, snapshot. */
  allStates(): IoState[];
  abort(state: IoState): void;
  /** SPC-2 §5.5.1 and SBC-3 PREVENT ALLOW MEDIUM REMOVAL: what I_T nexus loss releases. */
  releaseNexus(initiatorIndex: number): void;
}

/** The functions that address one logical unit (LOGICAL UNIT NOT SUPPORTED without it). */
const NEEDS_LUN: ReadonlySet<TaskAction> = new Set([
  TaskAction.AbortTask,
  TaskAction.AbortTaskSet,
  TaskAction.ClearTaskSet,
  TaskAction.LogicalUnitReset,
  TaskAction.QueryTask,
  TaskAction.QueryTaskSet,
]);

/**
 * Runs a task management request: sets `tio.taskStatus`, aborts the
 * affected commands, and delivers `port.done(tio)` from a microtask once
 * every aborted command has completed.
 */
export function runTask(host: TaskManagementHost, tio: TaskIo): void {
  const pe = host.ports.entry(tio.nexus.targetPort);
  const lun = host.ports.mapLun(pe.port, tio.nexus.lun);
  let affected: IoState[] = [];
  let status: TaskStatus;
  if (NEEDS_LUN.has(tio.taskAction) && !lun) {
    status = TaskStatus.LunDoesNotExist;
  } else {
    ({ affected, status } = selectTasks(host, pe, lun, tio));
  }
  tio.taskStatus = status;
  const port = pe.port;
  abortAndWait(host, affected, () => queueMicrotask(() => port.done(tio)));
}

/**
 * Aborts `states` and calls `finish` once each of them has completed (at
 * once when none is still running). Shared by task management and
 * PREEMPT AND ABORT.
 */
export function abortAndWait(host: Pick<TaskManagementHost, 'abort'>, states: readonly IoState[], finish: () => void): void {
  const wait: TmfWait = { remaining: 0, finish };
  for (const s of states) host.abort(s);
  for (const s of states) {
    if (s.phase !== IoPhase.Done) {
      wait.remaining++;
      (s.tmfWaits ??= []).push(wait);
    }
  }
  if (wait.remaining === 0) finish();
}

/** The commands a TMF affects and its status; applies its unit attentions and releases. */
function selectTasks(
  host: TaskManagementHost,
  pe: PortEntry,
  lun: CtlLun | null,
  tio: TaskIo,
): { affected: IoState[]; status: TaskStatus } {
  const { targetPort, initiatorIndex } = tio.nexus;
  const ofNexus = (s: IoState): boolean => s.targetPort === targetPort && s.initiatorIndex === initiatorIndex;
  const done = (affected: IoState[]): { affected: IoState[]; status: TaskStatus } => ({
    affected,
    status: TaskStatus.FunctionComplete,
  });
  const query = (found: boolean): { affected: IoState[]; status: TaskStatus } => ({
    affected: [],
    status: found ? TaskStatus.FunctionSucceeded : TaskStatus.FunctionComplete,
  });
  switch (tio.taskAction) {
    case TaskAction.AbortTask:
      // SAM-5 ABORT TASK: a task that is not found has completed: FUNCTION COMPLETE.
      return done(lun!.ooa().filter((s) => ofNexus(s) && s.tagNum === tio.referencedTag));
    case TaskAction.AbortTaskSet:
      return done(lun!.ooa().filter(ofNexus));
    case TaskAction.ClearTaskSet: {
      // SAM-5 CLEAR TASK SET: every task of every I_T nexus; with TAS = 0 the other
      // initiators learn through COMMANDS CLEARED BY ANOTHER INITIATOR.
      const affected = lun!.ooa();
      const others = new Set<number>();
      for (const s of affected) if (!ofNexus(s) && !s.aborted) others.add(s.initiatorIndex);
      for (const i of others) lun!.establishUa(i, UaFlag.CommandsCleared);
      return done(affected);
    }
    case TaskAction.LogicalUnitReset:
      // SAM-5 LOGICAL UNIT RESET: abort all tasks, unit attention for every initiator.
      lun!.establishUaAll(UaFlag.LunReset);
      resetLun(lun!);
      return done(lun!.ooa());
    case TaskAction.TargetReset: {
      const affected: IoState[] = [];
      for (const portLun of host.ports.visibleLuns(pe.port)) {
        const l = host.ports.mapLun(pe.port, portLun);
        if (!l) continue;
        affected.push(...l.ooa());
        l.establishUaAll(UaFlag.TargetReset);
        resetLun(l);
      }
      return done(affected);
    }
    case TaskAction.ItNexusReset: {
      // SAM-5 I_T NEXUS RESET: I_T nexus loss for that nexus only.
      const affected = host.allStates().filter(ofNexus);
      for (const l of host.luns()) l.establishUa(initiatorIndex, UaFlag.NexusLoss);
      host.releaseNexus(initiatorIndex);
      return done(affected);
    }
    case TaskAction.QueryTask:
      // SAM-5 QUERY TASK: FUNCTION SUCCEEDED if the task is in the task set.
      return query(lun!.ooa().some((s) => ofNexus(s) && s.tagNum === tio.referencedTag && !s.aborted));
    case TaskAction.QueryTaskSet:
      // SAM-5 QUERY TASK SET: FUNCTION SUCCEEDED if any task of the nexus is in the task set.
      return query(lun!.ooa().some((s) => ofNexus(s) && !s.aborted));
    case TaskAction.ClearAca: // no ACA support
    case TaskAction.QueryAsyncEvent:
    default:
      return { affected: [], status: TaskStatus.FunctionNotSupported };
  }
}

/**
 * What a reset ends on a LUN: the SPC-2 reservation (SPC-2 §5.5.1;
 * persistent ones stay) and every prevention of medium removal (SBC-3
 * PREVENT ALLOW MEDIUM REMOVAL).
 */
function resetLun(lun: CtlLun): void {
  lun.reservations.spc2Holder = null;
  lun.medium.clearAll();
}
