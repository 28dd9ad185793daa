/**
 * Hole punching and hole finding for the file backend: `punchHole`
 * (fallocate FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) and `seekData` /
 * `seekHole` (lseek SEEK_DATA / SEEK_HOLE), which Node's `fs` does not
 * offer. They come from the optional native helper in `native/` (built by
 * the package build with node-gyp; see native/build.mjs). `loadHoleOps()`
 * returns null when the helper is missing, failed to build, cannot load, or
 * is disabled with CTL_BLOCK_NATIVE=0 — the file backend then uses its
 * fallback (UNMAP writes zeros, GET LBA STATUS reports everything mapped)
 * and says so in what it reports (see file-backend.ts).
 *
 * Does NOT decide what to punch or interpret SCSI; no buffers cross this
 * API. Errors carry an errno-style `code` ('EOPNOTSUPP', 'EBADF', ...).
 */
import { constants } from 'node:os';
import { createRequire } from 'node:module';

export interface HoleOps {
  /**
   * Deallocates `[offset, offset + length)` without changing the file size;
   * the range reads as zeros afterwards (partial file-system blocks at the
   * edges are zeroed, not freed). Rejects with an errno-style error;
   * `EOPNOTSUPP` means the file system cannot punch holes.
   */
  punchHole(fd: number, offset: number, length: number): Promise<void>;
  /** The first data byte at or after `offset`, or -1 if there is none (all hole up to EOF). */
  seekData(fd: number, offset: number): number;
  /** The first hole byte at or after `offset` (EOF counts as a hole), or -1 if `offset` is past EOF. */
  seekHole(fd: number, offset: number): number;
}

interface NativeBinding {
  punchHole(fd: number, offset: number, length: number): Promise<void>;
  seekData(fd: number, offset: number): number;
  seekHole(fd: number, offset: number): number;
}

/** Where the package build puts the addon, relative to src/ and dist/ alike. */
const ADDON_PATH = '../native/build/Release/ctl_block_native.node';

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** Turns the addon's `{ errno: n }` error into one with a Node-style `code`. */
function withCode(err: unknown): unknown {
  if (err instanceof Error) {
    const n = (err as { errno?: unknown }).errno;
    if (typeof n === 'number') Object.assign(err, { code: errnoNames.get(n) ?? `ERRNO${n}` });
  }
  return err;
}

function wrap(binding: NativeBinding): HoleOps {
  return {
    punchHole: async (fd, offset, length) => {
      try {
        await binding.punchHole(fd, offset, length);
      } catch (err) {
        throw withCode(err);
      }
    },
    seekData: (fd, offset) => {
      try {
        return binding.seekData(fd, offset);
      } catch (err) {
        throw withCode(err);
      }
    },
    seekHole: (fd, offset) => {
      try {
        return binding.seekHole(fd, offset);
      } catch (err) {
        throw withCode(err);
      }
    },
  };
}

let cached: HoleOps | null | undefined;

/** The native hole operations, or null if unavailable (cached after the first call). */
export function loadHoleOps(): HoleOps | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (process.env.CTL_BLOCK_NATIVE === '0' || process.platform !== 'linux') return cached;
  try {
    const binding = createRequire(import.meta.url)(ADDON_PATH) as NativeBinding;
    if (typeof binding.punchHole === 'function' && typeof binding.seekData === 'function') cached = wrap(binding);
  } catch {
    // Not built (no compiler, no headers) or not loadable: the fallback is used.
  }
  return cached;
}
