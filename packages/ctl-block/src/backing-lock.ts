/**
 * Advisory locks on backing stores, so that two processes never serve the
 * same file or device: an exclusive `flock` for a writable LUN, a shared one
 * for a read-only LUN (read-only sharing is allowed only when every holder
 * is read-only). The lock is taken through the optional native helper
 * (`native/`, `flock(fd, LOCK_EX|LOCK_SH | LOCK_NB)`), never blocks, and is
 * held on a descriptor of its own for as long as any LUN of this process
 * uses the store.
 *
 * Within one process the locks are shared through a table keyed by device
 * and inode: a reload that replaces a LUN opens the new one before the old
 * one is closed, and must not lock itself out. Whether two LUNs of one
 * process name the same store is the caller's check (the daemon compares
 * device and inode); this module only guards against other processes.
 *
 * Without the native helper (not built, not Linux, CTL_BLOCK_NATIVE=0) no
 * lock is taken: `acquireBackingLock` returns a lock whose `held` is false,
 * and the caller says so (the daemon logs a warning at start).
 *
 * Does NOT lock byte ranges, wait for a lock, or interpret SCSI; no buffers
 * cross this API.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BackendOpenError } from './errors.js';

export type BackingLockMode = 'shared' | 'exclusive';

/** A lock on one backing store, held until `release()`. */
export interface BackingLock {
  /** A lock is really held (false: the native helper is unavailable, nothing is locked). */
  readonly held: boolean;
  readonly mode: BackingLockMode;
  /** Drops this holder's share of the lock (idempotent). */
  release(): void;
}

/** The store is locked by another process (`CTL_BLOCK_ERR_LOCKED`). */
export class BackingLockedError extends BackendOpenError {
  override readonly code = 'CTL_BLOCK_ERR_LOCKED';
  constructor(message: string) {
    super(message);
    this.name = 'BackingLockedError';
  }
}

interface FlockBinding {
  flock(fd: number, mode: 0 | 1 | 2): boolean;
}

const ADDON_PATH = '../native/build/Release/ctl_block_native.node';
let binding: FlockBinding | null | undefined;

function loadFlock(): FlockBinding | null {
  if (binding !== undefined) return binding;
  binding = null;
  if (process.env.CTL_BLOCK_NATIVE === '0' || process.platform !== 'linux') return binding;
  try {
    const b = createRequire(import.meta.url)(ADDON_PATH) as Partial<FlockBinding>;
    if (typeof b.flock === 'function') binding = b as FlockBinding;
  } catch {
    // Not built or not loadable: no locks (see the module comment).
  }
  return binding;
}

/** Null when backing stores can be locked in this process; otherwise why not. */
export function backingLockUnavailable(): string | null {
  return loadFlock() === null ? 'the native helper of @iscsi-target/ctl-block is not built, so backing files are not locked against other processes' : null;
}

interface Entry {
  fd: number;
  shared: number;
  exclusive: number;
}

/** dev:ino → the process's lock on that store. */
const table = new Map<string, Entry>();

/** The pids /proc/locks names as holding a FLOCK on dev:ino (Linux; best effort, for the message). */
function holders(dev: number, ino: number): number[] {
  let text: string;
  try {
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return [];
  }
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
  const want = new Set([`${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`]);
  const pids = new Set<number>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (a "->" marks a waiter and shifts the fields)
    const i = f[1] === '->' ? 2 : 1;
    if (f[i] !== 'FLOCK') continue;
    const pid = Number(f[i + 3]);
    if (want.has(f[i + 4] ?? '') && pid !== process.pid && Number.isInteger(pid)) pids.add(pid);
  }
  return [...pids];
}

function lockedError(path: string, mode: BackingLockMode, dev: number, ino: number): BackingLockedError {
  const pids = holders(dev, ino);
  const who = pids.length > 0 ? `process ${pids.join(', ')}` : 'another process';
  return new BackingLockedError(
    mode === 'exclusive'
      ? `${path} is in use by ${who} (it holds a lock on it); a writable LUN needs the file to itself: stop the other user, or make both LUNs read-only`
      : `${path} is in use read-write by ${who}; it can be shared only when every user is read-only`,
  );
}

const noLock = (mode: BackingLockMode): BackingLock => ({ held: false, mode, release: () => undefined });

/**
 * Locks the store at `path` (device `dev`, inode `ino`, as the caller's own
 * descriptor found it) in `mode` for this process. Throws
 * `BackingLockedError` if another process holds a conflicting lock. Without
 * the native helper, returns a lock with `held: false`.
 */
export function acquireBackingLock(path: string, dev: number, ino: number, mode: BackingLockMode): BackingLock {
  const flock = loadFlock();
  if (flock === null) return noLock(mode);
  const key = `${dev}:${ino}`;
  let e = table.get(key);
  if (e === undefined) {
    const fd = openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      if (st.dev !== dev || st.ino !== ino) throw new BackendOpenError(`${path} was replaced while it was being opened`);
      if (!flock.flock(fd, mode === 'exclusive' ? 2 : 1)) throw lockedError(path, mode, dev, ino);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    e = { fd, shared: 0, exclusive: 0 };
    table.set(key, e);
  } else if (mode === 'exclusive' && e.exclusive === 0) {
    // Upgrade the process's shared lock. flock(2) converts by dropping the old lock first,
    // so a refused upgrade has to take the shared lock back.
    if (!flock.flock(e.fd, 2)) {
      flock.flock(e.fd, 1);
      throw lockedError(path, mode, dev, ino);
    }
  }
  if (mode === 'exclusive') e.exclusive++;
  else e.shared++;
  const entry = e;
  let released = false;
  return {
    held: true,
    mode,
    release: () => {
      if (released) return;
      released = true;
      if (mode === 'exclusive') entry.exclusive--;
      else entry.shared--;
      if (entry.exclusive + entry.shared === 0) {
        table.delete(key);
        closeSync(entry.fd);
      } else if (mode === 'exclusive' && entry.exclusive === 0) {
        flock.flock(entry.fd, 1); // back to shared: other read-only users may join
      }
    },
  };
}

/**
 * Whether another process holds a lock that `mode` would conflict with,
 * without keeping anything (`--check`). Returns the refusal, or null. Null
 * as well when locks are unavailable or the store is locked by this process.
 */
export function probeBackingLock(path: string, mode: BackingLockMode): BackingLockedError | null {
  const flock = loadFlock();
  if (flock === null) return null;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null; // a missing file is the caller's business
  }
  try {
    const st = fstatSync(fd);
    if (table.has(`${st.dev}:${st.ino}`)) return null;
    if (!flock.flock(fd, mode === 'exclusive' ? 2 : 1)) return lockedError(path, mode, st.dev, st.ino);
    return null;
  } finally {
    closeSync(fd); // drops the probe's lock
  }
}
