/**
 * The registry descriptors of this package's backends (ctl-core
 * `BackendDescriptor`): `block` (a file or block device, `FileBackend`) and
 * `ramdisk` (`RamdiskBackend`), the names ctld gives them in ctl.conf.
 *
 * What it does: maps `BackendOpenParams` (what the configuration says about
 * one LUN) to each backend's options, refuses a missing backing file unless
 * the LUN may be created, and checks without opening (`check`, for the
 * daemon's `--check`: a missing directory, a size the file system refuses
 * (probed on a temporary file), a lock held elsewhere). A RAM disk larger
 * than the memory available is refused by both. Option values arrive already validated by the daemon
 * (`pblocksize`, `rpm` and `capacity` as decimal numbers, switches as
 * `on`/`off`). `unmap off` makes a LUN fully provisioned as reported (no
 * UNMAP, LBPME 0); `capacity` (ramdisk) caps the memory it allocates.
 *
 * What it does not do: register anything at import time (the daemon, or an
 * embedder, calls `registerBackend(blockBackendDescriptor)`), or parse
 * ctl.conf.
 */
import { open as openFile, stat, unlink } from 'node:fs/promises';
import { freemem } from 'node:os';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import type { BackendDescriptor, BackendLun, BackendOpenParams } from '@iscsi-target/ctl-core';
import type { BufferPool } from './buffer-pool.js';
import { probeBackingLock } from './backing-lock.js';
import { BackendOpenError, ShrinkRefusedError } from './errors.js';
import { FileBackend, type FileBackendOptions } from './file-backend.js';
import { RamdiskBackend, type RamdiskBackendOptions } from './ramdisk-backend.js';

/** What the descriptor factories take beyond the configuration. */
export interface BackendDescriptorOptions {
  /** Buffer pool for reads and copy-mode writes (default: the process-wide pool). */
  pool?: BufferPool;
}

function onOff(p: BackendOpenParams, key: string): boolean | undefined {
  const v = p.options.get(key);
  return v === undefined ? undefined : v === 'on';
}

function num(p: BackendOpenParams, key: string): number | undefined {
  const v = p.options.get(key);
  return v === undefined ? undefined : Number(v);
}

/** Refuses a backing file that is missing when the LUN may not create it. */
async function requireExisting(p: BackendOpenParams, path: string): Promise<void> {
  if (p.create) return;
  try {
    await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BackendOpenError(`${path} does not exist (create it first, e.g. truncate -s SIZE ${path})`);
    }
    throw e;
  }
}

/** Refuses (as open would) an existing regular file larger than `size` unless the LUN allows shrinking. */
async function refuseShrink(p: BackendOpenParams, path: string): Promise<void> {
  if (p.size === null || p.allowShrink === true) return;
  const st = await stat(path).catch(() => null);
  if (st !== null && st.isFile() && st.size > p.size) throw new ShrinkRefusedError(resolvePath(path), st.size, p.size);
}

/**
 * What creating or growing `path` to `p.size` would meet, without touching
 * the file (`--check`): its directory must exist and be a directory, and the
 * file system must take a file of that size (EFBIG for `size 1P` on ext4).
 * Probed with a sparse temporary file in the same directory, removed at once.
 */
async function probeSize(p: BackendOpenParams, path: string): Promise<void> {
  if (p.size === null || p.readOnly) return;
  const st = await stat(path).catch(() => null);
  if (st !== null && (!st.isFile() || st.size >= p.size)) return;
  const dir = dirname(resolvePath(path));
  const d = await stat(dir).catch((e: NodeJS.ErrnoException) => e);
  if (d instanceof Error) throw new BackendOpenError(`cannot create ${path}: its directory ${dir} is missing or unreadable (${d.code ?? d.message})`);
  if (!d.isDirectory()) throw new BackendOpenError(`cannot create ${path}: ${dir} is not a directory`);
  const probe = join(dir, `.${basename(path)}.check-${process.pid}`);
  let fh;
  try {
    fh = await openFile(probe, 'wx', 0o600);
  } catch (e) {
    // An existing file may be growable in a directory this process cannot write: nothing to probe with, then.
    if (st !== null && (e as NodeJS.ErrnoException).code === 'EACCES') return;
    throw new BackendOpenError(`cannot create ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} in ${dir}`);
  }
  try {
    await fh.truncate(p.size);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BackendOpenError(`cannot ${st === null ? 'create' : 'grow'} ${path} to ${p.size} bytes: ${code === 'EFBIG' ? 'EFBIG (larger than the file system allows for one file)' : (code ?? (e as Error).message)}`);
  } finally {
    await fh.close().catch(() => undefined);
    await unlink(probe).catch(() => undefined);
  }
}

/**
 * Refuses a RAM disk that could not be filled: the memory it may take (its
 * size, or `capacity` when smaller) beyond what the machine has available
 * now (`os.freemem()`, MemAvailable on Linux).
 */
function oversizedRamdisk(p: BackendOpenParams): BackendOpenError | null {
  if (p.size === null) return null;
  const limit = Math.min(p.size, num(p, 'capacity') ?? p.size);
  const free = freemem();
  if (limit > free) {
    return new BackendOpenError(
      `a RAM disk of ${p.size} bytes${limit < p.size ? ` (capacity ${limit})` : ''} needs more memory than is available (${free} bytes free); lower "size" or set "option capacity" below that`,
    );
  }
  return null;
}

/** A `block` descriptor whose LUNs use `options.pool`. */
export function createBlockBackendDescriptor(options: BackendDescriptorOptions = {}): BackendDescriptor {
  return {
    name: 'block',
    description: 'a file or block device (thin files created sparse; UNMAP punches holes)',
    options: ['writecache', 'pblocksize', 'rpm', 'unmap', 'io_engine'],
    needsPath: true,
    needsSize: false,
    available: () => null,
    async check(p) {
      if (p.path === null) throw new BackendOpenError('backend block needs a "path"');
      await requireExisting(p, p.path);
      await refuseShrink(p, p.path);
      await probeSize(p, p.path);
      // What open would meet: another process holding the file (a writable LUN needs it to itself).
      const locked = probeBackingLock(resolvePath(p.path), p.readOnly ? 'shared' : 'exclusive');
      if (locked !== null) throw locked;
    },
    async open(p): Promise<BackendLun> {
      if (p.path === null) throw new BackendOpenError('backend block needs a "path"');
      await requireExisting(p, p.path);
      const f: FileBackendOptions = { ...p.identity, path: p.path, blockSize: p.blockSize, readOnly: p.readOnly, copyMode: p.copyMode };
      if (p.size !== null) f.size = p.size;
      if (p.allowShrink === true) f.allowShrink = true;
      const pblock = num(p, 'pblocksize');
      if (pblock !== undefined) f.physicalBlockSize = pblock;
      const rpm = num(p, 'rpm');
      if (rpm !== undefined) f.rotationRate = rpm;
      const wc = onOff(p, 'writecache');
      if (wc !== undefined) f.writeCache = wc;
      // unmap off: not thin provisioned (no UNMAP, no WRITE SAME UNMAP, LBPME/LBPU/LBPWS 0), as FreeBSD ties LBPME to UNMAP.
      if (onOff(p, 'unmap') === false) f.thin = false;
      const io = p.options.get('io_engine');
      if (io !== undefined) {
        if (io !== 'uring' && io !== 'threadpool') throw new BackendOpenError(`option io_engine: expected "uring" or "threadpool", got "${io}"`);
        f.ioEngine = io;
      }
      if (options.pool !== undefined) f.pool = options.pool;
      return FileBackend.open(f);
    },
  };
}

/** A `ramdisk` descriptor whose LUNs use `options.pool`. */
export function createRamdiskBackendDescriptor(options: BackendDescriptorOptions = {}): BackendDescriptor {
  return {
    name: 'ramdisk',
    description: 'memory, allocated on first write (contents lost when the daemon stops)',
    options: ['writecache', 'pblocksize', 'unmap', 'capacity'],
    needsPath: false,
    needsSize: true,
    available: () => null,
    check(p) {
      if (p.size === null) return Promise.reject(new BackendOpenError('backend ramdisk needs a "size"'));
      const tooBig = oversizedRamdisk(p);
      if (tooBig !== null) return Promise.reject(tooBig);
      return Promise.resolve();
    },
    open(p): Promise<BackendLun> {
      if (p.size === null) return Promise.reject(new BackendOpenError('backend ramdisk needs a "size"'));
      const tooBig = oversizedRamdisk(p);
      if (tooBig !== null) return Promise.reject(tooBig);
      const r: RamdiskBackendOptions = { ...p.identity, size: p.size, name: p.lunName, blockSize: p.blockSize, readOnly: p.readOnly, copyMode: p.copyMode };
      const pblock = num(p, 'pblocksize');
      if (pblock !== undefined) r.physicalBlockSize = pblock;
      const wc = onOff(p, 'writecache');
      if (wc !== undefined) r.writeCache = wc;
      if (onOff(p, 'unmap') === false) r.thin = false;
      const capacity = num(p, 'capacity');
      if (capacity !== undefined) r.memoryLimit = capacity;
      if (options.pool !== undefined) r.pool = options.pool;
      try {
        return Promise.resolve(new RamdiskBackend(r));
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    },
  };
}

/** `block` over the process-wide buffer pool. */
export const blockBackendDescriptor: BackendDescriptor = createBlockBackendDescriptor();
/** `ramdisk` over the process-wide buffer pool. */
export const ramdiskBackendDescriptor: BackendDescriptor = createRamdiskBackendDescriptor();
