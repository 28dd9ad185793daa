/**
 * The SendTargets answer (RFC 7143 §13.3 and Appendix C; FreeBSD ctld
 * `discovery.c`), shared by discovery sessions and by Text Requests in
 * normal sessions.
 *
 * What it does: `DiscoveryCatalog` indexes the configuration by portal
 * group; `sendTargets` builds the key list for one SendTargets value:
 * - in a discovery session, `All` lists every target exported through the
 *   portal group the session came in on (subject to `discovery-filter`),
 *   `<target name>` that target only if it is exported there, and an empty
 *   value nothing (a discovery session has no target of its own);
 * - in a normal session, an empty value or the session's own target name
 *   lists that target, another name lists nothing, and `All` is answered
 *   `Reject` (Appendix C: "MUST NOT be supported on an operational
 *   session").
 * Each target record is `TargetName` followed by one `TargetAddress=
 * <addr>:<port>,<tag>` per portal of each portal group the target is
 * exported through (IPv6 in brackets, RFC 7143 §13.9). A wildcard listen
 * address (0.0.0.0, ::) is replaced by the local address of the asking
 * connection — the address the initiator demonstrably reaches — where
 * ctld would leave the portal out; duplicates are dropped.
 *
 * Discovery answers are filtered by the portal group's `discovery-filter`
 * (`auth/discovery-filter.ts`) against the asking initiator; without
 * initiator information (embedders, old callers) only `portal-name-auth`
 * filters, hiding targets that refuse every login.
 *
 * What it does not do: no PDUs (the discovery session and the frontend
 * frame the answer).
 */
import type { TextKeyList } from '@iscsi-target/icl-core';
import { discoveryFilteredOut, type DiscoveryInitiator } from './auth/discovery-filter.js';
import { plainAuthGroup } from './config/auth-groups.js';
import type { AuthGroupConfig, AuthPolicy, DaemonConfig, DiscoveryFilter } from './config/model.js';
import { formatHostPort, type ListenAddress } from './config/listen-address.js';
import { normalizeIscsiName } from './iscsi-name.js';

export interface CatalogPortalGroup {
  readonly name: string;
  readonly tag: number;
  readonly listen: readonly ListenAddress[];
}

export interface CatalogTarget {
  readonly name: string;
  readonly alias: string | null;
  /** Every portal group the target is exported through, in configuration order. */
  readonly portalGroups: readonly CatalogPortalGroup[];
  /** Authentication of logins through each portal group (per-group override applied). */
  readonly authByPortalGroup: ReadonlyMap<string, AuthPolicy>;
  /** The auth group of logins through each portal group (per-group override applied). */
  readonly authGroupByPortalGroup: ReadonlyMap<string, AuthGroupConfig>;
  /** Target redirection (`redirect`), or null. */
  readonly redirect: string | null;
}

/** Targets by portal group, built once per configuration. */
export class DiscoveryCatalog {
  readonly #byPortalGroup = new Map<string, CatalogTarget[]>();
  readonly #filters = new Map<string, DiscoveryFilter>();

  constructor(config: DaemonConfig) {
    for (const pg of config.portalGroups.values()) {
      this.#byPortalGroup.set(pg.name, []);
      this.#filters.set(pg.name, pg.discoveryFilter);
    }
    for (const t of config.targets) {
      const authByPortalGroup = new Map<string, AuthPolicy>();
      const authGroupByPortalGroup = new Map<string, AuthGroupConfig>();
      const groups: CatalogPortalGroup[] = [];
      for (const ref of t.portalGroups) {
        const pg = config.portalGroups.get(ref.portalGroup)!;
        groups.push({ name: pg.name, tag: pg.tag, listen: pg.listen });
        authByPortalGroup.set(pg.name, ref.auth ?? t.auth);
        authGroupByPortalGroup.set(pg.name, ref.authGroup ?? t.authGroup);
      }
      const entry: CatalogTarget = { name: t.name, alias: t.alias, portalGroups: groups, authByPortalGroup, authGroupByPortalGroup, redirect: t.redirect };
      for (const g of groups) this.#byPortalGroup.get(g.name)!.push(entry);
    }
  }

  /** Targets exported through portal group `pg`, in configuration order. */
  targetsIn(pg: string): readonly CatalogTarget[] {
    return this.#byPortalGroup.get(pg) ?? [];
  }

  /** The target named `name` (case-insensitive) exported through `pg`, or null. */
  find(pg: string, name: string): CatalogTarget | null {
    const n = normalizeIscsiName(name);
    return this.targetsIn(pg).find((t) => normalizeIscsiName(t.name) === n) ?? null;
  }

  filterOf(pg: string): DiscoveryFilter {
    return this.#filters.get(pg) ?? 'none';
  }
}

/** The asking connection, for the answer's scope and wildcard addresses. */
export interface SendTargetsContext {
  readonly catalog: DiscoveryCatalog;
  /** The portal group the connection came in on. */
  readonly portalGroup: string;
  /** 'Discovery', or 'Normal' with the session's target name. */
  readonly session: { readonly type: 'Discovery' } | { readonly type: 'Normal'; readonly targetName: string };
  /** The connection's local address (replaces wildcard listen addresses). */
  readonly localAddress: string;
  /** Who asks (discovery sessions): for `discovery-filter`. */
  readonly initiator?: DiscoveryInitiator;
}

/** "::ffff:192.0.2.1" → "192.0.2.1". */
function unmapIpv4(addr: string): string {
  return addr.toLowerCase().startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}

/** `TargetAddress` values of one target (RFC 7143 §13.9: domainname[:port][,portal-group-tag]). */
export function targetAddresses(target: CatalogTarget, localAddress: string): string[] {
  const local = unmapIpv4(localAddress);
  const localIsV4 = !local.includes(':');
  const out: string[] = [];
  const seen = new Set<string>();
  for (const pg of target.portalGroups) {
    for (const l of pg.listen) {
      let host = l.host;
      if (l.wildcard) {
        if (local === '') continue;
        // 0.0.0.0 only accepts IPv4; :: (Node's default dual-stack listen) accepts both.
        if (l.family === 4 && !localIsV4) continue;
        host = local;
      }
      const value = `${formatHostPort(host, l.port)},${pg.tag}`;
      if (seen.has(value)) continue;
      seen.add(value);
      out.push(value);
    }
  }
  return out;
}

function record(out: TextKeyList, target: CatalogTarget, localAddress: string): void {
  out.push(['TargetName', target.name]);
  for (const a of targetAddresses(target, localAddress)) out.push(['TargetAddress', a]);
}

/** The answer to `SendTargets=<value>` (see module comment). */
export function sendTargets(value: string, ctx: SendTargetsContext): TextKeyList {
  const out: TextKeyList = [];
  const { catalog, portalGroup } = ctx;
  if (ctx.session.type === 'Normal') {
    // RFC 7143 Appendix C: All "MUST NOT be supported on an operational session".
    if (value === 'All') return [['SendTargets', 'Reject']];
    const own = ctx.session.targetName;
    if (value !== '' && normalizeIscsiName(value) !== normalizeIscsiName(own)) return out;
    const t = catalog.find(portalGroup, own);
    if (t !== null) record(out, t, ctx.localAddress);
    return out;
  }
  const filter = catalog.filterOf(portalGroup);
  const who = ctx.initiator;
  const visible = (t: CatalogTarget): boolean => {
    const group = t.authGroupByPortalGroup.get(portalGroup) ?? plainAuthGroup(t.authByPortalGroup.get(portalGroup) ?? 'deny');
    // ctld discovery_target_filtered_out(); without the initiator, only what needs no identity.
    if (who === undefined) return !(filter === 'portal-name-auth' && group.type === 'deny');
    return discoveryFilteredOut(filter, group, who) === null;
  };
  if (value === 'All') {
    for (const t of catalog.targetsIn(portalGroup)) if (visible(t)) record(out, t, ctx.localAddress);
    return out;
  }
  if (value === '') return out;
  const t = catalog.find(portalGroup, value);
  if (t !== null && visible(t)) record(out, t, ctx.localAddress);
  return out;
}
