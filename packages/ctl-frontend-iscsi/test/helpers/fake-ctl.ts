/**
 * A fake CTL for frontend tests: implements `CtlFrontendServices`, plays the
 * backend through per-test behaviors (reads that datamove given buffers,
 * writes that record what they receive), and counts every `done` and
 * `datamoveDone` so tests can assert "exactly once". Like the real CTL it
 * never calls `datamove`/`done` synchronously inside `run`.
 */
import {
  DataDirection,
  DataOutMode,
  IoStatus,
  ScsiStatus,
  TaskAction,
  TaskStatus,
  type CtlFrontendServices,
  type CtlIo,
  type CtlPort,
  type ScsiIo,
  type TaskIo,
} from '@iscsi-target/ctl-core';
import { pattern } from './pdus.js';

export type ScsiHandler = (io: ScsiIo, ctl: FakeCtl) => void;
export type TaskHandler = (io: TaskIo, ctl: FakeCtl) => void;

export class FakeCtl implements CtlFrontendServices {
  readonly ports = new Map<number, CtlPort>();
  readonly deregistered: number[] = [];
  readonly initiators = new Map<string, number>();
  readonly removedInitiators: Array<{ port: number; index: number }> = [];
  readonly runs: CtlIo[] = [];
  readonly live = new Set<CtlIo>();
  readonly doneCount = new Map<CtlIo, number>();
  readonly datamoveCount = new Map<ScsiIo, number>();
  readonly datamoveDoneCount = new Map<ScsiIo, number>();
  readonly inDatamove = new Set<ScsiIo>();
  #nextPort = 0;
  #nextInitiator = 0;
  /** How SCSI commands are executed; default: GOOD without data. */
  onScsi: ScsiHandler = (io, ctl) => {
    ctl.setSuccess(io);
    ctl.complete(io);
  };
  /** How TMFs are executed; default: see `defaultTask`. */
  onTask: TaskHandler = defaultTask;

  registerPort(port: CtlPort): number {
    const n = this.#nextPort++;
    this.ports.set(n, port);
    return n;
  }

  deregisterPort(targetPort: number): void {
    this.deregistered.push(targetPort);
    this.ports.delete(targetPort);
  }

  addInitiator(targetPort: number, name: string): number {
    const key = `${targetPort}\0${name}`;
    let idx = this.initiators.get(key);
    if (idx === undefined) {
      idx = this.#nextInitiator++;
      this.initiators.set(key, idx);
    }
    return idx;
  }

  removeInitiator(targetPort: number, initiatorIndex: number): void {
    this.removedInitiators.push({ port: targetPort, index: initiatorIndex });
    for (const io of [...this.live]) {
      if (io.nexus.targetPort === targetPort && io.nexus.initiatorIndex === initiatorIndex) this.abort(io);
    }
  }

  run(io: CtlIo): void {
    this.runs.push(io);
    this.live.add(io);
    queueMicrotask(() => {
      if (!this.live.has(io) || (io.kind === 'scsi' && io.aborted)) return;
      if (io.kind === 'scsi') this.onScsi(io, this);
      else this.onTask(io, this);
    });
  }

  /** Backend side: start moving the current piece. */
  datamove(io: ScsiIo): void {
    if (this.inDatamove.has(io)) throw new Error('datamove while one is in progress');
    this.inDatamove.add(io);
    this.datamoveCount.set(io, (this.datamoveCount.get(io) ?? 0) + 1);
    this.port(io).datamove(io);
  }

  datamoveDone(io: ScsiIo): void {
    if (!this.inDatamove.has(io)) throw new Error('datamoveDone without a datamove in progress');
    this.inDatamove.delete(io);
    this.datamoveDoneCount.set(io, (this.datamoveDoneCount.get(io) ?? 0) + 1);
    const cb = io.beMoveDone;
    if (cb !== null) cb(io);
    else if (io.aborted) this.complete(io);
  }

  /** Aborts an I/O as an I_T nexus loss or a TMF would. */
  abort(io: CtlIo): void {
    if (!this.live.has(io)) return;
    if (io.kind === 'scsi') {
      io.aborted = true;
      io.status = IoStatus.Aborted;
      // An I/O in a datamove completes once the frontend finishes the move.
      if (!this.inDatamove.has(io)) queueMicrotask(() => this.complete(io));
    } else {
      queueMicrotask(() => this.complete(io));
    }
  }

  /** Completes an I/O (port.done). Throws on a second completion. */
  complete(io: CtlIo): void {
    if (!this.live.has(io)) {
      if ((this.doneCount.get(io) ?? 0) > 0) return; // an abort raced a normal completion
      throw new Error('complete for an I/O never run');
    }
    if (io.kind === 'scsi' && this.inDatamove.has(io)) throw new Error('done while a datamove is in progress');
    this.live.delete(io);
    this.doneCount.set(io, (this.doneCount.get(io) ?? 0) + 1);
    this.port(io).done(io);
  }

  setSuccess(io: ScsiIo): void {
    io.status = IoStatus.Success;
    io.scsiStatus = ScsiStatus.Good;
    io.senseData = null;
  }

  /** CHECK CONDITION with fixed-format sense (key/asc/ascq). */
  setSense(io: ScsiIo, key: number, asc: number, ascq: number): void {
    const sense = Buffer.alloc(18);
    sense[0] = 0x70;
    sense[2] = key;
    sense[7] = 10;
    sense[12] = asc;
    sense[13] = ascq;
    io.status = IoStatus.ScsiError;
    io.scsiStatus = ScsiStatus.CheckCondition;
    io.senseData = sense;
  }

  port(io: CtlIo): CtlPort {
    const p = this.ports.get(io.nexus.targetPort);
    if (p === undefined) throw new Error(`no port ${io.nexus.targetPort}`);
    return p;
  }

  scsiRuns(): ScsiIo[] {
    return this.runs.filter((io): io is ScsiIo => io.kind === 'scsi');
  }

  taskRuns(): TaskIo[] {
    return this.runs.filter((io): io is TaskIo => io.kind === 'task');
  }
}

/** ABORT TASK aborts the referenced live command; everything else completes. */
export function defaultTask(io: TaskIo, ctl: FakeCtl): void {
  if (io.taskAction === TaskAction.AbortTask) {
    for (const other of ctl.live) {
      if (other.kind === 'scsi' && other.tagNum === io.referencedTag && other.nexus.initiatorIndex === io.nexus.initiatorIndex) {
        ctl.abort(other);
      }
    }
  }
  io.taskStatus = TaskStatus.FunctionComplete;
  ctl.complete(io);
}

/** A command that stays outstanding until the test (or an abort) completes it. */
export const holdBehavior: ScsiHandler = () => {};

/** The backend's reference counter on a buffer set (`kernDataRef`/`kernDataArg`). */
export class RefCounter {
  count = 0;
  retains = 0;
  releases = 0;
  readonly fn = (arg: unknown, diff: number): void => {
    const self = arg as RefCounter;
    self.count += diff;
    if (diff > 0) self.retains++;
    else self.releases++;
    if (self.count < 0) throw new Error('kernDataRef count below zero');
  };
}

function splitBuffer(buf: Buffer, parts: number): Buffer[] {
  if (parts <= 1 || buf.length === 0) return [buf];
  const out: Buffer[] = [];
  const step = Math.ceil(buf.length / parts);
  for (let pos = 0; pos < buf.length; pos += step) out.push(buf.subarray(pos, Math.min(pos + step, buf.length)));
  return out;
}

/**
 * A READ of `length` bytes moved in pieces of `pieceSize`, each piece a
 * pattern (byte = offset & 0xff) split into `sgSplit` buffers. `success`:
 * 'before-last' marks GOOD before the last datamove (phase collapse),
 * 'after' only at completion, 'error' completes with CHECK CONDITION.
 */
export function readBehavior(opts: {
  length: number;
  pieceSize?: number;
  sgSplit?: number;
  ref?: RefCounter;
  success?: 'before-last' | 'after' | 'error';
  totalLen?: number;
  pieces?: Buffer[][];
}): ScsiHandler {
  return (io, ctl) => {
    const total = opts.length;
    const pieceSize = opts.pieceSize ?? total;
    io.kernTotalLen = opts.totalLen ?? total;
    let off = 0;
    const next = (): void => {
      if (io.aborted || io.portStatus !== 0) {
        ctl.complete(io);
        return;
      }
      if (off >= total) {
        if (opts.success === 'error') ctl.setSense(io, 0x03, 0x11, 0x00);
        else ctl.setSuccess(io);
        ctl.complete(io);
        return;
      }
      const len = Math.min(pieceSize, total - off);
      const sg = splitBuffer(pattern(len, off), opts.sgSplit ?? 1);
      opts.pieces?.push(sg);
      io.dataDirection = DataDirection.In;
      io.kernSgList = sg;
      io.kernDataLen = len;
      io.kernRelOffset = off;
      if (opts.ref !== undefined) {
        io.kernDataRef = opts.ref.fn;
        io.kernDataArg = opts.ref;
      }
      if (opts.success === 'before-last' && off + len >= total) ctl.setSuccess(io);
      io.beMoveDone = () => {
        off += len;
        next();
      };
      ctl.datamove(io);
    };
    next();
  };
}

/** What a write behavior received. */
export class WriteSink {
  readonly data: Buffer;
  readonly moves: Array<{ offset: number; length: number; sg: Buffer[] }> = [];
  readonly failed: Array<{ offset: number; length: number; portStatus: number; aborted: boolean }> = [];

  constructor(length: number) {
    this.data = Buffer.alloc(length);
  }
}

/**
 * A WRITE of `length` bytes requested in pieces of `pieceSize` in `mode`;
 * `Copy` supplies `sgSplit` buffers per piece. A piece that comes back with
 * `portStatus != 0` or aborted is not written and the command ends.
 */
export function writeBehavior(opts: {
  length: number;
  pieceSize?: number;
  mode: DataOutMode;
  sink: WriteSink;
  sgSplit?: number;
}): ScsiHandler {
  return (io, ctl) => {
    const total = opts.length;
    const pieceSize = opts.pieceSize ?? total;
    io.kernTotalLen = total;
    let off = 0;
    const next = (): void => {
      if (off >= total) {
        ctl.setSuccess(io);
        ctl.complete(io);
        return;
      }
      const len = Math.min(pieceSize, total - off);
      io.dataDirection = DataDirection.Out;
      io.dataOutMode = opts.mode;
      io.kernDataLen = len;
      io.kernRelOffset = off;
      io.kernSgList = opts.mode === DataOutMode.Copy ? splitBuffer(Buffer.alloc(len), opts.sgSplit ?? 1) : [];
      io.beMoveDone = () => {
        if (io.aborted || io.portStatus !== 0) {
          opts.sink.failed.push({ offset: off, length: len, portStatus: io.portStatus, aborted: io.aborted });
          if (!io.aborted) ctl.setSense(io, 0x0b, 0x4b, 0x00);
          ctl.complete(io);
          return;
        }
        let pos = off;
        for (const b of io.kernSgList) pos += b.copy(opts.sink.data, pos);
        if (pos - off !== len) throw new Error(`write piece delivered ${pos - off} bytes, expected ${len}`);
        opts.sink.moves.push({ offset: off, length: len, sg: io.kernSgList });
        off += len;
        next();
      };
      ctl.datamove(io);
    };
    next();
  };
}

export { DataOutMode };
