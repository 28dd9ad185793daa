/**
 * `discovery-filter`: which targets a discovery session may see (FreeBSD
 * ctld `discovery_target_filtered_out()`), so a client only learns about
 * the targets it could log in to.
 *
 * What it does: for the filter of the portal group the session came in on,
 * checks the target's auth group (for that portal group) against who is
 * asking, cumulatively:
 * - `none`: every target is listed;
 * - `portal`: the initiator's address must be on the target's
 *   initiator-portal list (if it has one);
 * - `portal-name`: and its name on the initiator-name list;
 * - `portal-name-auth`: and it must be able to authenticate: a target with
 *   `auth-type none` is listed; one that denies every login is not; for a
 *   CHAP target, the discovery session must have been authenticated by CHAP
 *   with a user of the target's group whose secret also produces the
 *   response the initiator sent at discovery login (ctld re-runs
 *   `chap_authenticate` with the target's secret), and if that user has a
 *   mutual secret, the discovery login must have been mutual too.
 *
 * What it does not do: no login checks (`login/login.ts`), no answer
 * formatting (`send-targets.ts`).
 */
import type { AuthGroupConfig, DiscoveryFilter } from '../config/model.js';
import { nameAllowed, portalAllowed } from './acl.js';
import type { ChapExchange } from './chap.js';

/** Who asks: from the discovery session's login. */
export interface DiscoveryInitiator {
  readonly name: string;
  /** The initiator's IP address. */
  readonly address: string;
  /** The discovery login's completed CHAP exchange, or null if it used none. */
  readonly chap: ChapExchange | null;
}

/** Why a target is hidden, or null if it is listed. */
export function discoveryFilteredOut(filter: DiscoveryFilter, group: AuthGroupConfig, who: DiscoveryInitiator): string | null {
  if (filter === 'none') return null;
  if (!portalAllowed(group, who.address)) return 'initiator address is not on the initiator-portal list';
  if (filter === 'portal') return null;
  if (!nameAllowed(group, who.name)) return 'initiator name is not on the initiator-name list';
  if (filter === 'portal-name') return null;
  switch (group.type) {
    case 'none':
      return null;
    case 'deny':
      return 'the target denies every login';
    case 'chap':
    case 'chap-mutual': {
      const chap = who.chap;
      if (chap === null || chap.user === null) return 'the target requires CHAP, but the discovery session did not authenticate';
      const cred = group.chap.find((c) => c.user === chap.user);
      if (cred === undefined) return `CHAP user "${chap.user}" is not a user of the target`;
      if (!chap.verifyWith(cred.secret)) return `CHAP user "${chap.user}" has another secret for the target`;
      if (cred.mutualSecret !== null && !chap.mutual) return 'the target requires mutual CHAP, but the discovery session was not mutual';
      return null;
    }
  }
}
