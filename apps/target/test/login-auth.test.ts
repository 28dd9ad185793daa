import { describe, expect, it } from 'vitest';
import { decodeBhs, parseTextKeys, type TextKeyList } from '@iscsi-target/icl-core';
import { parseInitiatorPortal } from '../src/auth/acl.js';
import { encodeHex, type ChapRandom } from '../src/auth/chap.js';
import type { AuthGroupConfig, InitiatorPortal } from '../src/config/model.js';
import { LoginRejectError, type LoginAbortedError } from '../src/login/errors.js';
import { LoginSession, type LoginContext, type LoginResult, type LoginTarget } from '../src/login/login.js';
import { nullLogger } from '../src/logger.js';
import { negotiationPolicy } from '../src/options.js';
import { FakeConn, type SentPdu } from './helpers/fake-conn.js';
import { keys, loginBhs, type LoginRequestSpec } from './helpers/pdus.js';

const TARGET = 'iqn.2026-11.org.nodejs-iscsi:secure';
const INITIATOR = 'iqn.1994-05.com.redhat:abcdef';
const STATSN = 100;
const UNLIMITED = { maxRecvDataSegmentLength: 0, maxSendDataSegmentLength: 0, maxBurstLength: 0, firstBurstLength: 0 };
const POS = { file: 't', line: 1, col: 1 };
const CHALLENGE = Buffer.from(Array.from({ length: 16 }, (_, i) => i + 1));
const FIXED: ChapRandom = { id: () => 7, challenge: () => Buffer.from(CHALLENGE) };
// MD5(0x07 ‖ "initiator-secret" ‖ 01..10), computed independently (Python hashlib).
const ALICE_R = '0xb7b647fb02ad1f52a251ee090b464613';

function portal(text: string): InitiatorPortal {
  const p = parseInitiatorPortal(text);
  if (typeof p === 'string') throw new Error(p);
  return p;
}

function ag(over: Partial<AuthGroupConfig> = {}): AuthGroupConfig {
  return {
    name: 'ag0',
    type: 'chap',
    chap: [{ user: 'alice', secret: 'initiator-secret', mutualUser: null, mutualSecret: null }],
    initiatorNames: [],
    initiatorPortals: [],
    pos: POS,
    ...over,
  };
}

function decodeLogin(p: SentPdu) {
  const d = decodeBhs(p.bhs);
  if (d.type !== 'LoginResponse') throw new Error(`expected a Login Response, got ${d.type}`);
  return d;
}

function harness(target: Partial<LoginTarget>, over: Partial<LoginContext> = {}) {
  const conn = new FakeConn();
  const results: LoginResult[] = [];
  const failures: Array<LoginRejectError | LoginAbortedError> = [];
  const t: LoginTarget = { name: TARGET, alias: null, auth: 'chap', authGroup: ag(), ...target };
  const ctx: LoginContext = {
    portalGroupTag: 1,
    discoveryAuth: 'none',
    findTarget: (n) => (n.toLowerCase() === TARGET ? t : null),
    policy: negotiationPolicy(UNLIMITED),
    allocateTsih: () => 0x10,
    tsihInUse: () => false,
    timeoutMs: 0,
    maxTextLength: 8192,
    logger: nullLogger,
    initialStatSn: STATSN,
    initiatorAddress: '192.0.2.10',
    chapRandom: FIXED,
    ...over,
  };
  const session = new LoginSession(conn, ctx, (r) => results.push(r), (e) => failures.push(e));
  session.start();
  let expStatSn = STATSN;
  return {
    conn,
    session,
    results,
    failures,
    send(spec: LoginRequestSpec, list: TextKeyList) {
      const data = keys(list);
      conn.deliver(loginBhs({ expStatSn, ...spec, dataLength: data.length }), data);
      const lastSent = conn.sent[conn.sent.length - 1];
      if (lastSent !== undefined) expStatSn = (decodeLogin(lastSent).statSn + 1) >>> 0;
    },
    sentCount: () => conn.sent.length,
    last() {
      const p = conn.sent[conn.sent.length - 1]!;
      return { h: decodeLogin(p), keys: parseTextKeys(p.data) };
    },
  };
}

type H = ReturnType<typeof harness>;

const FIRST: TextKeyList = [
  ['InitiatorName', INITIATOR],
  ['SessionType', 'Normal'],
  ['TargetName', TARGET],
  ['AuthMethod', 'CHAP,None'],
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs the CHAP part up to (not including) the response; returns the harness. */
function toChallenge(h: H): void {
  h.send({ transit: true, csg: 0, nsg: 1 }, FIRST);
  let r = h.last();
  // Not authenticated yet: no transition (RFC 7143 §6.3).
  expect(r.h).toMatchObject({ transit: false, csg: 0, statusClass: 0 });
  expect(r.keys).toEqual([['TargetPortalGroupTag', '1'], ['AuthMethod', 'CHAP']]);
  h.send({ transit: false, csg: 0 }, [['CHAP_A', '5']]);
  r = h.last();
  expect(r.h).toMatchObject({ transit: false, csg: 0, statusClass: 0 });
  expect(r.keys).toEqual([['CHAP_A', '5'], ['CHAP_I', '7'], ['CHAP_C', encodeHex(CHALLENGE)]]);
}

async function failedWith(h: H, cls: number, detail: number, message: string): Promise<void> {
  await sleep(5);
  const r = h.last();
  expect([r.h.statusClass, r.h.statusDetail]).toEqual([cls, detail]);
  expect(h.failures).toHaveLength(1);
  expect(h.failures[0]).toBeInstanceOf(LoginRejectError);
  expect(h.failures[0]!.message).toBe(message);
  expect(h.results).toEqual([]);
  expect(h.conn.closed).toBe(true);
}

describe('login with CHAP', () => {
  it('AuthMethod=CHAP → CHAP_A → CHAP_N/CHAP_R → operational → full feature phase', () => {
    const h = harness({});
    toChallenge(h);
    h.send({ transit: true, csg: 0, nsg: 1 }, [['CHAP_N', 'alice'], ['CHAP_R', ALICE_R]]);
    let r = h.last();
    expect(r.h).toMatchObject({ transit: true, csg: 0, nsg: 1, statusClass: 0, statusDetail: 0 });
    expect(r.keys).toEqual([]);
    h.send({ transit: true, csg: 1, nsg: 3 }, [['MaxRecvDataSegmentLength', '65536']]);
    r = h.last();
    expect(r.h).toMatchObject({ transit: true, csg: 1, nsg: 3, statusClass: 0, tsih: 0x10 });
    expect(h.results).toHaveLength(1);
    expect(h.results[0]!.chap!.user).toBe('alice');
    expect(h.results[0]!.authGroup.name).toBe('ag0');
  });

  it('offers AuthMethod=CHAP when the initiator left AuthMethod out', () => {
    const h = harness({});
    h.send({ transit: false, csg: 0 }, FIRST.filter(([k]) => k !== 'AuthMethod'));
    expect(h.last().keys).toEqual([['TargetPortalGroupTag', '1'], ['AuthMethod', 'CHAP']]);
  });

  it('a wrong secret: 0x0201, sent only after the failure delay', async () => {
    const h = harness({}, { authFailureDelayMs: 60 });
    toChallenge(h);
    const before = h.sentCount();
    h.send({ transit: true, csg: 0, nsg: 1 }, [['CHAP_N', 'alice'], ['CHAP_R', `0x${'11'.repeat(16)}`]]);
    await sleep(20);
    expect(h.sentCount()).toBe(before); // nothing yet
    expect(h.failures).toEqual([]); // the login slot is still held
    await sleep(80);
    await failedWith(h, 2, 1, 'CHAP: wrong response for user "alice"');
  });

  it('cancelling during the failure delay closes the connection without an answer', () => {
    const h = harness({}, { authFailureDelayMs: 10_000 });
    toChallenge(h);
    const before = h.sentCount();
    h.send({ transit: true, csg: 0, nsg: 1 }, [['CHAP_N', 'bob'], ['CHAP_R', ALICE_R]]);
    h.session.cancel();
    expect(h.sentCount()).toBe(before);
    expect(h.conn.closed).toBe(true);
    expect(h.failures.map((f) => f.message)).toEqual(['CHAP: unknown user "bob"']);
  });

  it('an initiator offering only AuthMethod=None: 0x0201', async () => {
    const h = harness({});
    h.send({ transit: true, csg: 0, nsg: 1 }, [...FIRST.slice(0, 3), ['AuthMethod', 'None']]);
    await failedWith(h, 2, 1, 'CHAP is required, but the initiator does not offer AuthMethod CHAP');
  });

  it('an initiator skipping the security stage: 0x0201', async () => {
    const h = harness({});
    h.send({ transit: true, csg: 1, nsg: 3 }, FIRST.slice(0, 3));
    await failedWith(h, 2, 1, 'target "iqn.2026-11.org.nodejs-iscsi:secure" requires CHAP, but the initiator skipped the security stage');
  });

  it('CHAP keys before AuthMethod was agreed: 0x0200', async () => {
    const h = harness({});
    h.send({ transit: false, csg: 0 }, [...FIRST.slice(0, 3), ['CHAP_A', '5']]);
    await failedWith(h, 2, 0, 'CHAP keys before AuthMethod=CHAP was agreed');
  });

  it('mutual CHAP with a chap-mutual group, end to end', () => {
    const group = ag({ type: 'chap-mutual', chap: [{ user: 'alice', secret: 'initiator-secret', mutualUser: 'target0', mutualSecret: 'target-secret-1' }] });
    const h = harness({ auth: 'chap-mutual', authGroup: group });
    toChallenge(h);
    h.send({ transit: true, csg: 0, nsg: 1 }, [['CHAP_N', 'alice'], ['CHAP_R', ALICE_R], ['CHAP_I', '42'], ['CHAP_C', `0x${'aa'.repeat(16)}`]]);
    const r = h.last();
    expect(r.h).toMatchObject({ transit: true, nsg: 1, statusClass: 0 });
    // MD5(0x2a ‖ "target-secret-1" ‖ aa × 16), computed independently.
    expect(r.keys).toEqual([['CHAP_N', 'target0'], ['CHAP_R', '0xe87a8f4d807fc56ae199d792af487cd8']]);
  });
});

describe('login authorization (initiator-name, initiator-portal) and redirect', () => {
  it('an initiator not on initiator-name: 0x0202 (after the delay)', async () => {
    const h = harness({ auth: 'none', authGroup: ag({ type: 'none', chap: [], initiatorNames: ['iqn.2026-11.org.example:allowed'] }) }, { authFailureDelayMs: 20 });
    h.send({ transit: true, csg: 0, nsg: 1 }, [...FIRST.slice(0, 3), ['AuthMethod', 'None']]);
    expect(h.sentCount()).toBe(0);
    await sleep(40);
    await failedWith(h, 2, 2, `initiator "${INITIATOR}" is not on the initiator-name list of target "${TARGET}" (auth-group "ag0")`);
  });

  it('initiator-name matches case-insensitively; initiator-portal CIDR (IPv4-mapped addresses too)', () => {
    const group = ag({ type: 'none', chap: [], initiatorNames: [INITIATOR.toUpperCase()], initiatorPortals: [portal('192.0.2.0/24'), portal('[2001:db8::]/32')] });
    for (const address of ['192.0.2.10', '::ffff:192.0.2.200', '2001:db8::1']) {
      const h = harness({ auth: 'none', authGroup: group }, { initiatorAddress: address });
      h.send({ transit: true, csg: 0, nsg: 3 }, [...FIRST.slice(0, 3), ['AuthMethod', 'None']]);
      expect(h.results).toHaveLength(1);
    }
  });

  it('an address outside initiator-portal: 0x0202', async () => {
    const group = ag({ type: 'none', chap: [], initiatorPortals: [portal('192.0.2.0/24')] });
    const h = harness({ auth: 'none', authGroup: group }, { initiatorAddress: '198.51.100.1' });
    h.send({ transit: true, csg: 0, nsg: 3 }, [...FIRST.slice(0, 3), ['AuthMethod', 'None']]);
    await failedWith(h, 2, 2, `initiator address 198.51.100.1 is not on the initiator-portal list of target "${TARGET}" (auth-group "ag0")`);
  });

  it('a denying discovery auth group still wins over ACLs: 0x0201', async () => {
    const h = harness({}, { discoveryAuth: 'deny' });
    h.send({ transit: true, csg: 0, nsg: 1 }, [['InitiatorName', INITIATOR], ['SessionType', 'Discovery']]);
    await failedWith(h, 2, 1, 'discovery is not allowed on this portal group');
  });

  it('portal-group redirect: 0x0101 with TargetAddress at the first request, before authentication', async () => {
    const h = harness({}, { portalRedirect: '198.51.100.7:3261' });
    h.send({ transit: true, csg: 0, nsg: 1 }, FIRST);
    const r = h.last();
    expect([r.h.statusClass, r.h.statusDetail]).toEqual([1, 1]);
    expect(r.keys).toEqual([['TargetAddress', '198.51.100.7:3261']]);
    await failedWith(h, 1, 1, 'portal group redirects to 198.51.100.7:3261');
  });

  it('target redirect: 0x0101 only after CHAP succeeded', async () => {
    const h = harness({ redirect: '[2001:db8::9]:3260' });
    toChallenge(h);
    h.send({ transit: true, csg: 0, nsg: 1 }, [['CHAP_N', 'alice'], ['CHAP_R', ALICE_R]]);
    expect(h.last().h).toMatchObject({ statusClass: 0, transit: true, nsg: 1 });
    h.send({ transit: true, csg: 1, nsg: 3 }, []);
    const r = h.last();
    expect([r.h.statusClass, r.h.statusDetail]).toEqual([1, 1]);
    expect(r.keys).toEqual([['TargetAddress', '[2001:db8::9]:3260']]);
    await failedWith(h, 1, 1, `target "${TARGET}" redirects to [2001:db8::9]:3260`);
  });

  it('target redirect on a direct security → full feature transition', () => {
    const h = harness({ auth: 'none', authGroup: ag({ type: 'none', chap: [] }), redirect: '198.51.100.8:3260' });
    h.send({ transit: true, csg: 0, nsg: 3 }, [...FIRST.slice(0, 3), ['AuthMethod', 'None']]);
    expect([h.last().h.statusClass, h.last().h.statusDetail]).toEqual([1, 1]);
    expect(h.results).toEqual([]);
  });
});
