import { describe, expect, it } from 'vitest';
import { parseInitiatorPortal } from '../src/auth/acl.js';
import { ChapExchange, chapResponse, encodeHex, type ChapRandom } from '../src/auth/chap.js';
import { discoveryFilteredOut, type DiscoveryInitiator } from '../src/auth/discovery-filter.js';
import type { AuthGroupConfig, DiscoveryFilter, InitiatorPortal } from '../src/config/model.js';

const POS = { file: 't', line: 1, col: 1 };
const NAME = 'iqn.2026-11.org.example:host1';
const CHALLENGE = Buffer.alloc(16, 3);
const FIXED: ChapRandom = { id: () => 9, challenge: () => Buffer.from(CHALLENGE) };

function portal(text: string): InitiatorPortal {
  const p = parseInitiatorPortal(text);
  if (typeof p === 'string') throw new Error(p);
  return p;
}

function group(over: Partial<AuthGroupConfig>): AuthGroupConfig {
  return { name: 'g', type: 'none', chap: [], initiatorNames: [], initiatorPortals: [], pos: POS, ...over };
}

/** A discovery login that authenticated `user` with `secret` (mutual if `mutual`). */
function discoveryChap(user: string, secret: string, mutual: boolean): ChapExchange {
  const g = group({ type: mutual ? 'chap-mutual' : 'chap', chap: [{ user, secret, mutualUser: mutual ? 'tgt' : null, mutualSecret: mutual ? 'target-secret-x' : null }] });
  const x = new ChapExchange(g, FIXED);
  x.step([['CHAP_A', '5']]);
  const keys: Array<[string, string]> = [['CHAP_N', user], ['CHAP_R', encodeHex(chapResponse(9, secret, CHALLENGE))]];
  if (mutual) keys.push(['CHAP_I', '1'], ['CHAP_C', `0x${'55'.repeat(16)}`]);
  expect(x.step(keys).done).toBe(true);
  return x;
}

const who = (over: Partial<DiscoveryInitiator> = {}): DiscoveryInitiator => ({ name: NAME, address: '10.0.0.5', chap: null, ...over });

describe('discovery-filter (ctld discovery_target_filtered_out)', () => {
  const restricted = group({ initiatorNames: ['iqn.2026-11.org.example:other'], initiatorPortals: [portal('10.0.0.0/24')] });

  it.each<[DiscoveryFilter, string, string | null]>([
    ['none', '192.0.2.1', null],
    ['portal', '192.0.2.1', 'initiator address is not on the initiator-portal list'],
    ['portal', '10.0.0.5', null],
    ['portal', '::ffff:10.0.0.5', null],
    ['portal-name', '10.0.0.5', 'initiator name is not on the initiator-name list'],
  ])('%s from %s', (filter, address, why) => {
    expect(discoveryFilteredOut(filter, restricted, who({ address }))).toBe(why);
  });

  it('portal-name-auth: none is listed, deny is not', () => {
    expect(discoveryFilteredOut('portal-name-auth', group({ type: 'none' }), who())).toBeNull();
    expect(discoveryFilteredOut('portal-name-auth', group({ type: 'deny' }), who())).toBe('the target denies every login');
  });

  it('portal-name-auth: a CHAP target needs the same user and secret from the discovery login', () => {
    const target = group({ type: 'chap', chap: [{ user: 'alice', secret: 'alice-secret-1', mutualUser: null, mutualSecret: null }] });
    expect(discoveryFilteredOut('portal-name-auth', target, who())).toBe('the target requires CHAP, but the discovery session did not authenticate');
    expect(discoveryFilteredOut('portal-name-auth', target, who({ chap: discoveryChap('alice', 'alice-secret-1', false) }))).toBeNull();
    expect(discoveryFilteredOut('portal-name-auth', target, who({ chap: discoveryChap('alice', 'other-secret-1', false) }))).toBe('CHAP user "alice" has another secret for the target');
    expect(discoveryFilteredOut('portal-name-auth', target, who({ chap: discoveryChap('bob', 'alice-secret-1', false) }))).toBe('CHAP user "bob" is not a user of the target');
  });

  it('portal-name-auth: a user with a mutual secret needs a mutual discovery login', () => {
    const target = group({ type: 'chap-mutual', chap: [{ user: 'alice', secret: 'alice-secret-1', mutualUser: 't', mutualSecret: 'target-secret-2' }] });
    expect(discoveryFilteredOut('portal-name-auth', target, who({ chap: discoveryChap('alice', 'alice-secret-1', false) }))).toBe(
      'the target requires mutual CHAP, but the discovery session was not mutual',
    );
    expect(discoveryFilteredOut('portal-name-auth', target, who({ chap: discoveryChap('alice', 'alice-secret-1', true) }))).toBeNull();
  });
});
