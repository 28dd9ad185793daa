/**
 * The difference between two configurations, for a live reload (FreeBSD
 * ctld `conf_apply()`, freebsd-arch §8.5: it compares the old and the new
 * `struct conf` and touches only what changed).
 *
 * What it does: `diffConfig(old, new)` compares portal groups, targets and
 * LUNs **by name**, structurally: two entities are equal when their config
 * objects are deep-equal once every `pos` (where it was written in the
 * file) is left out. Nothing field-specific is listed here except the two
 * things a reload applies differently — a LUN whose only change is `size`
 * (resized live) and a target's LUNs (compared by LUN number → LUN name,
 * so a resized LUN does not make its targets "changed") — so fields added
 * to the model later are covered without edits. Global settings are
 * compared key by key.
 *
 * What it does not do: no I/O and no decisions about what can be applied
 * live (`reload/apply.ts`); it does not validate anything (the new
 * configuration was parsed and checked before).
 */
import { isDeepStrictEqual } from 'node:util';
import type { DaemonConfig, LunConfig, PortalGroupConfig, TargetConfig } from '../config/model.js';

/** A structural copy of `v` without any `pos` key (Maps and arrays kept as such). */
export function withoutPos(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutPos);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, withoutPos(x)]));
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== 'pos') out[k] = withoutPos(x);
    return out;
  }
  return v;
}

/** Deep equality ignoring `pos`. */
export function sameConfig(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(withoutPos(a), withoutPos(b));
}

/** A target as compared: its LUNs by number → LUN name (their contents are diffed as LUNs). */
export function targetShape(t: TargetConfig): object {
  return withoutPos({ ...t, luns: new Map([...t.luns].map(([n, l]) => [n, l.name])) }) as object;
}

export interface Changed<T> {
  readonly old: T;
  readonly new: T;
}

export interface LunChange extends Changed<LunConfig> {
  /** `resize`: only `size` differs (both sizes known); `replace`: anything else (remove + add). */
  readonly kind: 'resize' | 'replace';
  /** Top-level keys whose values differ (for the log). */
  readonly fields: readonly string[];
}

export interface ConfigDiff {
  /** Global keys (`timeout`, `maxproc`, ...) whose values differ. */
  readonly globals: ReadonlyArray<{ key: string; old: unknown; new: unknown }>;
  readonly portalGroups: {
    readonly added: readonly PortalGroupConfig[];
    readonly removed: readonly PortalGroupConfig[];
    readonly changed: ReadonlyArray<Changed<PortalGroupConfig>>;
  };
  readonly targets: {
    readonly added: readonly TargetConfig[];
    readonly removed: readonly TargetConfig[];
    readonly changed: ReadonlyArray<Changed<TargetConfig>>;
  };
  /** LUNs used by at least one target (the daemon opens only those). */
  readonly luns: {
    readonly added: readonly LunConfig[];
    readonly removed: readonly LunConfig[];
    readonly changed: readonly LunChange[];
  };
}

/** Keys of the configuration that are not entities (and not bookkeeping). */
const NOT_GLOBAL: ReadonlySet<string> = new Set(['portalGroups', 'targets', 'luns', 'warnings', 'source']);

/** Top-level keys of two objects whose values differ (ignoring `pos`). */
export function differingKeys(a: object, b: object): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out: string[] = [];
  for (const k of keys) {
    if (k === 'pos') continue;
    if (!sameConfig((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) out.push(k);
  }
  return out;
}

/**
 * A LUN as compared: without `option allow_shrink`, a permission for the
 * resize itself rather than a setting of the disk (adding it next to a
 * smaller `size` is still a live resize, not a remove and add).
 */
export function lunShape(l: LunConfig): LunConfig {
  if (!l.options.has('allow_shrink')) return l;
  const options = new Map(l.options);
  options.delete('allow_shrink');
  return { ...l, options };
}

/** The LUNs the targets of `c` use, by name. */
export function usedLuns(c: DaemonConfig): Map<string, LunConfig> {
  const used = new Map<string, LunConfig>();
  for (const t of c.targets) for (const l of t.luns.values()) used.set(l.name, l);
  return used;
}

function diffByName<T>(
  a: ReadonlyMap<string, T>,
  b: ReadonlyMap<string, T>,
  same: (x: T, y: T) => boolean,
): { added: T[]; removed: T[]; changed: Array<Changed<T>> } {
  const added: T[] = [];
  const removed: T[] = [];
  const changed: Array<Changed<T>> = [];
  for (const [name, x] of a) {
    const y = b.get(name);
    if (y === undefined) removed.push(x);
    else if (!same(x, y)) changed.push({ old: x, new: y });
  }
  for (const [name, y] of b) if (!a.has(name)) added.push(y);
  return { added, removed, changed };
}

/** iSCSI names are case-insensitive (RFC 3722): targets are matched folded. */
function targetsByName(c: DaemonConfig): Map<string, TargetConfig> {
  return new Map(c.targets.map((t) => [t.name.toLowerCase(), t]));
}

export function diffConfig(a: DaemonConfig, b: DaemonConfig): ConfigDiff {
  const globals: Array<{ key: string; old: unknown; new: unknown }> = [];
  for (const key of differingKeys(a, b)) {
    if (NOT_GLOBAL.has(key)) continue;
    globals.push({ key, old: (a as unknown as Record<string, unknown>)[key], new: (b as unknown as Record<string, unknown>)[key] });
  }
  const portalGroups = diffByName(a.portalGroups, b.portalGroups, sameConfig);
  const targets = diffByName(targetsByName(a), targetsByName(b), (x, y) => isDeepStrictEqual(targetShape(x), targetShape(y)));
  const l = diffByName(usedLuns(a), usedLuns(b), (x, y) => sameConfig(lunShape(x), lunShape(y)));
  const changed: LunChange[] = l.changed.map((c) => {
    const fields = differingKeys(lunShape(c.old), lunShape(c.new));
    const resize = fields.length === 1 && fields[0] === 'size' && c.old.size !== null && c.new.size !== null;
    return { ...c, kind: resize ? 'resize' : 'replace', fields };
  });
  return { globals, portalGroups, targets, luns: { added: l.added, removed: l.removed, changed } };
}

/**
 * One line about a changed global key, without its values unless they are
 * plain scalars (a global added later may hold secrets, e.g. CHAP auth
 * groups): a Map is described by the names added, removed and changed.
 */
export function describeGlobalChange(key: string, a: unknown, b: unknown): string {
  const scalar = (v: unknown): boolean => v === null || v === undefined || ['string', 'number', 'boolean'].includes(typeof v);
  if (scalar(a) && scalar(b)) return `${key}: ${JSON.stringify(a) ?? 'unset'} → ${JSON.stringify(b) ?? 'unset'}`;
  if (a instanceof Map && b instanceof Map) {
    const d = diffByName(a as Map<string, unknown>, b as Map<string, unknown>, sameConfig);
    const names = (xs: unknown[], from: Map<unknown, unknown>): string => [...from].filter(([, v]) => xs.includes(v)).map(([k]) => String(k)).join(', ');
    const parts: string[] = [];
    if (d.added.length > 0) parts.push(`added ${names(d.added, b)}`);
    if (d.removed.length > 0) parts.push(`removed ${names(d.removed, a)}`);
    if (d.changed.length > 0) parts.push(`changed ${names(d.changed.map((c) => c.new), b)}`);
    return `${key}: ${parts.join('; ')}`;
  }
  return `${key}: changed`;
}

/** True when nothing differs. */
export function isEmptyDiff(d: ConfigDiff): boolean {
  return (
    d.globals.length === 0 &&
    d.portalGroups.added.length + d.portalGroups.removed.length + d.portalGroups.changed.length === 0 &&
    d.targets.added.length + d.targets.removed.length + d.targets.changed.length === 0 &&
    d.luns.added.length + d.luns.removed.length + d.luns.changed.length === 0
  );
}
