/**
 * Which backing store a LUN names: device and inode of its `path` after
 * resolving symbolic links, so `/x/./d0.img`, `/x/../x/d0.img`, a symlink and
 * a hard link to the same file are one store. One store may back one LUN
 * only (across the configuration, reload and the admin CLI): two LUNs on
 * one file would be two disks with different serials sharing data.
 *
 * What it does: `backingIdentity(lun)` (null for LUNs without a file path,
 * e.g. RAM disks); a path that does not exist yet is identified by the real
 * path of its directory plus its name (it will be created there);
 * `duplicateBacking` finds the first LUN whose store is already used.
 *
 * What it does not do: no locking against other processes (ctl-block's
 * `backing-lock.ts`), no opening.
 */
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { formatPos } from './config/errors.js';
import type { LunConfig } from './config/model.js';

export interface BackingIdentity {
  /** `dev:ino`, or `path:<real path>` for a file that does not exist yet. */
  readonly key: string;
  /** The path with every link resolved. */
  readonly realPath: string;
  /** "device 254:0, inode 1234" (for messages), or null for a missing file. */
  readonly described: string | null;
}

/** The store `lun` names, or null when it has no file path. Synchronous (start, reload, admin: once per LUN). */
export function backingIdentity(lun: LunConfig): BackingIdentity | null {
  if (!lun.pathIsFile || lun.path === null) return null;
  try {
    const realPath = realpathSync(lun.path);
    const st = statSync(realPath);
    const major = Math.floor(st.dev / 256) & 0xfff;
    const minor = (st.dev & 0xff) | ((st.dev >>> 12) & 0xfff00);
    return { key: `${st.dev}:${st.ino}`, realPath, described: `device ${major}:${minor}, inode ${st.ino}` };
  } catch {
    let dir: string;
    try {
      dir = realpathSync(dirname(lun.path));
    } catch {
      dir = resolve(dirname(lun.path));
    }
    const realPath = join(dir, basename(lun.path));
    return { key: `path:${realPath}`, realPath, described: null };
  }
}

/** A LUN already holding a store: its name and identity. */
export interface StoreHolder {
  readonly name: string;
  readonly path: string;
  readonly identity: BackingIdentity;
}

/**
 * The first LUN of `luns` whose store is held by `holders` or by an earlier
 * LUN of `luns`, as a message; null if every store is used once.
 */
export function duplicateBacking(luns: Iterable<LunConfig>, holders: Iterable<StoreHolder> = []): string | null {
  const seen = new Map<string, StoreHolder>();
  for (const h of holders) seen.set(h.identity.key, h);
  for (const lun of luns) {
    const id = backingIdentity(lun);
    if (id === null) continue;
    const other = seen.get(id.key);
    if (other !== undefined && other.name !== lun.name) {
      const at = lun.pos.line > 0 ? `${formatPos(lun.pos)}: ` : '';
      const same = id.described !== null ? ` (${id.described})` : ` (${id.realPath})`;
      return `${at}lun "${lun.name}": path "${lun.path}" is the same file as "${other.path}" of lun "${other.name}"${same}; one backing store can back one LUN only`;
    }
    seen.set(id.key, { name: lun.name, path: lun.path!, identity: id });
  }
  return null;
}
