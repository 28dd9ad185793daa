/**
 * The backend conformance kit: a vitest suite every CTL backend must pass,
 * the CTL-side counterpart of icl-offload-kpi's NIC and ICL kits. A backend
 * package runs it from its own tests with a factory for fresh LUNs:
 *
 *     runBackendConformance({ name: 'block', open: (o) => FileBackend.open({...}) });
 *
 * It drives the backend through `FakeCtl.submit` (the emulated frontend)
 * and checks the contract of `BackendLun.submit` (backend.ts):
 * - data moves in pieces that cover the transfer exactly, in order, and
 *   what was written reads back, in no-copy (Views) and copy mode;
 * - buffers lent with `kernDataRef` stay untouched while a reference is
 *   held, even when the same blocks are rewritten meanwhile, and every
 *   reference taken is dropped again;
 * - every command completes exactly once (`dataSubmitDone`), also when a
 *   transfer fails (nothing is written) or the task is aborted;
 * - errors are sense, not exceptions: writes to a read-only LUN get DATA
 *   PROTECT / WRITE PROTECTED, a COMPARE AND WRITE that differs gets
 *   MISCOMPARE with the offset and writes nothing;
 * - SYNCHRONIZE CACHE succeeds; a resize (where the subject offers one)
 *   changes `numBlocks` and the new blocks read as zeros; where thin
 *   provisioning is offered, unmapped blocks read back as LBPRZ says and
 *   GET LBA STATUS reports them deallocated.
 *
 * Does NOT test CDB decoding, range checks, ordering or reservations (the
 * core does those before a request reaches a backend), nor performance.
 * Imports vitest; production code never loads it.
 */
import { describe, expect, it } from 'vitest';
import type { BackendLun, BlockRequest } from '../backend.js';
import { DataDirection, DataOutMode, IoStatus, type ScsiIo } from '../io.js';
import { FakeCtl, type FakeCtlOptions } from './fake-ctl.js';
import { randomBytes, rng } from './rng.js';

/** What a fresh LUN of the subject must be opened with. */
export interface BackendConformanceOpen {
  /** Capacity in logical blocks; every block reads as zeros. */
  readonly blocks: number;
  readonly blockSize: number;
  readonly readOnly: boolean;
  /** Copy mode: the backend lends no buffers and receives Data-Out into its own. */
  readonly copyMode: boolean;
  /** Largest piece of one datamove, bytes (a multiple of blockSize), so that transfers span pieces. */
  readonly maxIoSize: number;
}

export interface BackendConformanceSubject {
  /** In the suite's title. */
  readonly name: string;
  /** A fresh LUN. The kit calls `be.shutdown()` on it at the end of the test. */
  open(options: BackendConformanceOpen): Promise<BackendLun>;
  /** Changes the LUN's capacity to `bytes`, when the backend can (omit otherwise: the resize test is skipped). */
  resize?(be: BackendLun, bytes: number): Promise<void>;
  /** The backend implements COMPARE AND WRITE (default true). */
  readonly compareAndWrite?: boolean;
}

const BLOCK = 512;
const PIECE = 64 * 1024;
const BLOCKS = 4096; // 2 MiB: 32 pieces

/** Sense key / ASC / ASCQ of DATA PROTECT, WRITE PROTECTED (SPC-4). */
const WRITE_PROTECTED = { senseKey: 0x07, asc: 0x27, ascq: 0x00 };
/** MISCOMPARE, MISCOMPARE DURING VERIFY OPERATION (SBC-3). */
const MISCOMPARE = { senseKey: 0x0e, asc: 0x1d, ascq: 0x00 };

export function runBackendConformance(subject: BackendConformanceSubject): void {
  const open = (over: Partial<BackendConformanceOpen> = {}): Promise<BackendLun> =>
    subject.open({ blocks: BLOCKS, blockSize: BLOCK, readOnly: false, copyMode: false, maxIoSize: PIECE, ...over });

  /** Opens, runs `body`, and always shuts the LUN down. */
  const withLun = async (over: Partial<BackendConformanceOpen>, body: (be: BackendLun) => Promise<void>): Promise<void> => {
    const be = await open(over);
    try {
      await body(be);
    } finally {
      await be.shutdown();
    }
  };

  const submit = async (be: BackendLun, request: BlockRequest, options: FakeCtlOptions = {}): Promise<{ ctl: FakeCtl; io: ScsiIo }> => {
    const ctl = new FakeCtl(options);
    const io = await ctl.submit(be, request);
    // Let late completions (a second dataSubmitDone, deferred reference drops) happen before checking.
    await new Promise((r) => setImmediate(r));
    expect(ctl.doneCount.get(io), 'dataSubmitDone exactly once').toBe(1);
    return { ctl, io };
  };
  const write = (be: BackendLun, lba: number, data: Buffer, options: FakeCtlOptions = {}) =>
    submit(be, { op: 'write', lba, blocks: data.length / be.blockSize, fua: false }, { payload: () => data, ...options });
  const read = async (be: BackendLun, lba: number, blocks: number, options: FakeCtlOptions = {}) => {
    const r = await submit(be, { op: 'read', lba, blocks }, options);
    expect(r.io.status).toBe(IoStatus.Success);
    return { ...r, data: r.ctl.readData(r.io) };
  };
  const expectGood = (io: ScsiIo): void => {
    expect(io.status, 'GOOD').toBe(IoStatus.Success);
  };

  describe(`backend conformance: ${subject.name}`, () => {
    for (const copyMode of [false, true]) {
      it(`writes and reads back across pieces (${copyMode ? 'copy' : 'no-copy'} mode)`, async () => {
        await withLun({ copyMode }, async (be) => {
          expect(be.blockSize).toBe(BLOCK);
          expect(be.numBlocks).toBe(BLOCKS);
          const data = randomBytes(rng(1), 600 * BLOCK);
          const w = await write(be, 1000, data);
          expectGood(w.io);
          const outMoves = w.ctl.datamoves;
          expect(outMoves.every((m) => m.direction === DataDirection.Out)).toBe(true);
          if (copyMode) expect(outMoves.every((m) => m.dataOutMode === DataOutMode.Copy)).toBe(true);
          expectContiguous(outMoves, data.length);
          const r = await read(be, 1000, 600);
          expect(r.data.equals(data)).toBe(true);
          expectContiguous(r.ctl.datamoves, data.length);
          if (copyMode) expect(r.ctl.datamoves.some((m) => m.hadRef), 'no buffer lent in copy mode').toBe(false);
          expect(r.ctl.refsOutstanding, 'every reference dropped').toBe(0);
          // The blocks around the write stay zero.
          const around = await read(be, 999, 602);
          expect(around.data.subarray(0, BLOCK).every((b) => b === 0)).toBe(true);
          expect(around.data.subarray(601 * BLOCK).every((b) => b === 0)).toBe(true);
        });
      });
    }

    it('keeps lent Data-In buffers untouched while referenced, and gets every reference back', async () => {
      await withLun({}, async (be) => {
        const first = randomBytes(rng(2), 256 * BLOCK);
        expectGood((await write(be, 0, first)).io);
        const r = await read(be, 0, 256, { holdRefs: true, pduSize: 8192 });
        expect(r.data.equals(first)).toBe(true);
        if (!r.ctl.datamoves.some((m) => m.hadRef)) {
          // A backend that copies into the frontend never lends: nothing to hold.
          expect(r.ctl.held).toHaveLength(0);
          return;
        }
        // Rewrite and reread the same blocks while the first read's buffers are still referenced.
        const second = randomBytes(rng(3), 256 * BLOCK);
        expectGood((await write(be, 0, second)).io);
        expect((await read(be, 0, 256)).data.equals(second)).toBe(true);
        const held = Buffer.concat(r.ctl.held.flatMap((h) => h.views));
        expect(held.equals(first), 'a referenced buffer was reused').toBe(true);
        r.ctl.releaseHeld();
        expect(r.ctl.refsOutstanding).toBe(0);
      });
    });

    it('writes nothing and completes once when the first transfer fails', async () => {
      await withLun({}, async (be) => {
        const data = randomBytes(rng(4), 8 * BLOCK);
        const w = await write(be, 10, data, { portStatus: (_io, piece) => (piece === 0 ? 42 : 0) });
        expect(w.io.status).not.toBe(IoStatus.Success);
        const r = await read(be, 10, 8);
        expect(r.data.every((b) => b === 0)).toBe(true);
      });
    });

    it('completes once when the task is aborted during a transfer', async () => {
      await withLun({}, async (be) => {
        const data = randomBytes(rng(5), 600 * BLOCK);
        const w = await write(be, 0, data, { abort: (_io, piece) => piece === 1 });
        expect(w.io.status).not.toBe(IoStatus.Success);
        const r = await submit(be, { op: 'read', lba: 0, blocks: 600 }, { abort: (_io, piece) => piece === 1 });
        expect(r.io.status).not.toBe(IoStatus.Success);
        expect(r.ctl.refsOutstanding).toBe(0);
      });
    });

    it('refuses writes on a read-only LUN with DATA PROTECT, WRITE PROTECTED', async () => {
      // Open it writable first so a backend that needs existing storage for read-only has some.
      const ro = await open({ readOnly: true });
      try {
        expect(ro.readOnly).toBe(true);
        const w = await write(ro, 0, Buffer.alloc(4 * BLOCK, 0xaa));
        expect(w.ctl.sense.get(w.io)).toMatchObject(WRITE_PROTECTED);
        expect((await read(ro, 0, 4)).data.every((b) => b === 0)).toBe(true);
      } finally {
        await ro.shutdown();
      }
    });

    it('answers SYNCHRONIZE CACHE and FUA writes with GOOD', async () => {
      await withLun({}, async (be) => {
        expectGood((await submit(be, { op: 'flush', lba: 0, blocks: 0, immed: false })).io);
        const data = randomBytes(rng(6), 4 * BLOCK);
        expectGood((await submit(be, { op: 'write', lba: 7, blocks: 4, fua: true }, { payload: () => data })).io);
        expect((await read(be, 7, 4)).data.equals(data)).toBe(true);
      });
    });

    it.skipIf(subject.compareAndWrite === false)('COMPARE AND WRITE writes only on a match, else MISCOMPARE with the offset', async () => {
      await withLun({}, async (be) => {
        const old = randomBytes(rng(7), 4 * BLOCK);
        const next = randomBytes(rng(8), 4 * BLOCK);
        expectGood((await write(be, 20, old)).io);
        const caw = (verify: Buffer) =>
          submit(be, { op: 'compareAndWrite', lba: 20, blocks: 4, fua: false }, { payload: () => Buffer.concat([verify, next]) });
        const wrong = Buffer.from(old);
        wrong[1234] = wrong[1234]! ^ 0xff;
        const bad = await caw(wrong);
        expect(bad.ctl.sense.get(bad.io)).toMatchObject({ ...MISCOMPARE, information: 1234 });
        expect((await read(be, 20, 4)).data.equals(old)).toBe(true);
        expectGood((await caw(old)).io);
        expect((await read(be, 20, 4)).data.equals(next)).toBe(true);
      });
    });

    it.skipIf(subject.resize === undefined)('grows on resize; the new blocks read as zeros', async () => {
      await withLun({}, async (be) => {
        const tail = randomBytes(rng(9), BLOCK);
        expectGood((await write(be, BLOCKS - 1, tail)).io);
        await subject.resize!(be, (BLOCKS + 128) * BLOCK);
        expect(be.numBlocks).toBe(BLOCKS + 128);
        const r = await read(be, BLOCKS - 1, 129);
        expect(r.data.subarray(0, BLOCK).equals(tail)).toBe(true);
        expect(r.data.subarray(BLOCK).every((b) => b === 0)).toBe(true);
      });
    });

    it('unmaps where thin provisioning is offered: zeros (LBPRZ) and a deallocated extent in GET LBA STATUS', async () => {
      await withLun({}, async (be) => {
        const prov = be.provisioning;
        if (!be.thinProvisioned || prov === undefined || !prov.unmap) {
          // Nothing offered: the core never sends UNMAP or GET LBA STATUS to this backend.
          expect(prov?.unmap ?? false).toBe(false);
          return;
        }
        const data = randomBytes(rng(10), 256 * BLOCK);
        expectGood((await write(be, 256, data)).io);
        expectGood((await submit(be, { op: 'unmap', lba: 256, blocks: 256, extents: [{ lba: 256, blocks: 256 }] })).io);
        const r = await read(be, 256, 256);
        if (prov.lbprz) expect(r.data.every((b) => b === 0), 'LBPRZ: unmapped blocks read as zeros').toBe(true);
        const s = await submit(be, { op: 'getLbaStatus', lba: 256, blocks: BLOCKS - 256, allocationLength: 4096 });
        expectGood(s.io);
        const status = s.ctl.readData(s.io);
        expect(status.length).toBeGreaterThanOrEqual(24);
        // First descriptor (SBC-3 GET LBA STATUS): starts at the requested LBA; status 1 = deallocated.
        expect(status.readUInt32BE(8) * 2 ** 32 + status.readUInt32BE(12)).toBe(256);
        expect(status[8 + 12]! & 0x0f).toBe(1);
        expect(status.readUInt32BE(8 + 8)).toBeGreaterThanOrEqual(1);
      });
    });
  });
}

/** The datamoves cover [0, total) in order, without gaps or overlaps. */
function expectContiguous(moves: ReadonlyArray<{ relOffset: number; length: number }>, total: number): void {
  let at = 0;
  for (const m of moves) {
    expect(m.relOffset, 'pieces in order without gaps').toBe(at);
    at += m.length;
  }
  expect(at).toBe(total);
}
