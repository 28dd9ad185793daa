/**
 * Opening a LUN the daemon is about to serve (start, reload, `lun create`):
 * `openLun` plus what keeps a disk's identity tied to its data.
 *
 * What it does: refuses to re-create a backing file that this daemon served
 * before and that is now missing (`MissingBackingError`: an initiator would
 * see the same serial with its data gone), using the data directory's
 * `known-stores.json` (`known-stores.ts`); logs at warn when it creates a new
 * empty backing file, or shrank one (`option allow_shrink on`); records every
 * file it serves. Without a state directory (an embedder that gives none),
 * nothing is remembered and a missing file with a `size` is created as
 * before.
 *
 * What it does not do: no CTL registration, no duplicate check
 * (`backing-identity.ts`), no locking (ctl-block).
 */
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { BackendRegistry } from '@iscsi-target/ctl-core';
import { formatPos } from './config/errors.js';
import type { LunConfig } from './config/model.js';
import type { KnownStores } from './known-stores.js';
import { LunOpenError, openLun, warnShrunk } from './lun-factory.js';
import type { Logger } from './logger.js';
import { meterBackend, type MeteredLun } from './lun-stats.js';

/** The backing file was served before and is gone (`TARGET_ERR_LUN_MISSING`). */
export class MissingBackingError extends LunOpenError {
  override readonly name = 'LunOpenError';
  readonly missing = true;
}

export interface ServedLunContext {
  readonly backends: BackendRegistry;
  readonly copyMode: boolean;
  readonly log: Logger;
  /** The record of served files, or null (no state directory). */
  readonly stores: KnownStores | null;
}

/**
 * The keys a file-backed LUN is remembered under: the path through the real
 * path of its directory (what is left when the file itself is gone), and the
 * file's real path when it exists (differs for a symbolic link).
 */
function storeKeys(lun: LunConfig): string[] {
  if (!lun.pathIsFile || lun.path === null) return [];
  let dir: string;
  try {
    dir = realpathSync(dirname(lun.path));
  } catch {
    dir = resolve(dirname(lun.path));
  }
  const keys = [join(dir, basename(lun.path))];
  try {
    keys.push(realpathSync(lun.path));
  } catch {
    // missing (or a dangling link): the first key only
  }
  return [...new Set(keys)];
}

/** The refusal for `lun` when its backing file was served before and is missing now, or null (start, reload, `lun create`, `--check`). */
export function missingKnownStore(lun: LunConfig, stores: KnownStores | null): MissingBackingError | null {
  const at = lun.pos.line > 0 ? `${formatPos(lun.pos)}: ` : '';
  if (stores !== null && lun.pathIsFile && lun.path !== null && !existsSync(lun.path)) {
    const ctx = { stores };
    for (const key of storeKeys(lun)) {
      const known = ctx.stores.get(key);
      if (known === undefined) continue;
      return new MissingBackingError(
        `${at}lun "${lun.name}": ${lun.path} is missing, but it was served before (serial ${known.serial}, ${known.size} bytes, last opened ${known.lastServed}); ` +
          `refusing to create an empty disk under the same identity. Restore the file; or, to start over with an empty disk, create it yourself (truncate -s ${known.size} ${lun.path}) or delete its entry from ${ctx.stores.path} while the daemon is stopped`,
      );
    }
  }
  return null;
}

/** Opens `lun` for serving; throws `LunOpenError` (`MissingBackingError` for a served file that is gone). */
export async function openServedLun(lun: LunConfig, ctx: ServedLunContext): Promise<MeteredLun> {
  const at = lun.pos.line > 0 ? `${formatPos(lun.pos)}: ` : '';
  const missing = missingKnownStore(lun, ctx.stores);
  if (missing !== null) throw missing;
  const be = meterBackend(await openLun(lun, { copyMode: ctx.copyMode, backends: ctx.backends }));
  warnShrunk(ctx.log, lun, be);
  const size = be.numBlocks * be.blockSize;
  if ((be.inner as { created?: boolean }).created === true) {
    ctx.log.warn({ lun: lun.name, path: lun.path ?? undefined, size, created: true }, `${at}lun "${lun.name}": created ${lun.path ?? 'its backing store'} (${size} bytes, sparse): a new, empty disk`);
  }
  if (ctx.stores !== null) {
    try {
      for (const key of storeKeys(lun)) ctx.stores.record(key, lun.name, be.serialNumber, size);
    } catch (e) {
      ctx.log.warn({ lun: lun.name, err: e }, `cannot record lun "${lun.name}" in ${ctx.stores.path}: ${(e as Error).message} (a later loss of the file would not be recognised)`);
    }
  }
  return be;
}
