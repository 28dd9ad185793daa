/**
 * The core's private state of one SCSI command (FreeBSD's `ctl_io_hdr`
 * private fields: OOA links, blocker, blocked queue, decoded extent), kept in
 * `io.ctlPriv` while CTL processes the command.
 *
 * Does NOT hold buffers: CTL-generated data hangs off the I/O itself
 * (`kernSgList`) and backend buffers belong to the backend.
 */
import type { CmdEntry } from './cmd-table.js';
import type { CtlPort } from './frontend.js';
import type { ScsiIo } from './io.js';
import type { CtlLun } from './lun.js';
import { SerClass, type SerEntry } from './ser-table.js';

/** Life cycle of a command inside the core. */
export const IoPhase = {
  /** On the OOA list, waiting for `blocker`. */
  Blocked: 0,
  /** Cleared to run; its handler runs in a later microtask. */
  Ready: 1,
  /** Its handler ran: CTL or the backend is working on it. */
  Running: 2,
  /** Completed; `port.done` has been scheduled. */
  Done: 3,
} as const;
export type IoPhase = (typeof IoPhase)[keyof typeof IoPhase];

/** A task management request waiting for aborted commands to finish. */
export interface TmfWait {
  remaining: number;
  finish(): void;
}

export class IoState implements SerEntry {
  readonly io: ScsiIo;
  readonly port: CtlPort;
  readonly targetPort: number;
  readonly initiatorIndex: number;
  readonly tagType: number;
  readonly tagNum: number;
  /** Arrival order on the LUN (monotonic). */
  readonly seq: number;
  /** The LUN, or null when the command runs without one (INQUIRY etc.). */
  readonly lun: CtlLun | null;
  /** The command table entry, set once the opcode is known. */
  entry: CmdEntry | null = null;
  serClass: SerClass = SerClass.None;
  lba = 0;
  blocks = 0;
  phase: IoPhase = IoPhase.Ready;
  /** OOA list links (older = prev). */
  prev: IoState | null = null;
  next: IoState | null = null;
  onOoa = false;
  /** Counted in the LUN's tag maps (live, not aborted). */
  tagCounted = false;
  /** The older command this one waits for. */
  blocker: IoState | null = null;
  /** Commands waiting for this one. */
  waiters: IoState[] | null = null;
  /** Task management requests waiting for this one to complete. */
  tmfWaits: TmfWait[] | null = null;
  /** A datamove is with the frontend. */
  dmaInProgress = false;
  /** Issued by the copy manager for an EXTENDED COPY (tpc.ts); see `CtlLun.findBlocker`. */
  copyIo = false;

  constructor(io: ScsiIo, port: CtlPort, lun: CtlLun | null, seq: number) {
    this.io = io;
    this.port = port;
    this.targetPort = io.nexus.targetPort;
    this.initiatorIndex = io.nexus.initiatorIndex;
    this.tagType = io.tagType;
    this.tagNum = io.tagNum;
    this.lun = lun;
    this.seq = seq;
  }

  get aborted(): boolean {
    return this.io.aborted;
  }
}

/** The core state of `io`, if CTL is (or was) processing it. */
export function ioState(io: ScsiIo): IoState | null {
  return io.ctlPriv instanceof IoState ? io.ctlPriv : null;
}
