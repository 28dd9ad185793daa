/**
 * Opening the storage of a configured LUN: `LunConfig` → a ctl-block
 * backend (`FileBackend` for `backend block`, `RamdiskBackend` for
 * `backend ramdisk`).
 *
 * What it does: maps the ctl.conf statements and the known `option`s
 * (vendor, product, revision, naa, readonly, writecache, pblocksize, rpm)
 * to backend options; refuses a missing backing file unless the LUN is
 * marked `create` (the embedded default, and LUNs with a `size`, which
 * ctl-block creates sparse as ctld does); reports failures
 * as `LunOpenError` with the LUN's position in the configuration.
 *
 * `prStoreFor` picks where a LUN's persistent reservations are kept when an
 * initiator asks for APTPL: `<backing file>.pr.json`, next to a regular
 * backing file; a RAM disk or a device node gets no store (PTPL_C = 0).
 * `ctlLunOptions` picks the CTL LUN options (`option removable`), which are
 * not the backend's.
 *
 * What it does not do: no registration with CTL, resize or reload
 * (`daemon.ts`).
 */
import { stat } from 'node:fs/promises';
import { statSync } from 'node:fs';
import type { BackendLun, PrStore } from '@iscsi-target/ctl-core';
import {
  BackendOpenError,
  FilePrStore,
  FileBackend,
  RamdiskBackend,
  type BufferPool,
  type FileBackendOptions,
  type LunIdentityOptions,
  type RamdiskBackendOptions,
} from '@iscsi-target/ctl-block';
import { formatPos } from './config/errors.js';
import type { LunConfig } from './config/model.js';
import { parseCount, parseSize } from './config/size.js';

export class LunOpenError extends Error {
  override readonly name = 'LunOpenError';
  readonly code = 'TARGET_ERR_LUN_OPEN';
}

export interface OpenLunOptions {
  /** Make the frontend copy payload (`--copy`). */
  copyMode: boolean;
  /** Buffer pool for reads (default: ctl-block's process-wide pool). */
  pool?: BufferPool;
}

function identity(lun: LunConfig): LunIdentityOptions {
  const id: LunIdentityOptions = {};
  if (lun.serial !== null) id.serialNumber = lun.serial;
  if (lun.deviceId !== null) id.deviceId = lun.deviceId;
  const o = lun.options;
  const vendor = o.get('vendor');
  if (vendor !== undefined) id.vendor = vendor;
  const product = o.get('product');
  if (product !== undefined) id.product = product;
  const revision = o.get('revision');
  if (revision !== undefined) id.revision = revision;
  const naa = o.get('naa');
  if (naa !== undefined) id.naa = naa;
  return id;
}

function where(lun: LunConfig): string {
  return lun.pos.line > 0 ? `${formatPos(lun.pos)}: ` : '';
}

/** Opens the backend of `lun`. Throws `LunOpenError`. */
export async function openLun(lun: LunConfig, options: OpenLunOptions): Promise<BackendLun> {
  const o = lun.options;
  const readOnly = o.get('readonly') === 'on';
  const pblock = o.get('pblocksize');
  const rpm = o.get('rpm');
  const writecache = o.get('writecache');
  try {
    if (lun.backend === 'ramdisk') {
      const r: RamdiskBackendOptions = { ...identity(lun), size: lun.size!, name: lun.name, blockSize: lun.blockSize, readOnly, copyMode: options.copyMode };
      if (pblock !== undefined) r.physicalBlockSize = parseSize(pblock)!;
      if (writecache !== undefined) r.writeCache = writecache === 'on';
      if (options.pool !== undefined) r.pool = options.pool;
      return new RamdiskBackend(r);
    }
    const path = lun.path!;
    if (!lun.create) {
      try {
        await stat(path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          throw new LunOpenError(`${where(lun)}lun "${lun.name}": ${path} does not exist (create it first, e.g. truncate -s SIZE ${path})`);
        }
        throw e;
      }
    }
    const f: FileBackendOptions = { ...identity(lun), path, blockSize: lun.blockSize, readOnly, copyMode: options.copyMode };
    if (lun.size !== null) f.size = lun.size;
    if (pblock !== undefined) f.physicalBlockSize = parseSize(pblock)!;
    if (rpm !== undefined) f.rotationRate = parseCount(rpm)!;
    if (writecache !== undefined) f.writeCache = writecache === 'on';
    if (options.pool !== undefined) f.pool = options.pool;
    return await FileBackend.open(f);
  } catch (e) {
    if (e instanceof LunOpenError) throw e;
    // A backend's open error already says "cannot open PATH ...": do not say it twice.
    const detail =
      e instanceof BackendOpenError
        ? e.message
        : `${lun.backend === 'block' ? `cannot open ${lun.path}` : 'cannot create the RAM disk'}: ${(e as Error).message}`;
    throw new LunOpenError(`${where(lun)}lun "${lun.name}": ${detail}`, { cause: e });
  }
}

/**
 * The CTL-level options of `lun` (`Ctl.addLun`), as opposed to the backend's:
 * `option removable on` (FreeBSD CTL_LUN_REMOVABLE) gives a removable medium.
 */
export function ctlLunOptions(lun: LunConfig): { removable?: true } {
  return lun.options.get('removable') === 'on' ? { removable: true } : {};
}

/** Suffix of the persistent reservation file next to a LUN's backing file. */
export const PR_FILE_SUFFIX = '.pr.json';

/**
 * The durable persistent reservation store of `lun`: a `FilePrStore` next to
 * a regular backing file, or undefined (RAM disk, block device: nowhere
 * sensible to write, so APTPL is refused with PTPL_C = 0).
 */
export function prStoreFor(lun: LunConfig): PrStore | undefined {
  if (lun.backend !== 'block' || lun.path === null) return undefined;
  // Synchronous: called while a LUN is registered with CTL (start, reload, admin), once per LUN.
  const st = statSync(lun.path);
  return st.isFile() ? new FilePrStore(`${lun.path}${PR_FILE_SUFFIX}`) : undefined;
}
