/**
 * The thin-provisioning half of the datamove engine (block-dispatch.ts):
 * UNMAP, WRITE SAME (with and without UNMAP, NDOB) and GET LBA STATUS on a
 * `BlockStore`, the way FreeBSD's `ctl_be_block_cw_dispatch_unmap` /
 * `_ws` and `ctl_be_block_gls_file` do it.
 *
 * - UNMAP / WRITE SAME with UNMAP: `store.deallocate` per extent; a store
 *   that cannot deallocate (or says so at run time) gets zeros written
 *   instead, so reads return zeros either way (LBPRZ holds).
 * - WRITE SAME without UNMAP: the one block of Data-Out (or zeros with NDOB)
 *   is replicated into ONE pooled piece of at most `maxIoSize` bytes, which
 *   is written again and again: memory stays bounded whatever NUMBER OF
 *   LOGICAL BLOCKS says. An abort stops it between pieces.
 * - GET LBA STATUS: `store.allocationAt` runs, rounded to whole blocks (a
 *   block with any data is mapped), merged, encoded with ctl-core's
 *   `encodeLbaStatus`, and datamoved in.
 *
 * Ownership: the Data-Out block is copied into a private pattern buffer
 * before any write (the views belong to the frontend); the pooled piece goes
 * back to the pool before the function returns. It does NOT decode CDBs or
 * check ranges (ctl-core did), and does not complete the I/O (the caller
 * does, exactly once).
 */
import {
  encodeLbaStatus,
  LBA_STATUS_MAX_BLOCKS,
  lbaStatusDescriptorsFor,
  ProvisioningStatus,
  type CtlBackendServices,
  type LbaExtent,
  type LbaStatusDescriptor,
  type ScsiIo,
} from '@iscsi-target/ctl-core';
import type { BlockStore } from './block-store.js';
import type { BufferPool } from './buffer-pool.js';
import { sgView } from './sg-list.js';

/** Most LBA status descriptors one GET LBA STATUS returns (bounds the scan per command). */
export const MAX_LBA_STATUS_DESCRIPTORS = 64;

/** What the dispatcher lends these operations. */
export interface ThinContext {
  readonly store: BlockStore;
  readonly pool: BufferPool;
  readonly blockSize: number;
  readonly maxIoSize: number;
  /**
   * Receives `length` bytes of Data-Out into a pattern buffer the callee may
   * keep, or resolves null if the command must stop (sense already set).
   */
  receiveBlock(io: ScsiIo, length: number, ctl: CtlBackendServices): Promise<Buffer | null>;
  /** Datamoves `data` in as the whole Data-In; resolves false if the transfer failed or was aborted. */
  sendIn(io: ScsiIo, data: Buffer, ctl: CtlBackendServices): Promise<boolean>;
}

/** Fills every byte of `list` with `pattern` repeated, phase-aligned to the start of the list. */
export function sgFillPattern(list: readonly Buffer[], pattern: Buffer): void {
  let pos = 0;
  for (const b of list) {
    const phase = pos % pattern.length;
    const rotated = phase === 0 ? pattern : Buffer.concat([pattern.subarray(phase), pattern.subarray(0, phase)]);
    b.fill(rotated);
    pos += b.length;
  }
}

/** Writes `pattern` (one block) over `[offset, offset + length)` in pieces of at most `maxIoSize`. */
export async function fillRange(
  ctx: ThinContext,
  io: ScsiIo,
  offset: number,
  length: number,
  pattern: Buffer,
): Promise<boolean> {
  // At most maxIoSize, and never more than one acquire can get (a RAM disk's maxIoSize may exceed the pool cap).
  const poolCap = Math.floor(ctx.pool.maxBytes / ctx.blockSize) * ctx.blockSize;
  const pieceLength = Math.min(ctx.maxIoSize, poolCap, length);
  const segments = await ctx.pool.acquire(ctx.pool.segmentsFor(pieceLength));
  try {
    const piece = sgView(segments, 0, pieceLength);
    sgFillPattern(piece, pattern);
    for (let done = 0; done < length; ) {
      // SAM-5: an aborted command stops; what was written so far stays (as for any aborted WRITE).
      if (io.aborted) return false;
      const n = Math.min(pieceLength, length - done);
      await ctx.store.write(n === pieceLength ? piece : sgView(piece, 0, n), offset + done);
      done += n;
    }
    return true;
  } finally {
    ctx.pool.release(segments);
  }
}

/** Deallocates (or, if the store cannot, zero-fills) the byte range. */
async function deallocateRange(ctx: ThinContext, io: ScsiIo, offset: number, length: number): Promise<boolean> {
  if (ctx.store.deallocate && (await ctx.store.deallocate(offset, length))) return true;
  return fillRange(ctx, io, offset, length, Buffer.alloc(ctx.blockSize));
}

/** UNMAP: every extent, in order. Resolves false if the command was aborted midway. */
export async function unmapExtents(ctx: ThinContext, io: ScsiIo, extents: readonly LbaExtent[]): Promise<boolean> {
  const bs = ctx.blockSize;
  for (const e of extents) {
    if (io.aborted) return false;
    if (!(await deallocateRange(ctx, io, e.lba * bs, e.blocks * bs))) return false;
  }
  return true;
}

/**
 * WRITE SAME: receive the block (unless NDOB), then unmap or replicate it.
 * Resolves false if the command stopped (transfer failure or abort; sense
 * set where needed).
 */
export async function writeSameRange(
  ctx: ThinContext,
  io: ScsiIo,
  request: { lba: number; blocks: number; unmap: boolean; ndob: boolean },
  ctl: CtlBackendServices,
): Promise<boolean> {
  const bs = ctx.blockSize;
  let pattern: Buffer;
  if (request.ndob) {
    // SBC-4 WRITE SAME(16) NDOB: no Data-Out; the block written is all zeros.
    pattern = Buffer.alloc(bs);
  } else {
    const received = await ctx.receiveBlock(io, bs, ctl);
    if (received === null) return false;
    pattern = received;
  }
  const offset = request.lba * bs;
  const length = request.blocks * bs;
  // SBC-3 §5.41: with UNMAP the range is unmapped (FreeBSD does the same whatever the data);
  // LBPRZ = 1, so it reads back as zeros.
  if (request.unmap) return deallocateRange(ctx, io, offset, length);
  if (ctx.store.writeSame) {
    // The store repeats the block itself (e.g. rbd_aio_writesame at the OSDs): no fill buffers.
    await ctx.store.writeSame(offset, length, pattern);
    return true;
  }
  return fillRange(ctx, io, offset, length, pattern);
}

/**
 * GET LBA STATUS: scans from `lba` (at most `MAX_LBA_STATUS_DESCRIPTORS`
 * extents, as many as the allocation length holds) and sends the data in.
 */
export async function sendLbaStatus(
  ctx: ThinContext,
  io: ScsiIo,
  request: { lba: number; blocks: number; allocationLength: number },
  ctl: CtlBackendServices,
): Promise<boolean> {
  const bs = ctx.blockSize;
  const max = Math.min(MAX_LBA_STATUS_DESCRIPTORS, lbaStatusDescriptorsFor(request.allocationLength));
  const end = request.lba + request.blocks;
  const out: { lba: number; blocks: number; status: LbaStatusDescriptor['status'] }[] = [];
  let lba = request.lba;
  while (lba < end) {
    const remaining = Math.min(end - lba, LBA_STATUS_MAX_BLOCKS);
    const run = ctx.store.allocationAt
      ? await ctx.store.allocationAt(lba * bs, remaining * bs)
      : { mapped: true, length: remaining * bs };
    // A block holding any data is mapped; a deallocated run covers only whole blocks.
    let mapped = run.mapped;
    let blocks = mapped ? Math.ceil(run.length / bs) : Math.floor(run.length / bs);
    if (blocks === 0) {
      mapped = true;
      blocks = 1;
    }
    blocks = Math.min(blocks, remaining);
    const status = mapped ? ProvisioningStatus.Mapped : ProvisioningStatus.Deallocated;
    const last = out.at(-1);
    if (last && last.status === status && last.blocks + blocks <= LBA_STATUS_MAX_BLOCKS) {
      last.blocks += blocks;
    } else {
      if (out.length === max) break;
      out.push({ lba, blocks, status });
    }
    lba += blocks;
  }
  const data = encodeLbaStatus(out);
  return ctx.sendIn(io, data.length > request.allocationLength ? data.subarray(0, request.allocationLength) : data, ctl);
}
