/**
 * Test double for the CTL core + an emulated frontend, so backend tests do
 * not depend on the real core. `FakeCtl` implements `CtlBackendServices`:
 * it records every datamove and emulates the frontend side of it —
 * - Data-In: snapshots the piece's bytes for checking, and (when the backend
 *   lends buffers with `kernDataRef`) takes one reference per emulated PDU,
 *   keeping views, as a no-copy transport would; references are dropped on a
 *   later macrotask, or held until `releaseHeld()` when `holdRefs` is set;
 * - Data-Out: delivers the command's payload per `io.dataOutMode` (views of a
 *   private "received" copy split into odd-sized chunks, or a copy into the
 *   backend's buffers), optionally failing the transfer (`portStatus`) or
 *   aborting the task.
 * `beMoveDone` is always called asynchronously, like the real core.
 */
import {
  DataDirection,
  DataOutMode,
  IoStatus,
  ScsiStatus,
  TagType,
  newScsiIo,
  type BackendLun,
  type BlockRequest,
  type CtlBackendServices,
  type ScsiIo,
} from '@iscsi-target/ctl-core';

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

export class FakeCtl implements CtlBackendServices {
  readonly datamoves: DatamoveRecord[] = [];
  readonly sense = new Map<ScsiIo, SenseRecord>();
  readonly held: HeldRef[] = [];
  readonly #readData = new Map<ScsiIo, Buffer[]>();
  readonly #pieces = new Map<ScsiIo, number>();
  readonly #done = new Map<ScsiIo, () => void>();
  readonly #doneCount = new Map<ScsiIo, number>();
  readonly #options: FakeCtlOptions;
  #refsOutstanding = 0;

  constructor(options: FakeCtlOptions = {}) {
    this.#options = options;
  }

  /** References taken by the emulated frontend and not yet dropped. */
  get refsOutstanding(): number {
    return this.#refsOutstanding;
  }

  /** Submits `request` to `be` and resolves when `dataSubmitDone` was called. */
  run(be: BackendLun, request: BlockRequest, tag = 1): Promise<ScsiIo> {
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
    this.#readData.set(io, []);
    this.#pieces.set(io, 0);
    return new Promise((resolve) => {
      this.#done.set(io, () => resolve(io));
      be.submit(io, request, this);
    });
  }

  /** Bytes the emulated frontend saw for a read, in piece order. */
  readData(io: ScsiIo): Buffer {
    return Buffer.concat(this.#readData.get(io) ?? []);
  }

  /** How many times `dataSubmitDone` was called for `io`. */
  doneCount(io: ScsiIo): number {
    return this.#doneCount.get(io) ?? 0;
  }

  /** Drops every held reference (emulating late transport completions). */
  releaseHeld(): void {
    for (const h of this.held.splice(0)) {
      h.ref(h.arg, -1);
      this.#refsOutstanding--;
    }
  }

  datamove(io: ScsiIo): void {
    const pieceIndex = this.#pieces.get(io) ?? 0;
    this.#pieces.set(io, pieceIndex + 1);
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
    if (io.dataDirection === DataDirection.In) this.#dataIn(io, portStatus);
    else if (io.dataDirection === DataDirection.Out) this.#dataOut(io, portStatus);
    else throw new Error('datamove without a direction');
    setImmediate(() => io.beMoveDone?.(io));
  }

  #dataIn(io: ScsiIo, portStatus: number): void {
    let total = 0;
    for (const b of io.kernSgList) total += b.length;
    if (total !== io.kernDataLen) throw new Error(`Data-In sg list has ${total} bytes, kernDataLen ${io.kernDataLen}`);
    // Snapshot for the test's checks (a copy, made by the test, not the backend).
    this.#readData.get(io)?.push(Buffer.concat(io.kernSgList));
    if (portStatus !== 0) {
      io.portStatus = portStatus;
      return;
    }
    const ref = io.kernDataRef;
    if (ref === null) return; // copy mode: the frontend would copy here and keep nothing
    const pdu = this.#options.pduSize ?? 8192;
    let offset = 0;
    while (offset < total) {
      const n = Math.min(pdu, total - offset);
      const views: Buffer[] = [];
      let skip = offset;
      let need = n;
      for (const b of io.kernSgList) {
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
      ref(io.kernDataArg, +1);
      this.#refsOutstanding++;
      const held: HeldRef = { ref, arg: io.kernDataArg, views };
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

  dataSubmitDone(io: ScsiIo): void {
    this.#doneCount.set(io, this.doneCount(io) + 1);
    const done = this.#done.get(io);
    this.#done.delete(io);
    done?.();
  }

  setSuccess(io: ScsiIo): void {
    io.status = IoStatus.Success;
    io.scsiStatus = ScsiStatus.Good;
    io.senseData = null;
    this.sense.delete(io);
  }

  setSense(io: ScsiIo, senseKey: number, asc: number, ascq: number): void {
    io.status = IoStatus.ScsiError;
    io.scsiStatus = ScsiStatus.CheckCondition;
    this.sense.set(io, { senseKey, asc, ascq });
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
    this.setSense(io, 0x0e, 0x1d, 0x00);
    this.sense.set(io, { senseKey: 0x0e, asc: 0x1d, ascq: 0x00, information: offset });
  }
}

/** Deterministic pseudo-random generator (mulberry32) for reproducible tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random bytes from `rand` (test data only). */
export function randomBytes(rand: () => number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (rand() * 256) | 0;
  return b;
}
