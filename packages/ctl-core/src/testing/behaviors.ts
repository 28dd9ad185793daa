/**
 * Backend behaviours for frontend tests on `FakeCtl`: what the fake core
 * does with a SCSI command the frontend runs — hold it, READ a known
 * pattern in pieces (optionally lending buffers through a counted
 * `kernDataRef`), or WRITE into a sink in either Data-Out mode.
 *
 * Does NOT decode CDBs: each behaviour is what the test says the command
 * is.
 *
 * Buffer ownership: a READ's pieces are fresh Buffers owned by the
 * behaviour (lent to the frontend under `RefCounter` when given); a WRITE's
 * Copy-mode buffers are fresh per piece and read once the piece is moved.
 */
import { DataDirection, DataOutMode } from '../io.js';
import type { FakeCtl, ScsiHandler } from './fake-ctl.js';

/** `length` bytes where byte i is (seed + i) & 0xff. */
export function pattern(length: number, seed = 0): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (seed + i) & 0xff;
  return b;
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
  return (io, ctl: FakeCtl) => {
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

/** What a write behaviour received. */
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
  return (io, ctl: FakeCtl) => {
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
