/**
 * The datamove engine shared by the block backends (the dispatch half of
 * FreeBSD's `ctl_backend_block.c`): turns a decoded `BlockRequest` into
 * bounded pieces, drives `ctl.datamove` / `beMoveDone` for each, calls the
 * `BlockStore` for the storage side, maps storage errors to sense, and
 * completes the I/O with `ctl.dataSubmitDone` exactly once.
 *
 * Per piece, in order:
 * - READ: `store.readPiece` (pooled buffers or page views, one reference
 *   held) → set `kernSgList`/`kernDataLen`/`kernRelOffset`, expose
 *   `kernDataRef`/`kernDataArg` (unless copy mode), `setSuccess` before the
 *   last piece's datamove (so the frontend can put status in the final
 *   Data-In) → datamove → in `beMoveDone` drop the engine's reference; the
 *   frontend keeps its own references as long as its PDUs need the memory.
 * - WRITE: datamove first (`dataOutMode = Views`: the frontend hands over
 *   views of the received data, no copy; copy mode: `Copy` into pooled
 *   buffers) → in `beMoveDone`, if the transfer failed (`portStatus`) or the
 *   task was aborted, write nothing and complete; else `store.write` (one
 *   vectored write). After the last piece, FUA or a LUN without write cache
 *   → `store.flush` before reporting success.
 * - VERIFY: BYTCHK=0 → success (the core already checked the range);
 *   BYTCHK=1 → read the range, datamove the initiator's data out, compare
 *   (MISCOMPARE on a difference).
 * - FLUSH (SYNCHRONIZE CACHE): `store.flush`; with IMMED the command
 *   completes with GOOD first and the flush runs afterwards (its errors are
 *   then only counted in `backgroundErrors`, as with FreeBSD's no-wait
 *   VOP_FSYNC).
 * Pieces of one command run one after the other; different commands run
 * concurrently (ordering of overlapping commands is the core's job).
 *
 * - UNMAP / WRITE SAME / GET LBA STATUS: thin-dispatch.ts, with the
 *   datamove helpers lent through a `ThinContext`.
 * It never calls back into CTL synchronously inside `submit`. It does NOT
 * decode CDBs, check LBA ranges, implement COMPARE AND WRITE, or order
 * commands.
 */
import {
  Asc,
  ctlDataRef,
  DataDirection,
  DataOutMode,
  IoStatus,
  SenseKey,
  type BlockRequest,
  type CtlBackendServices,
  type ScsiIo,
} from '@iscsi-target/ctl-core';
import type { BufferPool } from './buffer-pool.js';
import type { BlockStore, ReadPiece } from './block-store.js';
import { BeIo, freeBeIo } from './beio.js';
import { DatamoveProtocolError } from './errors.js';
import { setStorageErrorSense, type StorageOp } from './io-error.js';
import { sgEquals, sgLength, sgView } from './sg-list.js';
import { compareRange, compareAndWrite, orWrite, writeAndVerify, type IntegrityEngine } from './block-integrity.js';
import { sendLbaStatus, unmapExtents, writeSameRange, type ThinContext } from './thin-dispatch.js';

/** Sense codes used here that ctl-core's `Asc` table does not carry. */
const LocalAsc = {
  /** SPC-4 Annex D: 0E/03 INVALID FIELD IN COMMAND INFORMATION UNIT (FreeBSD `ctl_set_invalid_field_ciu`). */
  InvalidFieldInCommandInformationUnit: { asc: 0x0e, ascq: 0x03 },
  /** SPC-4 Annex D: 1D/00 MISCOMPARE DURING VERIFY OPERATION. */
  MiscompareDuringVerify: { asc: 0x1d, ascq: 0x00 },
} as const;

export interface BlockDispatcherOptions {
  store: BlockStore;
  /** Pool for copy-mode Data-Out buffers. */
  pool: BufferPool;
  blockSize: number;
  /** Largest piece in bytes; a multiple of `blockSize`, at most `pool.maxBytes`. */
  maxIoSize: number;
  /** Frontend must copy: no `kernDataRef` on reads, `DataOutMode.Copy` on writes. */
  copyMode: boolean;
  /** false → every write is flushed before it completes (WCE=0 semantics). */
  writeCache: boolean;
  readOnly: boolean;
}

/** Per-command state kept in `io.bePriv` while the backend owns the command. */
class CommandState {
  /** Resolves the pending datamove; null when none is pending. */
  moveDone: (() => void) | null = null;
}

/**
 * `io.beMoveDone` of every datamove this engine starts: a module-level
 * function that finds the command state through `io.bePriv`.
 */
function beMoveDone(io: ScsiIo): void {
  const state = io.bePriv;
  if (!(state instanceof CommandState) || state.moveDone === null) {
    throw new DatamoveProtocolError('beMoveDone called without a datamove in progress');
  }
  const resolve = state.moveDone;
  state.moveDone = null;
  resolve();
}

export class BlockDispatcher {
  readonly #store: BlockStore;
  readonly #pool: BufferPool;
  readonly #blockSize: number;
  readonly #maxIoSize: number;
  readonly #copyMode: boolean;
  readonly #writeCache: boolean;
  readonly #readOnly: boolean;
  /** What the data-integrity commands (block-integrity.ts) use of this engine. */
  readonly #integrity: IntegrityEngine;
  #inflight = 0;
  #closing = false;
  #drainWaiters: (() => void)[] = [];
  #backgroundErrors = 0;
  #thin: ThinContext | null = null;

  constructor(options: BlockDispatcherOptions) {
    this.#store = options.store;
    this.#pool = options.pool;
    this.#blockSize = options.blockSize;
    this.#maxIoSize = options.maxIoSize;
    this.#copyMode = options.copyMode;
    this.#writeCache = options.writeCache;
    this.#readOnly = options.readOnly;
    this.#integrity = {
      store: this.#store,
      blockSize: this.#blockSize,
      maxIoSize: this.#maxIoSize,
      readOnly: this.#readOnly,
      writeCache: this.#writeCache,
      receivePiece: (io, length, relOffset, ctl, hold) => this.#receivePiece(io, length, relOffset, ctl, hold),
      writeRange: (io, lba, blocks, relBase, ctl) => this.#writePieces(io, lba, blocks, relBase, ctl),
    };
  }

  /** Commands (and IMMED flushes) not finished yet. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Failures of IMMED flushes, which could not be reported to the initiator. */
  get backgroundErrors(): number {
    return this.#backgroundErrors;
  }

  /** `BackendLun.submit`: starts the command on a later microtask. */
  submit(io: ScsiIo, request: BlockRequest, ctl: CtlBackendServices): void {
    this.#inflight++;
    const refused = this.#closing;
    io.bePriv = new CommandState();
    queueMicrotask(() => void this.#run(io, request, ctl, refused));
  }

  /**
   * Refuses commands submitted from now on (NOT READY, LOGICAL UNIT NOT
   * READY) and resolves when every started command
   * completed and background flushes finished. Buffers still referenced by a
   * frontend are not waited for: they belong to the pool, not the LUN.
   */
  drain(): Promise<void> {
    this.#closing = true;
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  async #run(io: ScsiIo, request: BlockRequest, ctl: CtlBackendServices, refused: boolean): Promise<void> {
    let completed = false;
    let op: StorageOp = 'read';
    try {
      if (refused) {
        const a = Asc.LogicalUnitNotReadyCauseNotReportable;
        ctl.setSense(io, SenseKey.NotReady, a.asc, a.ascq);
        return;
      }
      switch (request.op) {
        case 'read':
          op = 'read';
          await this.#read(io, request.lba, request.blocks, ctl);
          break;
        case 'write':
          op = 'write';
          await this.#write(io, request.lba, request.blocks, request.fua, ctl);
          break;
        case 'verify':
          op = 'read';
          if (request.bytchk) await this.#verify(io, request.lba, request.blocks, ctl);
          else ctl.setSuccess(io);
          break;
        case 'compare':
          op = 'read';
          await compareRange(this.#integrity, io, request.lba, request.blocks, request.single, ctl);
          break;
        case 'writeVerify':
          op = 'write';
          await writeAndVerify(this.#integrity, io, request.lba, request.blocks, request.bytchk, ctl);
          break;
        case 'orWrite':
          op = 'write';
          await orWrite(this.#integrity, io, request.lba, request.blocks, request.fua, ctl);
          break;
        case 'compareAndWrite':
          op = 'write';
          await compareAndWrite(this.#integrity, io, request.lba, request.blocks, request.fua, ctl);
          break;
        case 'unmap':
        case 'writeSame':
        case 'getLbaStatus':
          op = request.op === 'getLbaStatus' ? 'read' : 'write';
          await this.#runThin(io, request, ctl);
          break;
        case 'flush':
          op = 'flush';
          if (request.immed) {
            // SBC-3 SYNCHRONIZE CACHE, IMMED bit: status may be returned before the cache is synchronized.
            ctl.setSuccess(io);
            completed = true;
            this.#complete(io, ctl);
            try {
              await this.#store.flush();
            } catch {
              this.#backgroundErrors++;
            }
          } else {
            await this.#store.flush();
            ctl.setSuccess(io);
          }
          break;
      }
    } catch (err) {
      if (!completed) setStorageErrorSense(ctl, io, err, op);
      else this.#backgroundErrors++;
    } finally {
      try {
        if (!completed) this.#complete(io, ctl);
      } finally {
        if (--this.#inflight === 0 && this.#drainWaiters.length > 0) {
          const waiters = this.#drainWaiters;
          this.#drainWaiters = [];
          for (const w of waiters) w();
        }
      }
    }
  }

  #complete(io: ScsiIo, ctl: CtlBackendServices): void {
    io.bePriv = undefined;
    io.beMoveDone = null;
    io.kernSgList = [];
    io.kernDataRef = null;
    io.kernDataArg = undefined;
    ctl.dataSubmitDone(io);
  }

  /** Starts the datamove of the current piece and resolves at `beMoveDone`. */
  #datamove(io: ScsiIo, ctl: CtlBackendServices): Promise<void> {
    const state = io.bePriv as CommandState;
    return new Promise<void>((resolve) => {
      state.moveDone = resolve;
      io.beMoveDone = beMoveDone;
      ctl.datamove(io);
    });
  }

  /**
   * After a datamove: true if the command must stop without touching storage
   * — the transport failed (FreeBSD `ctl_be_block_move_done`: port_status
   * set and no error yet → INTERNAL TARGET FAILURE) or the task was aborted.
   */
  #transferFailed(io: ScsiIo, ctl: CtlBackendServices): boolean {
    if (io.portStatus !== 0) {
      if (io.status === IoStatus.None || io.status === IoStatus.Success) ctl.setInternalFailure(io);
      return true;
    }
    return io.aborted;
  }

  #setPiece(io: ScsiIo, direction: DataDirection, length: number, relOffset: number): void {
    io.dataDirection = direction;
    io.kernDataLen = length;
    io.kernRelOffset = relOffset;
    io.kernDataResid = length;
  }

  /** UNMAP, WRITE SAME, GET LBA STATUS (thin-dispatch.ts). */
  async #runThin(
    io: ScsiIo,
    request: Extract<BlockRequest, { op: 'unmap' | 'writeSame' | 'getLbaStatus' }>,
    ctl: CtlBackendServices,
  ): Promise<void> {
    const ctx = this.#thinContext();
    if (request.op === 'getLbaStatus') {
      await sendLbaStatus(ctx, io, request, ctl);
      return;
    }
    if (this.#readOnly) {
      // SBC-3 write protection: DATA PROTECT / WRITE PROTECTED.
      ctl.setWriteProtected(io);
      return;
    }
    const ok =
      request.op === 'unmap' ? await unmapExtents(ctx, io, request.extents) : await writeSameRange(ctx, io, request, ctl);
    if (!ok) return;
    // As for WRITE: FUA (or no write cache) means on the medium before GOOD.
    if ((request.op === 'writeSame' && request.fua) || !this.#writeCache) await this.#store.flush();
    ctl.setSuccess(io);
  }

  #thinContext(): ThinContext {
    this.#thin ??= {
      store: this.#store,
      pool: this.#pool,
      blockSize: this.#blockSize,
      maxIoSize: this.#maxIoSize,
      receiveBlock: async (io, length, ctl) => {
        const hold: { beio: BeIo | null } = { beio: null };
        try {
          const data = await this.#receivePiece(io, length, 0, ctl, hold);
          if (data === null) return null;
          // Copy the one block out of the frontend's (or the pool's) memory: it is the pattern.
          const pattern = Buffer.alloc(length);
          let pos = 0;
          for (const b of data) pos += b.copy(pattern, pos);
          return pattern;
        } finally {
          io.kernSgList = [];
          if (hold.beio) freeBeIo(hold.beio);
        }
      },
      sendIn: async (io, data, ctl) => {
        this.#setPiece(io, DataDirection.In, data.length, 0);
        io.kernSgList = [data];
        // `data` is built for this I/O alone and never modified or reused (GET LBA STATUS
        // parameter data), so a no-copy frontend may borrow it like CTL's own data.
        io.kernDataRef = this.#copyMode ? null : ctlDataRef;
        io.kernDataArg = undefined;
        ctl.setSuccess(io);
        try {
          await this.#datamove(io, ctl);
        } finally {
          io.kernSgList = [];
        }
        return !this.#transferFailed(io, ctl);
      },
    };
    return this.#thin;
  }

  async #read(io: ScsiIo, lba: number, blocks: number, ctl: CtlBackendServices): Promise<void> {
    const start = lba * this.#blockSize;
    const total = blocks * this.#blockSize;
    // SBC-3 READ: a transfer length of zero transfers no data and is not an error.
    if (total === 0) ctl.setSuccess(io);
    for (let done = 0; done < total; ) {
      const length = Math.min(this.#maxIoSize, total - done);
      const piece = await this.#store.readPiece(start + done, length);
      try {
        this.#setPiece(io, DataDirection.In, length, done);
        io.kernSgList = piece.sgList;
        if (this.#copyMode) {
          io.kernDataRef = null;
          io.kernDataArg = undefined;
        } else {
          io.kernDataRef = piece.ref;
          io.kernDataArg = piece.arg;
        }
        if (done + length === total) ctl.setSuccess(io);
        await this.#datamove(io, ctl);
      } finally {
        io.kernSgList = [];
        io.kernDataRef = null;
        io.kernDataArg = undefined;
        piece.ref(piece.arg, -1);
      }
      if (this.#transferFailed(io, ctl)) return;
      done += length;
    }
  }

  /**
   * Moves one Data-Out piece in and returns the received data, or null if
   * the command must stop (transfer failed, aborted, wrong length — sense
   * already set where needed). In copy mode the pooled buffers the frontend
   * copies into are put in `hold.beio`; the caller frees it after using the
   * data (also when this throws or returns null). In views mode the returned
   * views belong to the frontend and are only read.
   */
  async #receivePiece(
    io: ScsiIo,
    length: number,
    relOffset: number,
    ctl: CtlBackendServices,
    hold: { beio: BeIo | null },
  ): Promise<readonly Buffer[] | null> {
    this.#setPiece(io, DataDirection.Out, length, relOffset);
    io.kernDataRef = null;
    io.kernDataArg = undefined;
    let copyTarget: Buffer[] | null = null;
    if (this.#copyMode) {
      const segments = await this.#pool.acquire(this.#pool.segmentsFor(length));
      hold.beio = new BeIo(this.#pool, segments);
      copyTarget = sgView(segments, 0, length);
      io.dataOutMode = DataOutMode.Copy;
      io.kernSgList = copyTarget;
    } else {
      io.dataOutMode = DataOutMode.Views;
      io.kernSgList = [];
    }
    await this.#datamove(io, ctl);
    if (this.#transferFailed(io, ctl)) return null;
    const data = copyTarget ?? io.kernSgList;
    if (sgLength(data) !== length) {
      // The frontend delivered a different amount than this piece asked for.
      const a = LocalAsc.InvalidFieldInCommandInformationUnit;
      ctl.setSense(io, SenseKey.IllegalRequest, a.asc, a.ascq);
      return null;
    }
    return data;
  }

  async #write(io: ScsiIo, lba: number, blocks: number, fua: boolean, ctl: CtlBackendServices): Promise<void> {
    if (this.#readOnly) {
      // SBC-3 write protection: a write to a write-protected LUN fails with DATA PROTECT / WRITE PROTECTED.
      ctl.setWriteProtected(io);
      return;
    }
    if (!(await this.#writePieces(io, lba, blocks, 0, ctl))) return;
    // SBC-3 WRITE(10/16) FUA bit (and WCE=0 in the caching mode page): data on the medium before GOOD.
    if (fua || !this.#writeCache) await this.#store.flush();
    ctl.setSuccess(io);
  }

  /**
   * Receives and writes `blocks` blocks at `lba`, piece by piece, the data
   * starting at `relBase` within the command's Data-Out buffer. Returns
   * false if the command must stop (sense set where needed).
   */
  async #writePieces(io: ScsiIo, lba: number, blocks: number, relBase: number, ctl: CtlBackendServices): Promise<boolean> {
    const start = lba * this.#blockSize;
    const total = blocks * this.#blockSize;
    for (let done = 0; done < total; ) {
      const length = Math.min(this.#maxIoSize, total - done);
      const hold: { beio: BeIo | null } = { beio: null };
      try {
        const data = await this.#receivePiece(io, length, relBase + done, ctl, hold);
        if (data === null) return false;
        await this.#store.write(data, start + done);
      } finally {
        io.kernSgList = [];
        if (hold.beio) freeBeIo(hold.beio);
      }
      done += length;
    }
    return true;
  }

  async #verify(io: ScsiIo, lba: number, blocks: number, ctl: CtlBackendServices): Promise<void> {
    const start = lba * this.#blockSize;
    const total = blocks * this.#blockSize;
    for (let done = 0; done < total; ) {
      const length = Math.min(this.#maxIoSize, total - done);
      const piece: ReadPiece = await this.#store.readPiece(start + done, length);
      const hold: { beio: BeIo | null } = { beio: null };
      try {
        const data = await this.#receivePiece(io, length, done, ctl, hold);
        if (data === null) return;
        // SBC-3 VERIFY, BYTCHK=01b: compare the medium with the Data-Out buffer.
        if (!sgEquals(piece.sgList, data)) {
          const a = LocalAsc.MiscompareDuringVerify;
          ctl.setSense(io, SenseKey.Miscompare, a.asc, a.ascq);
          return;
        }
      } finally {
        io.kernSgList = [];
        if (hold.beio) freeBeIo(hold.beio);
        piece.ref(piece.arg, -1);
      }
      done += length;
    }
    ctl.setSuccess(io);
  }
}
