/**
 * The copy manager (FreeBSD `ctl_tpc.c` + `ctl_tpc_local.c`): runs EXTENDED
 * COPY (LID1) inside the target and keeps the per-I_T-nexus copy results that
 * RECEIVE COPY RESULTS reports.
 *
 * A copy is carried out as ordinary READ(16) / WRITE(16) commands that the
 * copy manager issues through the core on its own internal port and initiator
 * (registered on first use), so ordering against other commands, write
 * protection, LUN removal and task management apply to them as to any
 * command. Each segment is copied in pieces of at most `maxIoBytes`, one piece
 * in flight per copy, so memory is bounded by `maxConcurrentCopies × maxIoBytes`.
 * The EXTENDED COPY itself is an ordinary task: aborting it (TMF, I_T nexus
 * loss) stops the copy after the piece in flight, and the abort completes
 * only then, so nothing of an aborted copy reaches storage after the TMF
 * response.
 *
 * Does NOT implement LID4, ROD tokens (POPULATE TOKEN / WRITE USING TOKEN),
 * stream devices, inline or held data, or CSCD types other than the
 * identification descriptor (E4h). Does not parse parameter lists
 * (tpc-parse.ts) or CDBs (tpc-commands.ts).
 *
 * Buffer ownership: data read by an internal READ is either borrowed from the
 * backend (when it offers `kernDataRef`, a reference is held until the
 * matching WRITE completed, and the WRITE gets the same views in `Views`
 * mode — no copy) or copied once into a buffer this module allocates. A
 * backend that wants `Copy`-mode Data-Out gets the bytes copied into its own
 * buffers. Copies are charged to the core's copy counters.
 */
import type { BackendLunInfo } from './backend.js';
import { checkCondition, setGood, useDescriptorSense, type CommandHost } from './command.js';
import type { CtlCopyCounters } from './counters.js';
import type { CtlFrontendServices, CtlPort } from './frontend.js';
import { DataDirection, DataOutMode, IoStatus, newScsiIo, TagType, type CtlIo, type ScsiIo } from './io.js';
import type { IoState } from './io-state.js';
import type { CtlLun } from './lun.js';
import { ScsiOpcode, SenseKey, type AscAscq } from './scsi-proto.js';
import { decodeSense, setSense, type SenseOptions } from './sense.js';
import { parseParameterList, type B2bSegment, type CopyParameterList, type CscdDescriptor } from './tpc-parse.js';
import { CSCD_ID_THIS_LUN, ListIdUsage, lunDesignators, TpcAsc, type TpcLimits } from './tpc-proto.js';

/** Tunables of the copy manager (`new Ctl({ tpc })`). */
export interface TpcOptions {
  /** MAXIMUM CSCD DESCRIPTOR COUNT advertised and enforced. Default 32. */
  maxCscdDescriptors?: number;
  /** MAXIMUM SEGMENT DESCRIPTOR COUNT advertised and enforced. Default 32. */
  maxSegmentDescriptors?: number;
  /**
   * TOTAL CONCURRENT COPIES: EXTENDED COPY commands running at once (all
   * nexuses); one more is refused with INSUFFICIENT RESOURCES. Default 16.
   */
  maxConcurrentCopies?: number;
  /** Largest internal READ/WRITE, in bytes (rounded down to whole blocks). Default 1 MiB. */
  maxIoBytes?: number;
  /** Completed copy results kept for RECEIVE COPY RESULTS (oldest dropped first). Default 64. */
  maxHeldResults?: number;
  /** Times an internal command is retried after a UNIT ATTENTION. Default 4. */
  unitAttentionRetries?: number;
}

export const TPC_DEFAULTS = {
  maxCscdDescriptors: 32,
  maxSegmentDescriptors: 32,
  maxConcurrentCopies: 16,
  maxIoBytes: 1024 * 1024,
  maxHeldResults: 64,
  unitAttentionRetries: 4,
} as const;

/** What the copy manager needs from the core (implemented in ctl.ts). */
export interface TpcCoreServices {
  readonly frontend: CtlFrontendServices;
  readonly counters: CtlCopyCounters;
  /** The LUNs an initiator of `port` can address. */
  lunsOf(port: CtlPort): readonly CtlLun[];
}

/** The state of one EXTENDED COPY, kept for RECEIVE COPY RESULTS (FreeBSD `struct tpc_list`). */
export interface CopyResult {
  readonly lunId: number;
  readonly initiatorIndex: number;
  readonly listId: number;
  readonly listIdUsage: number;
  completed: boolean;
  /** Completed with an error (CHECK CONDITION or aborted). */
  failed: boolean;
  segmentsProcessed: number;
  bytesCopied: number;
  /** Sense data the EXTENDED COPY completed with, for FAILED SEGMENT DETAILS. */
  sense: Buffer | null;
}

/** Why a copy stopped (`null` = success). */
interface CopyFailure {
  readonly senseKey: number;
  readonly code: AscAscq;
  readonly opts: Omit<SenseOptions, 'descriptor'>;
}

/** A resolved CSCD: the LUN (CTL id) and its block size. */
interface Target {
  readonly lunId: number;
  readonly info: BackendLunInfo;
  /** Offset of the CSCD descriptor in the parameter list, or -1 for FFFFh. */
  readonly offset: number;
}

/** One piece of data read by an internal READ, waiting for its WRITE. */
class Piece {
  readonly bufs: Buffer[] = [];
  length = 0;
  readonly #refs: { ref: (arg: unknown, diff: number) => void; arg: unknown }[] = [];

  hold(ref: (arg: unknown, diff: number) => void, arg: unknown): void {
    ref(arg, +1);
    this.#refs.push({ ref, arg });
  }

  /** Views of bytes [off, off + len). */
  views(off: number, len: number): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    for (const b of this.bufs) {
      const start = Math.max(off, pos);
      const end = Math.min(off + len, pos + b.length);
      if (start < end) out.push(b.subarray(start - pos, end - pos));
      pos += b.length;
      if (pos >= off + len) break;
    }
    return out;
  }

  release(): void {
    for (const { ref, arg } of this.#refs.splice(0)) ref(arg, -1);
    this.bufs.length = 0;
    this.length = 0;
  }
}

/** An internal command in flight. */
interface InternalOp {
  readonly piece: Piece;
  readonly write: boolean;
  readonly done: (io: ScsiIo) => void;
  /** The EXTENDED COPY command this I/O works for (its I_T nexus owns the I/O for reservations). */
  readonly origin: IoState;
}

const TPC_PORT_NAME = 'iscsi-target:tpc,t,0xffff';
const TPC_INITIATOR_NAME = 'iscsi-target:tpc,i,0x000000000000';

export class ThirdPartyCopy {
  readonly limits: TpcLimits;
  readonly #core: TpcCoreServices;
  readonly #maxIoBytes: number;
  readonly #maxHeld: number;
  readonly #uaRetries: number;
  /** "lun:initiator:listId" → result (lists with LIST ID USAGE 00b or 10b). */
  readonly #results = new Map<string, CopyResult>();
  #running = 0;
  #port: { targetPort: number; initiatorIndex: number } | null = null;
  #portObject: CtlPort | null = null;
  readonly #ops = new Map<ScsiIo, InternalOp>();
  #tag = 0;

  constructor(core: TpcCoreServices, options: TpcOptions = {}) {
    this.#core = core;
    const int = (name: keyof typeof TPC_DEFAULTS, min: number, max: number): number => {
      const v = options[name] ?? TPC_DEFAULTS[name];
      if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`tpc.${name} must be in ${min}..${max}, got ${v}`);
      return v;
    };
    const maxCscd = int('maxCscdDescriptors', 1, 0x7ff);
    const maxSeg = int('maxSegmentDescriptors', 1, 0xffff);
    this.limits = {
      maxCscdDescriptors: maxCscd,
      maxSegmentDescriptors: maxSeg,
      // Room for exactly the advertised counts of the descriptors implemented.
      maxDescriptorListLength: maxCscd * 32 + maxSeg * 28,
      maxConcurrentCopies: int('maxConcurrentCopies', 1, 255),
    };
    this.#maxIoBytes = int('maxIoBytes', 512, 64 * 1024 * 1024);
    this.#maxHeld = int('maxHeldResults', 0, 65536);
    this.#uaRetries = int('unitAttentionRetries', 0, 64);
  }

  /** Whether `port` is the copy manager's internal port. */
  ownsPort(port: CtlPort): boolean {
    return this.#portObject === port;
  }

  /**
   * The EXTENDED COPY command an internal I/O works for, or null for any other
   * I/O. SPC-4 §5.13 judges a copy's reads and writes by the reservation rights
   * of the I_T nexus that sent the EXTENDED COPY, not by the copy manager's own.
   */
  originOf(io: ScsiIo): IoState | null {
    return this.#ops.get(io)?.origin ?? null;
  }

  /** EXTENDED COPY commands running now. */
  get running(): number {
    return this.#running;
  }

  // ------------------------------------------------------------ results

  /** The result of list `listId` of the command's I_T nexus on its LUN (RECEIVE COPY RESULTS). */
  findResult(state: IoState, listId: number): CopyResult | null {
    if (!state.lun) return null;
    return this.#results.get(resultKey(state.lun.id, state.initiatorIndex, listId)) ?? null;
  }

  /** Discards a completed result after RECEIVE COPY RESULTS returned it (FreeBSD does the same). */
  discardResult(result: CopyResult): void {
    if (!result.completed) return;
    const key = resultKey(result.lunId, result.initiatorIndex, result.listId);
    if (this.#results.get(key) === result) this.#results.delete(key);
  }

  /** I_T nexus loss: completed results of that initiator are discarded (FreeBSD `ctl_tpc_lun_clear`). */
  forgetInitiator(initiatorIndex: number): void {
    for (const [k, r] of this.#results) if (r.completed && r.initiatorIndex === initiatorIndex) this.#results.delete(k);
  }

  /** A LUN was removed: its completed results are discarded. */
  forgetLun(lunId: number): void {
    for (const [k, r] of this.#results) if (r.completed && r.lunId === lunId) this.#results.delete(k);
  }

  // --------------------------------------------------------------- copy

  /**
   * Runs an EXTENDED COPY (LID1) whose parameter list is `data` (owned by the
   * caller, only read during this call) and completes the command.
   */
  extendedCopy(state: IoState, host: CommandHost, data: Buffer): void {
    const lun = state.lun;
    if (!lun) return checkCondition(state, host, SenseKey.IllegalRequest, TpcAsc.InvalidFieldInParameterList);
    const parsed = parseParameterList(data, this.limits);
    if (!parsed.ok) {
      const e = parsed.error;
      const opts: Omit<SenseOptions, 'descriptor'> = {};
      if (e.fieldPointer !== undefined) {
        opts.fieldPointer = e.fieldPointer;
        opts.command = false;
        if (e.bitPointer !== undefined) opts.bitPointer = e.bitPointer;
      }
      return checkCondition(state, host, e.senseKey, e.code, opts);
    }
    const list = parsed.list;
    const held = list.listIdUsage !== ListIdUsage.None;
    const key = resultKey(lun.id, state.initiatorIndex, list.listId);
    // SPC-4 §6.4.3: a LIST IDENTIFIER still in use by a copy of the same I_T nexus.
    if (held && this.#results.get(key)?.completed === false) {
      return checkCondition(state, host, SenseKey.IllegalRequest, TpcAsc.OperationInProgress);
    }
    // SPC-4 §6.18.4 TOTAL CONCURRENT COPIES exceeded.
    if (this.#running >= this.limits.maxConcurrentCopies) {
      return checkCondition(state, host, SenseKey.IllegalRequest, TpcAsc.InsufficientResources);
    }
    const targets: (Target | null)[] = [];
    for (const c of list.cscds) {
      const t = this.#resolve(state, c);
      // SPC-4 §6.4.6.4: a DISK BLOCK LENGTH that is not the LU's block length.
      if (t && c.diskBlockLength !== 0 && c.diskBlockLength !== t.info.blockSize) {
        return checkCondition(state, host, SenseKey.IllegalRequest, TpcAsc.InvalidFieldInParameterList, {
          fieldPointer: c.offset + 29,
          command: false,
        });
      }
      targets.push(t);
    }
    const result: CopyResult = {
      lunId: lun.id,
      initiatorIndex: state.initiatorIndex,
      listId: list.listId,
      listIdUsage: list.listIdUsage,
      completed: false,
      failed: false,
      segmentsProcessed: 0,
      bytesCopied: 0,
      sense: null,
    };
    if (held) {
      this.#results.delete(key);
      this.#results.set(key, result);
    }
    this.#running++;
    const self: Target = { lunId: lun.id, info: lun.be, offset: -1 };
    void this.#run(state, list, targets, self, result).then(
      (failure) => this.#complete(state, host, result, failure),
      () => this.#complete(state, host, result, internalFailure()),
    );
  }

  #complete(state: IoState, host: CommandHost, result: CopyResult, failure: CopyFailure | null): void {
    this.#running--;
    const io = state.io;
    if (io.aborted) {
      result.failed = true;
    } else if (failure) {
      setSense(io, failure.senseKey, failure.code.asc, failure.code.ascq, {
        ...failure.opts,
        descriptor: useDescriptorSense(state, host),
      });
      result.failed = true;
      result.sense = io.senseData;
    } else {
      setGood(state);
    }
    result.completed = true;
    const key = resultKey(result.lunId, result.initiatorIndex, result.listId);
    if (result.listIdUsage !== ListIdUsage.Hold && this.#results.get(key) === result) this.#results.delete(key);
    this.#trimResults();
    host.complete(state);
  }

  #trimResults(): void {
    let completed = 0;
    for (const r of this.#results.values()) if (r.completed) completed++;
    for (const [k, r] of this.#results) {
      if (completed <= this.#maxHeld) break;
      if (!r.completed) continue;
      this.#results.delete(k);
      completed--;
    }
  }

  /** Finds the LUN an identification CSCD descriptor names among those the command's port serves. */
  #resolve(state: IoState, c: CscdDescriptor): Target | null {
    if (c.association !== 0) return null;
    for (const lun of this.#core.lunsOf(state.port)) {
      if (lun.removing) continue;
      for (const d of lunDesignators(lun.be)) {
        if (d.codeSet === c.codeSet && d.type === c.designatorType && d.id.equals(c.designator)) {
          return { lunId: lun.id, info: lun.be, offset: c.offset };
        }
      }
    }
    return null;
  }

  /** Processes the segments in order (SPC-4 §6.4.1); resolves to the failure, or null. */
  async #run(
    state: IoState,
    list: CopyParameterList,
    targets: readonly (Target | null)[],
    self: Target,
    result: CopyResult,
  ): Promise<CopyFailure | null> {
    for (let i = 0; i < list.segments.length; i++) {
      if (state.io.aborted) return null;
      const seg = list.segments[i]!;
      const failure = await this.#copySegment(state, seg, i, targets, self, result);
      if (failure) return failure;
      result.segmentsProcessed = i + 1;
    }
    return null;
  }

  async #copySegment(
    state: IoState,
    seg: B2bSegment,
    index: number,
    targets: readonly (Target | null)[],
    self: Target,
    result: CopyResult,
  ): Promise<CopyFailure | null> {
    const pick = (id: number): Target | null => (id === CSCD_ID_THIS_LUN ? self : (targets[id] ?? null));
    const src = pick(seg.sourceId);
    const dst = pick(seg.destinationId);
    // SPC-4 §6.4.7.1: a CSCD descriptor ID that names no reachable CSCD (index beyond
    // the list, or a designator of no LU this port serves).
    if (!src || !dst) return copyAborted(TpcAsc.UnreachableCopyTarget, index);
    const srcBs = src.info.blockSize;
    const dstBs = dst.info.blockSize;
    const bytes = seg.blocks * (seg.dc ? dstBs : srcBs);
    if (bytes === 0) return null;
    // SPC-4 §6.4.4: a block to block copy must move whole blocks on both sides.
    if (bytes % srcBs !== 0 || bytes % dstBs !== 0) return copyAborted(TpcAsc.UnexpectedInexactSegment, index);
    const srcBlocks = bytes / srcBs;
    const dstBlocks = bytes / dstBs;
    // Checked before any I/O so a segment beyond either capacity moves nothing. The segment
    // pointer (SD = 1) designates the LBA field at fault (SPC-4 §4.5.2.4.5).
    if (seg.sourceLba + BigInt(srcBlocks) > BigInt(src.info.numBlocks)) {
      return copyAborted(TpcAsc.NoAdditionalSenseInformation, index, 12);
    }
    if (seg.destinationLba + BigInt(dstBlocks) > BigInt(dst.info.numBlocks)) {
      return copyAborted(TpcAsc.NoAdditionalSenseInformation, index, 20);
    }
    const unit = lcm(srcBs, dstBs);
    let pieceBytes = Math.max(unit, Math.floor(this.#maxIoBytes / unit) * unit);
    for (const t of [src, dst]) {
      const max = t.info.maxTransferBlocks * t.info.blockSize;
      if (max > 0 && pieceBytes > max) pieceBytes = Math.max(unit, Math.floor(max / unit) * unit);
    }
    const srcLba = Number(seg.sourceLba);
    const dstLba = Number(seg.destinationLba);
    // Overlapping ranges on one LU are copied back to front when the destination is
    // above the source, so every block is read before it is overwritten.
    const backwards = src.lunId === dst.lunId && srcBs === dstBs && dstLba > srcLba && dstLba < srcLba + srcBlocks;
    const count = Math.ceil(bytes / pieceBytes);
    for (let n = 0; n < count; n++) {
      if (state.io.aborted) return null;
      const k = backwards ? count - 1 - n : n;
      const off = k * pieceBytes;
      const len = Math.min(pieceBytes, bytes - off);
      const piece = new Piece();
      try {
        const r = await this.#internal(state, src.lunId, true, srcLba + off / srcBs, len / srcBs, len, piece);
        if (r) return deviceFailure(index, src);
        if (state.io.aborted) return null;
        const w = await this.#internal(state, dst.lunId, false, dstLba + off / dstBs, len / dstBs, len, piece);
        if (w) return deviceFailure(index, dst);
      } finally {
        piece.release();
      }
      result.bytesCopied += len;
    }
    return null;
  }

  /**
   * Runs one internal READ(16) (filling `piece`) or WRITE(16) (from `piece`),
   * retrying after unit attentions. Resolves to null on GOOD, else the failed I/O.
   * `origin` is the EXTENDED COPY command: reservations judge the I/O as its I_T nexus's.
   */
  async #internal(
    origin: IoState,
    lunId: number,
    read: boolean,
    lba: number,
    blocks: number,
    bytes: number,
    piece: Piece,
  ): Promise<ScsiIo | null> {
    const port = this.#internalPort();
    for (let attempt = 0; ; attempt++) {
      const cdb = Buffer.alloc(16);
      cdb[0] = read ? ScsiOpcode.Read16 : ScsiOpcode.Write16;
      cdb.writeBigUInt64BE(BigInt(lba), 2);
      cdb.writeUInt32BE(blocks, 10);
      this.#tag = (this.#tag + 1) >>> 0;
      const io = newScsiIo({
        nexus: { initiatorIndex: port.initiatorIndex, targetPort: port.targetPort, lun: lunId },
        tagNum: this.#tag,
        tagType: TagType.Simple,
        cdb,
        expectedDataTransferLength: bytes,
      });
      if (read) piece.release();
      const done = await new Promise<ScsiIo>((resolve) => {
        this.#ops.set(io, { piece, write: !read, done: resolve, origin });
        this.#core.frontend.run(io);
      });
      if (done.status === IoStatus.Success) return null;
      const sense = done.senseData ? decodeSense(done.senseData) : null;
      if (sense?.senseKey === SenseKey.UnitAttention && attempt < this.#uaRetries) continue;
      return done;
    }
  }

  #internalPort(): { targetPort: number; initiatorIndex: number } {
    if (this.#port) return this.#port;
    const port: CtlPort = {
      name: TPC_PORT_NAME,
      targetName: TPC_PORT_NAME,
      lunMap: null,
      datamove: (io) => this.#datamove(io),
      done: (io) => this.#done(io),
    };
    this.#portObject = port;
    const targetPort = this.#core.frontend.registerPort(port);
    const initiatorIndex = this.#core.frontend.addInitiator(targetPort, TPC_INITIATOR_NAME);
    this.#port = { targetPort, initiatorIndex };
    return this.#port;
  }

  /** The internal port's datamove: Data-In into the piece, Data-Out from it. */
  #datamove(io: ScsiIo): void {
    const op = this.#ops.get(io);
    const counters = this.#core.counters;
    if (!op) {
      io.portStatus = 1;
      return this.#core.frontend.datamoveDone(io);
    }
    const len = io.kernDataLen;
    if (io.dataDirection === DataDirection.In && !op.write) {
      if (io.kernRelOffset !== op.piece.length) {
        io.portStatus = 1; // pieces arrive in order; anything else is a backend bug
      } else if (io.kernDataRef) {
        op.piece.hold(io.kernDataRef, io.kernDataArg);
        for (const b of io.kernSgList) op.piece.bufs.push(b);
        op.piece.length += len;
        counters.referencedOut += len;
        io.kernDataResid = 0;
      } else {
        const copy = Buffer.allocUnsafe(len);
        let pos = 0;
        for (const b of io.kernSgList) pos += b.copy(copy, pos);
        op.piece.bufs.push(copy);
        op.piece.length += len;
        counters.copiedOut += len;
        io.kernDataResid = 0;
      }
    } else if (io.dataDirection === DataDirection.Out && op.write) {
      const views = op.piece.views(io.kernRelOffset, len);
      if (io.dataOutMode === DataOutMode.Views) {
        io.kernSgList = views;
        counters.referencedIn += len;
      } else {
        let pos = 0;
        let vi = 0;
        let voff = 0;
        for (const dst of io.kernSgList) {
          let doff = 0;
          while (doff < dst.length && vi < views.length) {
            const v = views[vi]!;
            const n = v.copy(dst, doff, voff);
            doff += n;
            voff += n;
            pos += n;
            if (voff >= v.length) {
              vi++;
              voff = 0;
            }
          }
        }
        counters.copiedIn += pos;
      }
      io.kernDataResid = 0;
    } else {
      io.portStatus = 1;
    }
    this.#core.frontend.datamoveDone(io);
  }

  #done(io: CtlIo): void {
    if (io.kind !== 'scsi') return;
    const op = this.#ops.get(io);
    if (!op) return;
    this.#ops.delete(io);
    op.done(io);
  }
}

function resultKey(lunId: number, initiatorIndex: number, listId: number): string {
  return `${lunId}:${initiatorIndex}:${listId}`;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/**
 * COPY ABORTED for segment `index` (SPC-4 §6.4.5): COMMAND-SPECIFIC INFORMATION
 * is the segment number; with `field`, a segment pointer (SD = 1) to that byte
 * of the segment descriptor.
 */
function copyAborted(code: AscAscq, index: number, field?: number): CopyFailure {
  const opts: Omit<SenseOptions, 'descriptor'> = { commandSpecific: index };
  if (field !== undefined) {
    opts.fieldPointer = field;
    opts.segmentDescriptor = true;
  }
  return { senseKey: SenseKey.CopyAborted, code, opts };
}

/**
 * An internal READ or WRITE failed: COPY ABORTED / THIRD PARTY DEVICE FAILURE
 * (SPC-4 §6.4.5, FreeBSD `tpc_set_io_error_sense`), with a segment pointer
 * (SD = 0) to the CSCD descriptor of the failing device when there is one.
 */
function deviceFailure(index: number, target: Target): CopyFailure {
  const opts: Omit<SenseOptions, 'descriptor'> = { commandSpecific: index };
  if (target.offset >= 0) {
    opts.fieldPointer = target.offset;
    opts.segmentDescriptor = false;
  }
  return { senseKey: SenseKey.CopyAborted, code: TpcAsc.ThirdPartyDeviceFailure, opts };
}

function internalFailure(): CopyFailure {
  return { senseKey: SenseKey.HardwareError, code: { asc: 0x44, ascq: 0x00 }, opts: {} };
}
