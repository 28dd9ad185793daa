/**
 * Watching the backing files of served LUNs: a file deleted while it is
 * served keeps taking I/O (the inode lives until the daemon closes it) and
 * would be gone at the next start, so the daemon looks for it at every
 * reload and periodically, and reports it at error level.
 *
 * What it does: `checkServedStores(host)` fstat's each file-backed LUN's
 * descriptor (link count 0 = `unlinked`) and stats its path (another inode =
 * `replaced`, nothing = `moved`), stores the finding in the inventory
 * (`lun list` shows it) and logs each change of state once (error when a
 * file is lost, info when it is back).
 *
 * `storeProblems(host)` lists what is wrong now, one line per LUN (reload
 * reports it, so a SIGHUP never says "no changes" and nothing else while a
 * LUN's file is gone).
 *
 * What it does not do: no repair (the LUN keeps being served: its data is
 * still readable, and an operator can copy it out, e.g. from
 * /proc/<pid>/fd), no polling of its own (the daemon's timer and reload call
 * it).
 */
import { stat } from 'node:fs/promises';
import type { DaemonHost } from './daemon-host.js';
import type { StoreState } from './inventory.js';

type StoreStat = () => Promise<{ nlink: number; dev: number; ino: number }>;

/** Checks every served file-backed LUN; resolves when done (never rejects). */
export async function checkServedStores(h: Pick<DaemonHost, 'inventory' | 'log'>): Promise<void> {
  for (const [name, st] of [...h.inventory.lunState]) {
    if (st.identity === null || st.config.path === null) continue;
    const inner = st.be.inner as { storeStat?: StoreStat };
    if (typeof inner.storeStat !== 'function') continue;
    let found: StoreState;
    try {
      const open = await inner.storeStat.call(st.be.inner);
      if (open.nlink === 0) {
        found = 'unlinked';
      } else {
        const now = await stat(st.config.path).catch(() => null);
        found = now === null ? 'moved' : now.dev !== open.dev || now.ino !== open.ino ? 'replaced' : 'ok';
      }
    } catch {
      continue; // shut down meanwhile
    }
    if (h.inventory.lunState.get(name) !== st || found === st.store) continue;
    const before = st.store;
    st.store = found;
    const path = st.config.path;
    const fields = { lun: name, path, store: found, was: before };
    switch (found) {
      case 'unlinked':
        h.log.error(fields, `lun "${name}": its backing file ${path} was deleted while served; I/O goes to the unlinked file, whose data is lost when the daemon stops (copy it out now, e.g. from /proc/${process.pid}/fd)`);
        break;
      case 'moved':
        h.log.error(fields, `lun "${name}": ${path} no longer exists, but the file the LUN serves still has another name (moved); the next start will not find it there`);
        break;
      case 'replaced':
        h.log.error(fields, `lun "${name}": ${path} now names another file than the one served; the next start would serve that one`);
        break;
      case 'ok':
        h.log.info(fields, `lun "${name}": its backing file ${path} is in place again`);
    }
  }
}

/** One line per LUN whose backing file is not as served (`unlinked`, `moved`, `replaced`) or that is not served (its file is missing). */
export function storeProblems(h: Pick<DaemonHost, 'inventory'>): string[] {
  const out: string[] = [];
  for (const [name, st] of h.inventory.lunState) {
    if (st.store === null || st.store === 'ok') continue;
    const what = st.store === 'unlinked' ? 'was deleted while served' : st.store === 'moved' ? 'was moved away while served' : 'was replaced by another file while served';
    out.push(`lun "${name}": its backing file ${st.config.path ?? ''} ${what} (state ${st.store})`);
  }
  for (const [name, why] of h.inventory.unserved) out.push(`lun "${name}": not served: ${why}`);
  return out;
}
