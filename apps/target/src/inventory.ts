/**
 * The daemon's LUN inventory: which configured or admin-created LUN is which
 * CTL LUN, with its configuration and (metered) backend, and the LUNs the
 * admin CLI mapped to targets. Start, reload (`reload/apply.ts`), the admin
 * operations (`admin/operations.ts`) and shutdown change it; nothing else
 * keeps LUN maps.
 *
 * What it does not do: no opening or closing of backends, no CTL calls: the
 * callers do both and record the result here.
 */
import { backingIdentity, type BackingIdentity, type StoreHolder } from './backing-identity.js';
import type { TargetConfig, LunConfig } from './config/model.js';
import type { KnownStores } from './known-stores.js';
import type { BackendFault, MeteredLun } from './lun-stats.js';
import { ReloadError } from './reload/report.js';

/** A LUN the daemon serves. */
export interface LunEntryState {
  config: LunConfig;
  readonly be: MeteredLun;
  /** Its backing store as identified when it was opened (null: no file path). */
  readonly identity: BackingIdentity | null;
  /** What the last check of its backing file found (`store-watch.ts`). */
  store: StoreState;
}

/**
 * The backing file of a served LUN: `ok`; `unlinked` (deleted: I/O goes to
 * an inode nothing names, gone when the daemon stops); `moved` (its path
 * names nothing now, but the file still has a name); `replaced` (its path
 * names another file). Null for LUNs without a file.
 */
export type StoreState = 'ok' | 'unlinked' | 'moved' | 'replaced' | null;

export class LunInventory {
  /** LUN name → CTL LUN id. */
  readonly ctlLuns = new Map<string, number>();
  /** LUN name → its configuration and (metered) backend. */
  readonly lunState = new Map<string, LunEntryState>();
  /** The backing files served before (`<data-dir>/known-stores.json`), or null without a state directory. */
  stores: KnownStores | null = null;
  /** LUNs of the configuration that are not served, and why (their backing file, served before, is missing). */
  readonly unserved = new Map<string, string>();
  /** LUNs mapped to targets by the admin CLI (target name folded → LUN number → LUN name). */
  readonly adminMaps = new Map<string, Map<number, string>>();
  /** Where each recorded LUN's backend faults go (the daemon's `FaultLog`). */
  readonly #onFault: ((lun: string, fault: BackendFault) => void) | null;

  constructor(onFault: ((lun: string, fault: BackendFault) => void) | null = null) {
    this.#onFault = onFault;
  }

  /** Records a LUN added to CTL as `id`, and points its backend's faults at the fault sink. */
  add(name: string, id: number, config: LunConfig, be: MeteredLun): void {
    const sink = this.#onFault;
    if (sink !== null) be.onFault = (f) => sink(name, f);
    this.ctlLuns.set(name, id);
    this.unserved.delete(name);
    const identity = backingIdentity(config);
    this.lunState.set(name, { config, be, identity, store: identity === null ? null : 'ok' });
  }

  /** The stores the served LUNs hold, except those of the LUNs in `leaving`. */
  storeHolders(leaving: ReadonlySet<string> = new Set()): StoreHolder[] {
    const out: StoreHolder[] = [];
    for (const [name, st] of this.lunState) {
      if (leaving.has(name) || st.identity === null || st.config.path === null) continue;
      out.push({ name, path: st.config.path, identity: st.identity });
    }
    return out;
  }

  /** Forgets LUN `name`; returns its CTL id, if it had one. */
  remove(name: string): number | undefined {
    const id = this.ctlLuns.get(name);
    this.ctlLuns.delete(name);
    this.lunState.delete(name);
    return id;
  }

  /** Target LUN number → CTL LUN id: the configuration's LUNs, then the admin CLI's. */
  lunMapOf(t: TargetConfig): Map<number, number> {
    const m = new Map<number, number>();
    for (const [n, l] of t.luns) {
      const id = this.ctlLuns.get(l.name);
      if (id !== undefined) m.set(n, id);
    }
    for (const [n, name] of this.adminMaps.get(t.name.toLowerCase()) ?? []) {
      const id = this.ctlLuns.get(name);
      if (id !== undefined && !m.has(n)) m.set(n, id);
    }
    return m;
  }
}

/**
 * Resizes a backend that can (`resize(bytes, { allowShrink })`, ctl-block's
 * file and RAM disk backends). A smaller size is refused by the backend
 * (`ShrinkRefusedError`, with the bytes that would be lost) unless
 * `allowShrink`.
 */
export async function resizeBackend(be: MeteredLun, size: number, options: { allowShrink?: boolean } = {}): Promise<void> {
  const resize = (be as unknown as { resize?: (bytes: number, o: { allowShrink?: boolean }) => Promise<number> }).resize;
  if (typeof resize !== 'function') throw new ReloadError('this backend cannot be resized');
  await resize(size, { allowShrink: options.allowShrink === true });
}

/** The capacity of `be` in bytes. */
export function capacityOf(be: MeteredLun): number {
  return be.numBlocks * be.blockSize;
}

export function sameLunMap(a: ReadonlyMap<number, number> | null, b: ReadonlyMap<number, number>): boolean {
  if (a === null || a.size !== b.size) return false;
  for (const [k, v] of b) if (a.get(k) !== v) return false;
  return true;
}

