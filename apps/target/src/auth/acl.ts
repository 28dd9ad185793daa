/**
 * Initiator access lists of an auth group: `initiator-name` and
 * `initiator-portal` (FreeBSD ctld `auth_name_check`/`auth_portal_check`).
 *
 * What it does:
 * - `parseInitiatorPortal`: `ADDR[/PREFIX]` with IPv4, IPv6 or `[IPv6]`
 *   (ctld's forms); the prefix defaults to the full length;
 * - `nameAllowed`: an empty list allows every name; otherwise the name must
 *   be on it. iSCSI names compare case-insensitively (RFC 7143 §4.2.7.1:
 *   names are normalised with the iSCSI stringprep profile, which folds
 *   case), where ctld compares bytes;
 * - `portalAllowed`: an empty list allows every address; otherwise the
 *   initiator's address must fall in one of the prefixes (CIDR match with
 *   `node:net` `BlockList`). An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
 *   what a dual-stack `[::]` listener reports for IPv4 clients) is matched
 *   as the IPv4 address it carries.
 *
 * What it does not do: no authentication (`chap.ts`), no DNS names.
 */
import { BlockList, isIP } from 'node:net';
import type { AuthGroupConfig, InitiatorPortal } from '../config/model.js';
import { normalizeIscsiName } from '../iscsi-name.js';

/** Parses `ADDR[/PREFIX]`; returns an error message instead of throwing. */
export function parseInitiatorPortal(text: string): InitiatorPortal | string {
  const slash = text.indexOf('/');
  let addr = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? null : text.slice(slash + 1);
  if (addr.startsWith('[') && addr.endsWith(']')) addr = addr.slice(1, -1);
  const fam = isIP(addr);
  if (fam === 0) return `invalid initiator-portal "${text}": expected an IPv4 or IPv6 address with an optional /prefix`;
  const max = fam === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== null) {
    if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      return `invalid initiator-portal "${text}": prefix length must be 0 to ${max}`;
    }
    prefix = Number(prefixText);
  }
  return { text, address: addr, prefix, family: fam === 4 ? 'ipv4' : 'ipv6' };
}

/** "::ffff:192.0.2.1" → ["192.0.2.1", "ipv4"]. */
function classify(address: string): [string, 'ipv4' | 'ipv6'] | null {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return [lower.slice(7), 'ipv4'];
  const fam = isIP(address);
  if (fam === 0) return null;
  return [address, fam === 4 ? 'ipv4' : 'ipv6'];
}

/** A matcher for a list of portals, built once per auth group. */
export class PortalList {
  readonly #list = new BlockList();
  readonly size: number;

  constructor(portals: readonly InitiatorPortal[]) {
    for (const p of portals) this.#list.addSubnet(p.address, p.prefix, p.family);
    this.size = portals.length;
  }

  /** Whether `address` (as reported by the socket) is on the list. */
  has(address: string): boolean {
    const c = classify(address);
    return c !== null && this.#list.check(c[0], c[1]);
  }
}

const portalLists = new WeakMap<AuthGroupConfig, PortalList>();

/** ctld `auth_name_check`: true if the group allows `initiatorName`. */
export function nameAllowed(group: AuthGroupConfig, initiatorName: string): boolean {
  if (group.initiatorNames.length === 0) return true;
  const n = normalizeIscsiName(initiatorName);
  return group.initiatorNames.some((allowed) => normalizeIscsiName(allowed) === n);
}

/** ctld `auth_portal_check`: true if the group allows a connection from `address`. */
export function portalAllowed(group: AuthGroupConfig, address: string): boolean {
  if (group.initiatorPortals.length === 0) return true;
  let list = portalLists.get(group);
  if (list === undefined) {
    list = new PortalList(group.initiatorPortals);
    portalLists.set(group, list);
  }
  return list.has(address);
}
