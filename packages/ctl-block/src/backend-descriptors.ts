/**
 * The registry descriptors of this package's backends (ctl-core
 * `BackendDescriptor`): `block` (a file or block device, `FileBackend`) and
 * `ramdisk` (`RamdiskBackend`), the names ctld gives them in ctl.conf.
 *
 * What it does: maps `BackendOpenParams` (what the configuration says about
 * one LUN) to each backend's options, refuses a missing backing file unless
 * the LUN may be created, and checks without opening (`check`, for the
 * daemon's `--check`). Option values arrive already validated by the daemon
 * (`pblocksize`, `rpm` and `capacity` as decimal numbers, switches as
 * `on`/`off`). `unmap off` makes a LUN fully provisioned as reported (no
 * UNMAP, LBPME 0); `capacity` (ramdisk) caps the memory it allocates.
 *
 * What it does not do: register anything at import time (the daemon, or an
 * embedder, calls `registerBackend(blockBackendDescriptor)`), or parse
 * ctl.conf.
 */
import { stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
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
    open(p): Promise<BackendLun> {
      if (p.size === null) return Promise.reject(new BackendOpenError('backend ramdisk needs a "size"'));
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
