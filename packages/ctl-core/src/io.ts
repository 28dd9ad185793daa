/**
 * The CTL I/O objects (FreeBSD `ctl_io.h`): a SCSI command (`ScsiIo`) and a
 * task management request (`TaskIo`) travelling between a frontend, the core
 * and a backend.
 *
 * Who owns which field (the three words of `ctl_frontend.h`):
 * - "passed to CTL": set by the frontend before `ctl.run(io)`.
 * - "used by CTL": internal to the core; others must not touch.
 * - "returned from CTL": set by the core or the backend, read by the frontend.
 *
 * Buffer ownership of the data-transfer fields: `kernSgList` holds Buffer
 * views owned by whoever filled it (the core for internally generated data
 * such as INQUIRY, the backend for READ/WRITE). If `kernDataRef` is set, the
 * frontend may keep referencing those buffers after `datamoveDone` as long as
 * it holds references taken with `kernDataRef(kernDataArg, +1)`, each dropped
 * once with `-1`; otherwise it must be finished with them before calling
 * `datamoveDone`. `kernDataRef`/`kernDataArg` must never keep the I/O, the
 * LUN or the session alive — only buffers.
 */

/** Data direction of a command. */
export const DataDirection = {
  None: 0,
  /** Device to initiator (READ): the frontend sends `kernSgList`. */
  In: 1,
  /** Initiator to device (WRITE): the frontend fills the transfer. */
  Out: 2,
} as const;
export type DataDirection = (typeof DataDirection)[keyof typeof DataDirection];

/** SAM task attributes. */
export const TagType = {
  Untagged: 0,
  Simple: 1,
  Ordered: 2,
  HeadOfQueue: 3,
  Aca: 4,
} as const;
export type TagType = (typeof TagType)[keyof typeof TagType];

/** Completion status of an I/O (FreeBSD `ctl_io_status`). */
export const IoStatus = {
  /** Not completed yet. */
  None: 0,
  /** GOOD. */
  Success: 1,
  /** A SCSI status other than GOOD, in `scsiStatus` (+ `senseData`). */
  ScsiError: 2,
  /** Aborted by task management or nexus loss; nothing is sent. */
  Aborted: 3,
} as const;
export type IoStatus = (typeof IoStatus)[keyof typeof IoStatus];

/** SCSI status codes (SAM-5). */
export const ScsiStatus = {
  Good: 0x00,
  CheckCondition: 0x02,
  ConditionMet: 0x04,
  Busy: 0x08,
  ReservationConflict: 0x18,
  TaskSetFull: 0x28,
  AcaActive: 0x30,
  TaskAborted: 0x40,
} as const;

/**
 * How the frontend delivers Data-Out payload for a datamove of direction
 * `Out`:
 * - `Copy`: the backend supplied buffers in `kernSgList` (totalling
 *   `kernDataLen`); the frontend copies received data into them.
 * - `Views`: `kernSgList` is empty; the frontend sets it to views of the
 *   received data (totalling `kernDataLen`) without copying. The views are
 *   read-only for the backend and stay valid while referenced.
 */
export const DataOutMode = { Copy: 0, Views: 1 } as const;
export type DataOutMode = (typeof DataOutMode)[keyof typeof DataOutMode];

/** The I_T_L nexus of an I/O. */
export interface Nexus {
  /** CTL initiator index from `ctl.addInitiator` (passed to CTL). */
  initiatorIndex: number;
  /** Port number from `ctl.registerPort` (passed to CTL). */
  targetPort: number;
  /** LUN as seen through the port (passed to CTL). */
  lun: number;
}

/** A SCSI command (FreeBSD `ctl_scsiio`). */
export interface ScsiIo {
  readonly kind: 'scsi';
  /** passed to CTL */
  nexus: Nexus;
  /** passed to CTL: the initiator's task tag (iSCSI ITT). */
  tagNum: number;
  /** passed to CTL */
  tagType: TagType;
  /** passed to CTL: CDB bytes (a copy or an owned view; at most 16 used). */
  cdb: Buffer;
  /** passed to CTL: the initiator's expected data transfer length. */
  expectedDataTransferLength: number;
  /** passed to CTL: opaque slot for the frontend (never read by CTL). */
  fePriv: unknown;

  /** returned from CTL: direction of the current datamove. */
  dataDirection: DataDirection;
  /** returned from CTL: buffers of this datamove piece (see module doc). */
  kernSgList: Buffer[];
  /** returned from CTL: length of this piece. */
  kernDataLen: number;
  /** returned from CTL: total bytes the command transfers per its CDB. */
  kernTotalLen: number;
  /** returned from CTL: offset of this piece within the command. */
  kernRelOffset: number;
  /** frontend decrements as it moves data of this piece. */
  kernDataResid: number;
  /** returned from CTL: for `Out`, how payload is delivered. */
  dataOutMode: DataOutMode;
  /** returned from CTL: optional buffer reference counting (see module doc). */
  kernDataRef: ((arg: unknown, diff: number) => void) | null;
  kernDataArg: unknown;
  /** set by the frontend when a transfer failed (0 = ok). */
  portStatus: number;

  /** returned from CTL */
  status: IoStatus;
  /** returned from CTL: valid when status is ScsiError. */
  scsiStatus: number;
  /** returned from CTL: sense data (fixed or descriptor format), or null. */
  senseData: Buffer | null;
  /** returned from CTL: set if the command was aborted. */
  aborted: boolean;

  /** used by CTL: backend private slot. */
  bePriv: unknown;
  /** used by CTL: called by the core when a datamove piece is done. */
  beMoveDone: ((io: ScsiIo) => void) | null;
  /** used by CTL: core private slot. */
  ctlPriv: unknown;
}

/** Task management functions (SAM-5), as the core names them. */
export const TaskAction = {
  AbortTask: 0,
  AbortTaskSet: 1,
  ClearTaskSet: 2,
  LogicalUnitReset: 3,
  TargetReset: 4,
  ClearAca: 5,
  QueryTask: 6,
  QueryTaskSet: 7,
  ItNexusReset: 8,
  QueryAsyncEvent: 9,
} as const;
export type TaskAction = (typeof TaskAction)[keyof typeof TaskAction];

/** Result of a task management function. */
export const TaskStatus = {
  FunctionComplete: 0,
  FunctionSucceeded: 1,
  FunctionRejected: 2,
  LunDoesNotExist: 3,
  FunctionNotSupported: 4,
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

/** A task management request (FreeBSD `ctl_taskio`). */
export interface TaskIo {
  readonly kind: 'task';
  /** passed to CTL */
  nexus: Nexus;
  /** passed to CTL */
  taskAction: TaskAction;
  /** passed to CTL: the TMF's own tag (iSCSI ITT of the TMF request). */
  tagNum: number;
  /** passed to CTL: the referenced task's tag, for ABORT TASK / QUERY TASK. */
  referencedTag: number;
  /** passed to CTL */
  fePriv: unknown;
  /** returned from CTL */
  taskStatus: TaskStatus;
  /** returned from CTL: 3 bytes of additional response information. */
  taskResp: Buffer;
}

export type CtlIo = ScsiIo | TaskIo;

/** Allocates a zeroed SCSI I/O (FreeBSD `ctl_alloc_io` + `ctl_zero_io`). */
export function newScsiIo(init: {
  nexus: Nexus;
  tagNum: number;
  tagType: TagType;
  cdb: Buffer;
  expectedDataTransferLength: number;
  fePriv?: unknown;
}): ScsiIo {
  return {
    kind: 'scsi',
    nexus: init.nexus,
    tagNum: init.tagNum,
    tagType: init.tagType,
    cdb: init.cdb,
    expectedDataTransferLength: init.expectedDataTransferLength,
    fePriv: init.fePriv,
    dataDirection: DataDirection.None,
    kernSgList: [],
    kernDataLen: 0,
    kernTotalLen: 0,
    kernRelOffset: 0,
    kernDataResid: 0,
    dataOutMode: DataOutMode.Copy,
    kernDataRef: null,
    kernDataArg: undefined,
    portStatus: 0,
    status: IoStatus.None,
    scsiStatus: ScsiStatus.Good,
    senseData: null,
    aborted: false,
    bePriv: undefined,
    beMoveDone: null,
    ctlPriv: undefined,
  };
}

/** Allocates a task management I/O. */
export function newTaskIo(init: {
  nexus: Nexus;
  taskAction: TaskAction;
  tagNum: number;
  referencedTag?: number;
  fePriv?: unknown;
}): TaskIo {
  return {
    kind: 'task',
    nexus: init.nexus,
    taskAction: init.taskAction,
    tagNum: init.tagNum,
    referencedTag: init.referencedTag ?? 0,
    fePriv: init.fePriv,
    taskStatus: TaskStatus.FunctionComplete,
    taskResp: Buffer.alloc(3),
  };
}
