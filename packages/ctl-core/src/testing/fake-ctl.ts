/**
 * A test double of the CTL core for the two kinds of code that plug into
 * it — frontends and backends — so neither needs the real core in its unit
 * tests (the CTL-side counterpart of icl-offload-kpi's fakes). One class,
 * both service interfaces:
 *
 * - **Frontend tests** (`CtlFrontendServices`): the frontend registers its
 *   port and calls `run(io)`; the fake plays the backend through per-test
 *   behaviours (`onScsi`, `onTask`; see `behaviors.ts`) which move data
 *   with `datamove` (forwarded to the port) and finish with `complete`.
 *   Like the real core it never calls the port synchronously inside `run`,
 *   and it throws on a second completion or on `done` during a datamove.
 * - **Backend tests** (`CtlBackendServices`): `submit(be, request)` hands a
 *   block request to a backend and emulates the frontend side of every
 *   datamove — Data-In bytes are snapshotted and, when the backend lends its
 *   buffers (`kernDataRef`), one reference is taken per emulated PDU and
 *   dropped on a later macrotask (or held until `releaseHeld()`), as a
 *   no-copy transport would; Data-Out is delivered per `io.dataOutMode`
 *   (views of a private "received" copy in odd-sized chunks, or a copy into
 *   the backend's buffers), optionally failing the transfer (`portStatus`)
 *   or aborting the task. `beMoveDone` is always called asynchronously.
 *
 * Sense is recorded (`sense`) and also built as fixed-format sense data
 * (`io.senseData`), INFORMATION included for MISCOMPARE.
 *
 * Does NOT order commands, check CDBs, keep unit attentions or
 * reservations: that is the real core's job (and its tests').
 *
 * Buffer ownership: Data-In buffers stay the backend's; the fake keeps
 * views only while it holds a reference it took through `kernDataRef`.
 * Data-Out views point into a private Buffer the fake allocates per piece
 * and never reuses.
 */
import type { BackendLun, BlockRequest, CtlBackendServices } from '../backend.js';
import type { CtlFrontendServices, CtlPort } from '../frontend.js';
import {
  DataDirection,
  DataOutMode,
  IoStatus,
  ScsiStatus,
  TagType,
  TaskAction,
  TaskStatus,
  newScsiIo,
  type CtlIo,
  type ScsiIo,
  type TaskIo,
} from '../io.js';

export type ScsiHandler = (io: ScsiIo, ctl: FakeCtl) => void;
export type TaskHandler = (io: TaskIo, ctl: FakeCtl) => void;

/** One datamove a backend asked for (backend tests). */
export interface DatamoveRecord {
  direction: number;
  length: number;
  relOffset: number;
  dataOutMode: number;
  sgCount: number;
  hadRef: boolean;
  /** Status of the I/O when the datamove started (success before the last read piece). */
  statusAtDatamove: number;
}

export interface SenseRecord {
  senseKey: number;
  asc: number;
  ascq: number;
  /** INFORMATION (MISCOMPARE offset), when set. */
  information?: number;
}

interface HeldRef {
  ref: (arg: unknown, diff: number) => void;
  arg: unknown;
  views: Buffer[];
}

/** How the emulated frontend of backend tests behaves. */
export interface FakeCtlOptions {
  /** Emulated Data-In PDU size (one reference per PDU). Default 8 KiB. */
  pduSize?: number;
  /** Keep frontend references until `releaseHeld()`. */
  holdRefs?: boolean;
  /** Payload of a write/verify command (the whole transfer). */
  payload?: (io: ScsiIo) => Buffer;
  /** Non-zero → the transfer of that piece fails with this port status. */
  portStatus?: (io: ScsiIo, pieceIndex: number) => number;
  /** true → the task is aborted during that piece. */
  abort?: (io: ScsiIo, pieceIndex: number) => boolean;
  /** Chunk size of Data-Out views (default: odd sizes 1000..9000). */
  viewChunk?: number;
}

export class FakeCtl implements CtlFrontendServices, CtlBackendServices {
  // ------------------------------------------------ frontend-side records
  readonly ports = new Map<number, CtlPort>();
  readonly deregistered: number[] = [];
  readonly initiators = new Map<string, number>();
  readonly removedInitiators: Array<{ port: number; index: number }> = [];
  readonly runs: CtlIo[] = [];
  readonly live = new Set<CtlIo>();
  readonly datamoveCount = new Map<ScsiIo, number>();
  readonly datamoveDoneCount = new Map<ScsiIo, number>();
  readonly inDatamove = new Set<ScsiIo>();
  // ------------------------------------------------- backend-side records
  readonly datamoves: DatamoveRecord[] = [];
  readonly held: HeldRef[] = [];
  // ------------------------------------------------------------- both
  /** How many times each command completed (`port.done`, or `dataSubmitDone` of a submitted request). */
  readonly doneCount = new Map<CtlIo, number>();
  readonly sense = new Map<ScsiIo, SenseRecord>();

  /** How SCSI commands are executed; default: GOOD without data. */
  onScsi: ScsiHandler = (io, ctl) => {
    ctl.setSuccess(io);
    ctl.complete(io);
  };
  /** How TMFs are executed; default: see `defaultTask`. */
  onTask: TaskHandler = defaultTask;

  readonly #options: FakeCtlOptions;
  /** Requests `submit`ted to a backend: their datamoves are emulated here. */
  readonly #submitted = new Map<ScsiIo, { pieces: number; readData: Buffer[]; resolve: () => void }>();
  #nextPort = 0;
  #nextInitiator = 0;
  #refsOutstanding = 0;

  constructor(options: FakeCtlOptions = {}) {
    this.#options = options;
  }

  // ------------------------------------------------- CtlFrontendServices

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

  /** Completes an I/O run by a frontend (`port.done`). Throws on a second completion. */
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

  // -------------------------------------------------- backend test entry

  /** Submits `request` to `be` and resolves when the backend called `dataSubmitDone`. */
  submit(be: BackendLun, request: BlockRequest, tag = 1): Promise<ScsiIo> {
    const io = newScsiIo({
      nexus: { initiatorIndex: 0, targetPort: 0, lun: 0 },
      tagNum: tag,
      tagType: TagType.Simple,
      cdb: Buffer.alloc(16),
      expectedDataTransferLength: request.blocks * be.blockSize,
    });
    io.kernTotalLen = request.op === 'flush' || (request.op === 'verify' && !request.bytchk) ? 0 : request.blocks * be.blockSize;
    if (request.op === 'compareAndWrite') io.kernTotalLen *= 2;
    if (request.op === 'compare' && request.single) io.kernTotalLen = be.blockSize;
    return new Promise((resolve) => {
      this.#submitted.set(io, { pieces: 0, readData: [], resolve: () => resolve(io) });
      be.submit(io, request, this);
    });
  }

  /** Bytes the emulated frontend saw for a submitted read, in piece order. */
  readData(io: ScsiIo): Buffer {
    return Buffer.concat(this.#submitted.get(io)?.readData ?? []);
  }

  /** References taken by the emulated frontend and not yet dropped. */
  get refsOutstanding(): number {
    return this.#refsOutstanding;
  }

  /** Drops every held reference (emulating late transport completions). */
  releaseHeld(): void {
    for (const h of this.held.splice(0)) {
      h.ref(h.arg, -1);
      this.#refsOutstanding--;
    }
  }

  // -------------------------------------------------- CtlBackendServices

  /**
   * A backend (or a frontend test's behaviour) starts moving the current
   * piece: forwarded to the frontend's port, or emulated for a request
   * given to `submit`.
   */
  datamove(io: ScsiIo): void {
    const submitted = this.#submitted.get(io);
    if (submitted === undefined) {
      if (this.inDatamove.has(io)) throw new Error('datamove while one is in progress');
      this.inDatamove.add(io);
      this.datamoveCount.set(io, (this.datamoveCount.get(io) ?? 0) + 1);
      this.port(io).datamove(io);
      return;
    }
    const pieceIndex = submitted.pieces++;
    this.datamoves.push({
      direction: io.dataDirection,
      length: io.kernDataLen,
      relOffset: io.kernRelOffset,
      dataOutMode: io.dataOutMode,
      sgCount: io.kernSgList.length,
      hadRef: io.kernDataRef !== null,
      statusAtDatamove: io.status,
    });
    const portStatus = this.#options.portStatus?.(io, pieceIndex) ?? 0;
    if (this.#options.abort?.(io, pieceIndex)) io.aborted = true;
    if (io.dataDirection === DataDirection.In) this.#dataIn(io, portStatus, submitted.readData);
    else if (io.dataDirection === DataDirection.Out) this.#dataOut(io, portStatus);
    else throw new Error('datamove without a direction');
    setImmediate(() => io.beMoveDone?.(io));
  }

  /** The backend finished a command: a submitted request resolves; a frontend's command completes. */
  dataSubmitDone(io: ScsiIo): void {
    const submitted = this.#submitted.get(io);
    if (submitted === undefined) {
      this.complete(io);
      return;
    }
    this.doneCount.set(io, (this.doneCount.get(io) ?? 0) + 1);
    submitted.resolve();
  }

  setSuccess(io: ScsiIo): void {
    io.status = IoStatus.Success;
    io.scsiStatus = ScsiStatus.Good;
    io.senseData = null;
    this.sense.delete(io);
  }

  /** CHECK CONDITION with fixed-format sense (key/asc/ascq). */
  setSense(io: ScsiIo, senseKey: number, asc: number, ascq: number): void {
    this.#setSense(io, { senseKey, asc, ascq });
  }

  setMediumError(io: ScsiIo, read: boolean): void {
    this.setSense(io, 0x03, read ? 0x11 : 0x0c, 0x00);
  }

  setInternalFailure(io: ScsiIo): void {
    this.setSense(io, 0x04, 0x44, 0x00);
  }

  setWriteProtected(io: ScsiIo): void {
    this.setSense(io, 0x07, 0x27, 0x00);
  }

  setSpaceAllocationFailed(io: ScsiIo): void {
    this.setSense(io, 0x07, 0x27, 0x07);
  }

  setMiscompare(io: ScsiIo, offset: number): void {
    this.#setSense(io, { senseKey: 0x0e, asc: 0x1d, ascq: 0x00, information: offset });
  }

  // ---------------------------------------------------------- internals

  #setSense(io: ScsiIo, record: SenseRecord): void {
    // SPC-4 §4.5.3 fixed format: VALID + INFORMATION when there is one.
    const sense = Buffer.alloc(18);
    sense[0] = record.information === undefined ? 0x70 : 0xf0;
    sense[2] = record.senseKey;
    if (record.information !== undefined) sense.writeUInt32BE(record.information >>> 0, 3);
    sense[7] = 10;
    sense[12] = record.asc;
    sense[13] = record.ascq;
    io.status = IoStatus.ScsiError;
    io.scsiStatus = ScsiStatus.CheckCondition;
    io.senseData = sense;
    this.sense.set(io, record);
  }

  #dataIn(io: ScsiIo, portStatus: number, readData: Buffer[]): void {
    let total = 0;
    for (const b of io.kernSgList) total += b.length;
    if (total !== io.kernDataLen) throw new Error(`Data-In sg list has ${total} bytes, kernDataLen ${io.kernDataLen}`);
    // Snapshot for the test's checks (a copy, made by the test, not the backend).
    readData.push(Buffer.concat(io.kernSgList));
    if (portStatus !== 0) {
      io.portStatus = portStatus;
      return;
    }
    const ref = io.kernDataRef;
    if (ref === null) return; // copy mode: the frontend would copy here and keep nothing
    const pdu = this.#options.pduSize ?? 8192;
    for (let offset = 0; offset < total; ) {
      const n = Math.min(pdu, total - offset);
      const held: HeldRef = { ref, arg: io.kernDataArg, views: sgViews(io.kernSgList, offset, n) };
      ref(io.kernDataArg, +1);
      this.#refsOutstanding++;
      if (this.#options.holdRefs) this.held.push(held);
      else
        setImmediate(() => {
          held.ref(held.arg, -1);
          this.#refsOutstanding--;
        });
      offset += n;
    }
    io.kernDataResid = 0;
  }

  #dataOut(io: ScsiIo, portStatus: number): void {
    if (portStatus !== 0) {
      io.portStatus = portStatus;
      return;
    }
    const payload = this.#options.payload?.(io);
    if (!payload) throw new Error('write without payload');
    const piece = payload.subarray(io.kernRelOffset, io.kernRelOffset + io.kernDataLen);
    if (io.dataOutMode === DataOutMode.Views) {
      if (io.kernSgList.length !== 0) throw new Error('Views mode with a non-empty kernSgList');
      const received = Buffer.from(piece); // the "socket" buffer the views point into
      const views: Buffer[] = [];
      let chunk = this.#options.viewChunk ?? 1000;
      for (let at = 0; at < received.length; ) {
        const n = Math.min(chunk, received.length - at);
        views.push(received.subarray(at, at + n));
        at += n;
        if (this.#options.viewChunk === undefined) chunk = chunk >= 9000 ? 1000 : chunk + 1337;
      }
      io.kernSgList = views;
    } else {
      let at = 0;
      for (const b of io.kernSgList) {
        piece.copy(b, 0, at, at + b.length);
        at += b.length;
      }
      if (at !== piece.length) throw new Error(`Copy mode buffers hold ${at} bytes, piece ${piece.length}`);
    }
    io.kernDataResid = 0;
  }
}

/** Views of `length` bytes at `offset` of a scatter/gather list. */
function sgViews(sg: readonly Buffer[], offset: number, length: number): Buffer[] {
  const views: Buffer[] = [];
  let skip = offset;
  let need = length;
  for (const b of sg) {
    if (need === 0) break;
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    const take = Math.min(b.length - skip, need);
    views.push(b.subarray(skip, skip + take));
    need -= take;
    skip = 0;
  }
  return views;
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
