/**
 * The data-integrity commands of the block backends, on top of the datamove
 * engine (`block-dispatch.ts`), in FreeBSD's `ctl_backend_block.c` terms the
 * compare/verify half of `ctl_be_block_dispatch` and `ctl_be_block_cw_dispatch`:
 * - `compareRange`: VERIFY with BYTCHK 01b (medium == Data-Out) or 11b (each
 *   block of the medium == the single Data-Out block);
 * - `writeAndVerify`: WRITE AND VERIFY — write, make durable, and with BYTCHK
 *   read the range back and compare it with the data written;
 * - `orWrite`: ORWRITE — medium := medium OR Data-Out;
 * - `compareAndWrite`: COMPARE AND WRITE — compare the first half of the
 *   Data-Out buffer with the medium, and only if every byte matches write the
 *   second half.
 * A difference completes the command with MISCOMPARE and the byte offset in
 * INFORMATION (`ctl.setMiscompare`). Each works piece by piece (at most
 * `maxIoSize` bytes at a time), so no command holds more than one piece of
 * buffers.
 *
 * Atomicity is NOT provided here: the core's ordering (ser-table.ts) keeps
 * every overlapping command waiting while one of these runs (they are in the
 * Write serialization class with their LBA extent), which is what makes
 * COMPARE AND WRITE and ORWRITE atomic against other I/O to the range. It
 * does not decode CDBs or check ranges (the core did), and it does not know
 * protection information (the core refuses *PROTECT != 0).
 *
 * Buffer ownership: medium pieces come from `store.readPiece` with one
 * reference, dropped here; received Data-Out views are only read; in copy
 * mode the pooled buffers of a piece are freed once the piece was used.
 * "Verification" reads back what the store returns after `flush` — for the
 * file backend that may be the OS page cache, not the platters.
 */
import type { CtlBackendServices, ScsiIo } from '@iscsi-target/ctl-core';
import type { BlockStore } from './block-store.js';
import { freeBeIo, type BeIo } from './beio.js';
import { sgFirstDifference, sgFirstDifferenceRepeated, sgOr } from './block-compare.js';
import { sgView } from './sg-list.js';

/** `[offset, offset+length)` of `list` as one Buffer: a view when it lies in one chunk, else a copy. */
function sgGather(list: readonly Buffer[], offset: number, length: number): Buffer {
  const views = sgView(list, offset, length);
  return views.length === 1 ? (views[0] as Buffer) : Buffer.concat(views, length);
}

/** What these commands use of the datamove engine. */
export interface IntegrityEngine {
  readonly store: BlockStore;
  readonly blockSize: number;
  readonly maxIoSize: number;
  readonly readOnly: boolean;
  readonly writeCache: boolean;
  /**
   * Moves `length` bytes of Data-Out at `relOffset` in; null if the command
   * must stop (sense set). Copy-mode buffers are left in `hold.beio`.
   */
  receivePiece(
    io: ScsiIo,
    length: number,
    relOffset: number,
    ctl: CtlBackendServices,
    hold: { beio: BeIo | null },
  ): Promise<readonly Buffer[] | null>;
  /** Receives and writes `blocks` blocks at `lba` from Data-Out offset `relBase`; false = stop. */
  writeRange(io: ScsiIo, lba: number, blocks: number, relBase: number, ctl: CtlBackendServices): Promise<boolean>;
}

/** Receives one piece, runs `use` on it, and always releases the piece's buffers. */
async function withPiece<T>(
  engine: IntegrityEngine,
  io: ScsiIo,
  length: number,
  relOffset: number,
  ctl: CtlBackendServices,
  use: (data: readonly Buffer[]) => Promise<T>,
): Promise<T | null> {
  const hold: { beio: BeIo | null } = { beio: null };
  try {
    const data = await engine.receivePiece(io, length, relOffset, ctl, hold);
    if (data === null) return null;
    return await use(data);
  } finally {
    io.kernSgList = [];
    if (hold.beio) freeBeIo(hold.beio);
  }
}

/**
 * Runs `use` on consecutive pieces of `total` bytes, each at most
 * `pieceMax` long, with the piece's offset within the transfer. Resolves
 * true when every piece returned true; false at the first false.
 */
async function forEachPiece(
  total: number,
  pieceMax: number,
  use: (done: number, length: number) => Promise<boolean>,
): Promise<boolean> {
  for (let done = 0; done < total; ) {
    const length = Math.min(pieceMax, total - done);
    if (!(await use(done, length))) return false;
    done += length;
  }
  return true;
}

/**
 * Receives the Data-Out of `blocks` blocks at `lba` piece by piece (at most
 * `maxIoSize` each) and hands each piece to `use` with its byte offset on the
 * medium and within the transfer. Resolves true when every piece was used and
 * `use` returned true; false as soon as a transfer failed or `use` returned
 * false (sense already set).
 */
async function forEachDataOutPiece(
  engine: IntegrityEngine,
  io: ScsiIo,
  lba: number,
  blocks: number,
  ctl: CtlBackendServices,
  use: (data: readonly Buffer[], mediumOffset: number, done: number, length: number) => Promise<boolean>,
): Promise<boolean> {
  const start = lba * engine.blockSize;
  return forEachPiece(blocks * engine.blockSize, engine.maxIoSize, async (done, length) => {
    const ok = await withPiece(engine, io, length, done, ctl, (data) => use(data, start + done, done, length));
    return ok === true;
  });
}

/** Reads `length` bytes of the medium at byte `at`, runs `use` on them, and always drops the piece's reference. */
async function withMedium<T>(
  engine: IntegrityEngine,
  at: number,
  length: number,
  use: (medium: readonly Buffer[]) => T | Promise<T>,
): Promise<T> {
  const medium = await engine.store.readPiece(at, length);
  try {
    return await use(medium.sgList);
  } finally {
    medium.ref(medium.arg, -1);
  }
}

/**
 * Compares one piece of the medium with what `diffOf` finds in it (the
 * offset of the first byte that differs, -1 for none, null when the command
 * must stop with its sense already set). A difference completes the command
 * with MISCOMPARE and INFORMATION = `transferOffset` + that offset (SBC-3
 * COMPARE AND WRITE, VERIFY, WRITE AND VERIFY). True when all matched.
 */
function compareMedium(
  engine: IntegrityEngine,
  io: ScsiIo,
  ctl: CtlBackendServices,
  at: number,
  length: number,
  transferOffset: number,
  diffOf: (medium: readonly Buffer[]) => number | null | Promise<number | null>,
): Promise<boolean> {
  return withMedium(engine, at, length, async (medium) => {
    const diff = await diffOf(medium);
    if (diff === null) return false;
    if (diff >= 0) {
      ctl.setMiscompare(io, transferOffset + diff);
      return false;
    }
    return true;
  });
}

/**
 * Compares the medium at `lba` with Data-Out starting at offset 0, piece by
 * piece (each medium piece is read before its Data-Out is received).
 * Returns true if all bytes matched; false if the command must stop
 * (MISCOMPARE or a transfer failure, sense set).
 */
function compareWithDataOut(
  engine: IntegrityEngine,
  io: ScsiIo,
  lba: number,
  blocks: number,
  ctl: CtlBackendServices,
): Promise<boolean> {
  const start = lba * engine.blockSize;
  return forEachPiece(blocks * engine.blockSize, engine.maxIoSize, (done, length) =>
    compareMedium(engine, io, ctl, start + done, length, done, (medium) =>
      withPiece(engine, io, length, done, ctl, (data) => Promise.resolve(sgFirstDifference(medium, data))),
    ),
  );
}

/** VERIFY with BYTCHK = 01b (`single` false) or 11b (`single` true), SBC-3 VERIFY(10). */
export async function compareRange(
  engine: IntegrityEngine,
  io: ScsiIo,
  lba: number,
  blocks: number,
  single: boolean,
  ctl: CtlBackendServices,
): Promise<void> {
  if (!single) {
    if (await compareWithDataOut(engine, io, lba, blocks, ctl)) ctl.setSuccess(io);
    return;
  }
  // BYTCHK = 11b: one block of Data-Out, compared with each of the `blocks` blocks.
  const bs = engine.blockSize;
  const start = lba * bs;
  const total = blocks * bs;
  // A piece is a whole number of blocks, so each medium piece starts at a block boundary.
  const pieceMax = Math.max(bs, engine.maxIoSize - (engine.maxIoSize % bs));
  const matched = await withPiece(engine, io, bs, 0, ctl, (block) =>
    forEachPiece(total, pieceMax, (done, length) =>
      compareMedium(engine, io, ctl, start + done, length, done, (medium) => sgFirstDifferenceRepeated(medium, block)),
    ),
  );
  if (matched === true) ctl.setSuccess(io);
}

/** WRITE AND VERIFY(10/12/16) (SBC-3): write, flush, and with BYTCHK compare the medium with the data. */
export async function writeAndVerify(
  engine: IntegrityEngine,
  io: ScsiIo,
  lba: number,
  blocks: number,
  bytchk: boolean,
  ctl: CtlBackendServices,
): Promise<void> {
  if (engine.readOnly) {
    ctl.setWriteProtected(io);
    return;
  }
  const written = await forEachDataOutPiece(engine, io, lba, blocks, ctl, async (data, at, done, length) => {
    await engine.store.write(data, at);
    if (!bytchk) return true;
    // SBC-3 WRITE AND VERIFY: the verification is of the medium, so the data must be on it first.
    await engine.store.flush();
    return compareMedium(engine, io, ctl, at, length, done, (medium) => sgFirstDifference(medium, data));
  });
  if (!written) return;
  // SBC-3 WRITE AND VERIFY: the logical blocks are verified on the medium: make them durable.
  await engine.store.flush();
  ctl.setSuccess(io);
}

/** ORWRITE(16) with ORPROTECT = 000b (SBC-3): each byte of the medium OR the Data-Out byte. */
export async function orWrite(
  engine: IntegrityEngine,
  io: ScsiIo,
  lba: number,
  blocks: number,
  fua: boolean,
  ctl: CtlBackendServices,
): Promise<void> {
  if (engine.readOnly) {
    ctl.setWriteProtected(io);
    return;
  }
  const written = await forEachDataOutPiece(engine, io, lba, blocks, ctl, async (data, at, _done, length) => {
    const result = await withMedium(engine, at, length, (medium) => sgOr(medium, data, length));
    await engine.store.write([result], at);
    return true;
  });
  if (!written) return;
  if (fua || !engine.writeCache) await engine.store.flush();
  ctl.setSuccess(io);
}

/**
 * COMPARE AND WRITE (SBC-3): Data-Out holds `blocks` blocks of verify data,
 * then `blocks` blocks of write data. Nothing is written unless all of the
 * verify data matched the medium.
 */
export async function compareAndWrite(
  engine: IntegrityEngine,
  io: ScsiIo,
  lba: number,
  blocks: number,
  fua: boolean,
  ctl: CtlBackendServices,
): Promise<void> {
  if (engine.readOnly) {
    ctl.setWriteProtected(io);
    return;
  }
  const total = blocks * engine.blockSize;
  const storeCaw = engine.store.compareAndWrite?.bind(engine.store);
  if (storeCaw && 2 * total <= engine.maxIoSize) {
    // The store compares and writes in one atomic operation: receive the whole
    // Data-Out (verify data, then write data) and hand both halves over. The
    // store needs each half contiguous, so views spanning several received
    // chunks are gathered (a copy of at most one command's 2 x total bytes).
    const outcome = await withPiece(engine, io, 2 * total, 0, ctl, async (data) => ({
      mismatch: await storeCaw(lba * engine.blockSize, sgGather(data, 0, total), sgGather(data, total, total)),
    }));
    if (outcome === null) return;
    if (outcome.mismatch !== null) {
      // SBC-3 COMPARE AND WRITE: INFORMATION = offset of the first byte that differs.
      ctl.setMiscompare(io, outcome.mismatch);
      return;
    }
  } else {
    if (!(await compareWithDataOut(engine, io, lba, blocks, ctl))) return;
    if (!(await engine.writeRange(io, lba, blocks, total, ctl))) return;
  }
  // SBC-3 COMPARE AND WRITE FUA bit (and WCE = 0): the written blocks are on the medium before GOOD.
  if (fua || !engine.writeCache) await engine.store.flush();
  ctl.setSuccess(io);
}
