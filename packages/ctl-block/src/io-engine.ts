/**
 * The I/O engine of a file LUN: `threadpool` (Node's `fs`, one libuv
 * thread-pool request per call — `nodeFileIo`) or `uring` (the process's
 * shared io_uring from `@iscsi-target/io-uring`: preadv / pwritev /
 * fdatasync / fallocate PUNCH_HOLE as SQEs, submitted once per event-loop
 * turn, no thread-pool round trip).
 *
 * What it does: `fileIoFor(engine)` returns the `FileIo` of an engine,
 * `holeOpsFor(engine, native)` the hole operations (punching through the
 * ring with `uring`; SEEK_DATA/SEEK_HOLE stay on the native helper), and
 * a process default (`setDefaultIoEngine`, the daemon's `--io-engine`).
 * When io_uring is unavailable (addon not built, EPERM/ENOSYS, or
 * ISCSI_TARGET_NO_URING=1) `uring` falls back to `threadpool`, once logged
 * through `ioEngineFallbackReason()`.
 *
 * What it does not do: open, stat, truncate or close through the ring
 * (rare calls: they stay on `fs`).
 *
 * Buffer ownership: as `FileIo` — the ring pins the Buffers of a readv /
 * writev until its CQE, which is when the promise settles.
 */
import { sharedRing, uringUnavailable, FallocMode } from '@iscsi-target/io-uring';
import { nodeFileIo, type FileIo } from './file-io.js';
import type { HoleOps } from './hole-ops.js';

export type IoEngine = 'uring' | 'threadpool';

export const IO_ENGINES: readonly IoEngine[] = ['uring', 'threadpool'];

let defaultEngine: IoEngine = 'threadpool';

/** The engine used by LUNs that do not choose one (default `threadpool`). */
export function defaultIoEngine(): IoEngine {
  return defaultEngine;
}

/** Sets the process default (the daemon's `--io-engine`). */
export function setDefaultIoEngine(engine: IoEngine): void {
  if (!IO_ENGINES.includes(engine)) throw new TypeError(`unknown I/O engine ${String(engine)}`);
  defaultEngine = engine;
}

/** null if `uring` really runs on io_uring here; else why it falls back to the thread pool. */
export function ioEngineFallbackReason(): string | null {
  return uringUnavailable();
}

/** The engine a LUN asking for `engine` actually gets. */
export function effectiveIoEngine(engine: IoEngine = defaultEngine): IoEngine {
  return engine === 'uring' && uringUnavailable() === null ? 'uring' : 'threadpool';
}

let uringIo: FileIo | null = null;

function makeUringFileIo(): FileIo {
  const ring = sharedRing();
  return {
    ...nodeFileIo,
    readv: (fd, buffers, position) => ring.readv(fd, buffers, position),
    read: (fd, buffer, offset, length, position) => ring.readv(fd, [buffer.subarray(offset, offset + length)], position),
    writev: (fd, buffers, position) => ring.writev(fd, buffers, position),
    fdatasync: (fd) => ring.fsync(fd, true),
  };
}

/** The `FileIo` of `engine` (after fallback). */
export function fileIoFor(engine: IoEngine = defaultEngine): FileIo {
  if (effectiveIoEngine(engine) === 'threadpool') return nodeFileIo;
  return (uringIo ??= makeUringFileIo());
}

/** `native` with hole punching moved onto the ring when `engine` is `uring`. */
export function holeOpsFor(engine: IoEngine, native: HoleOps | null): HoleOps | null {
  if (native === null || effectiveIoEngine(engine) === 'threadpool') return native;
  const ring = sharedRing();
  return {
    punchHole: (fd, offset, length) => ring.fallocate(fd, FallocMode.PunchHole | FallocMode.KeepSize, offset, length),
    seekData: (fd, offset) => native.seekData(fd, offset),
    seekHole: (fd, offset) => native.seekHole(fd, offset),
  };
}
