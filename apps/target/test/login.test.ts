import { describe, expect, it } from 'vitest';
import { decodeBhs, parseTextKeys, type TextKeyList } from '@iscsi-target/icl-core';
import { LoginSession, type LoginContext, type LoginResult, type LoginTarget } from '../src/login/login.js';
import { LoginRejectError, type LoginAbortedError } from '../src/login/errors.js';
import { nullLogger } from '../src/logger.js';
import { negotiationPolicy } from '../src/options.js';
import { FakeConn, type SentPdu } from './helpers/fake-conn.js';
import { ISID, keys, loginBhs, scsiCommandBhs, type LoginRequestSpec } from './helpers/pdus.js';

const TARGET = 'iqn.2026-11.org.nodejs-iscsi:target0';
const INITIATOR = 'iqn.1994-05.com.redhat:abcdef';
const STATSN = 0x1234;
const UNLIMITED = { maxRecvDataSegmentLength: 0, maxSendDataSegmentLength: 0, maxBurstLength: 0, firstBurstLength: 0 };

interface Harness {
  conn: FakeConn;
  session: LoginSession;
  results: LoginResult[];
  failures: Array<LoginRejectError | LoginAbortedError>;
  live: Set<number>;
  send(spec: LoginRequestSpec, list?: TextKeyList | Buffer): void;
  last(): { h: ReturnType<typeof decodeLogin>; keys: TextKeyList };
}

function decodeLogin(p: SentPdu) {
  const d = decodeBhs(p.bhs);
  if (d.type !== 'LoginResponse') throw new Error(`expected a Login Response, got ${d.type}`);
  return d;
}

function harness(over: Partial<LoginContext> = {}, targets: Record<string, LoginTarget> = {}): Harness {
  const conn = new FakeConn();
  const results: LoginResult[] = [];
  const failures: Array<LoginRejectError | LoginAbortedError> = [];
  const live = new Set<number>([0x0042]);
  let nextTsih = 0x100;
  const all: Record<string, LoginTarget> = { [TARGET]: { name: TARGET, alias: 'disk zero', auth: 'none' }, ...targets };
  const ctx: LoginContext = {
    portalGroupTag: 7,
    discoveryAuth: 'none',
    findTarget: (n) => Object.values(all).find((t) => t.name.toLowerCase() === n.toLowerCase()) ?? null,
    policy: negotiationPolicy(UNLIMITED),
    allocateTsih: () => {
      const t = nextTsih++;
      live.add(t);
      return t;
    },
    tsihInUse: (t) => live.has(t),
    timeoutMs: 0,
    maxTextLength: 4096,
    logger: nullLogger,
    initialStatSn: STATSN,
    ...over,
  };
  const session = new LoginSession(conn, ctx, (r) => results.push(r), (e) => failures.push(e));
  session.start();
  return {
    conn,
    session,
    results,
    failures,
    live,
    send(spec, list = []) {
      const data = Buffer.isBuffer(list) ? list : list.length > 0 ? keys(list) : Buffer.alloc(0);
      conn.deliver(loginBhs({ ...spec, dataLength: data.length }), data);
    },
    last() {
      const p = conn.sent[conn.sent.length - 1]!;
      return { h: decodeLogin(p), keys: parseTextKeys(p.data) };
    },
  };
}

const FIRST: TextKeyList = [
  ['InitiatorName', INITIATOR],
  ['InitiatorAlias', 'host1'],
  ['SessionType', 'Normal'],
  ['TargetName', TARGET],
  ['AuthMethod', 'None'],
];

const OPERATIONAL: TextKeyList = [
  ['HeaderDigest', 'CRC32C,None'],
  ['DataDigest', 'None'],
  ['MaxRecvDataSegmentLength', '65536'],
  ['MaxBurstLength', '16776192'],
  ['FirstBurstLength', '262144'],
  ['ImmediateData', 'Yes'],
  ['InitialR2T', 'No'],
];

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('login: successful logins', () => {
  it('security → operational → full feature phase (open-iscsi shape)', () => {
    const t = harness();
    t.send({ transit: true, csg: 0, nsg: 1, cmdSn: 5, itt: 0xabc }, FIRST);
    let r = t.last();
    expect(r.h).toMatchObject({
      transit: true,
      continue: false,
      csg: 0,
      nsg: 1,
      versionMax: 0,
      versionActive: 0,
      tsih: 0,
      initiatorTaskTag: 0xabc,
      statSn: STATSN,
      expCmdSn: 5,
      maxCmdSn: 5,
      statusClass: 0,
      statusDetail: 0,
    });
    expect(r.h.isid.equals(ISID)).toBe(true);
    expect(r.keys).toEqual([
      ['TargetAlias', 'disk zero'],
      ['TargetPortalGroupTag', '7'],
      ['AuthMethod', 'None'],
    ]);
    expect(t.session.state).toBe('operational');

    t.send({ transit: true, csg: 1, nsg: 3, cmdSn: 5, itt: 0xabc, expStatSn: STATSN + 1 }, OPERATIONAL);
    r = t.last();
    expect(r.h).toMatchObject({ transit: true, csg: 1, nsg: 3, tsih: 0x100, statSn: STATSN + 1, statusClass: 0 });
    expect(r.keys).toEqual([
      ['HeaderDigest', 'CRC32C'],
      ['DataDigest', 'None'],
      ['MaxBurstLength', '1048576'],
      ['FirstBurstLength', '262144'],
      ['ImmediateData', 'Yes'],
      ['InitialR2T', 'Yes'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
    expect(t.failures).toEqual([]);
    expect(t.results).toHaveLength(1);
    const res = t.results[0]!;
    expect(res).toMatchObject({ tsih: 0x100, cid: 0, cmdSn: 5, statSn: STATSN + 2, target: { name: TARGET } });
    expect(res.isid.equals(ISID)).toBe(true);
    expect(res.leading).toMatchObject({ initiatorName: INITIATOR, initiatorAlias: 'host1', sessionType: 'Normal', targetName: TARGET });
    expect(res.params).toMatchObject({ headerDigest: true, dataDigest: false, maxRecvDataSegmentLength: 262144, maxSendDataSegmentLength: 65536 });
    // Applied to the connection for the PDUs after the final response.
    expect([t.conn.headerDigest, t.conn.dataDigest, t.conn.maxRecvDataSegmentLength, t.conn.maxSendDataSegmentLength]).toEqual([true, false, 262144, 65536]);
    expect(t.session.state).toBe('done');
    expect(t.conn.closed).toBe(false);
  });

  it('skips the security stage (CSG=1) and finishes in one exchange', () => {
    const t = harness();
    t.send({ transit: true, csg: 1, nsg: 3 }, [...FIRST.filter(([k]) => k !== 'AuthMethod'), ...OPERATIONAL]);
    const r = t.last();
    expect(r.h).toMatchObject({ transit: true, csg: 1, nsg: 3, tsih: 0x100 });
    expect(r.keys.slice(0, 2)).toEqual([
      ['TargetAlias', 'disk zero'],
      ['TargetPortalGroupTag', '7'],
    ]);
    expect(t.results).toHaveLength(1);
  });

  it('goes from security straight to full feature phase with RFC defaults', () => {
    const t = harness();
    t.send({ transit: true, csg: 0, nsg: 3 }, FIRST);
    expect(t.last().h).toMatchObject({ transit: true, csg: 0, nsg: 3, tsih: 0x100 });
    expect(t.results[0]!.params).toMatchObject({ maxRecvDataSegmentLength: 8192, maxSendDataSegmentLength: 8192, maxBurstLength: 262144 });
  });

  it('selects the operational stage when the driver limits are below the defaults, and proposes them', () => {
    const t = harness({ policy: negotiationPolicy({ maxRecvDataSegmentLength: 4096, maxSendDataSegmentLength: 0, maxBurstLength: 65536, firstBurstLength: 16384 }) });
    t.send({ transit: true, csg: 0, nsg: 3 }, FIRST);
    expect(t.last().h).toMatchObject({ transit: true, csg: 0, nsg: 1 });
    t.send({ transit: true, csg: 1, nsg: 3, expStatSn: STATSN + 1 }, [['HeaderDigest', 'None']]);
    let r = t.last();
    expect(r.h).toMatchObject({ transit: false, csg: 1, statusClass: 0 });
    expect(r.keys).toEqual([
      ['HeaderDigest', 'None'],
      ['MaxRecvDataSegmentLength', '4096'],
      ['MaxBurstLength', '65536'],
      ['FirstBurstLength', '16384'],
    ]);
    expect(t.results).toEqual([]);
    t.send({ transit: true, csg: 1, nsg: 3, expStatSn: STATSN + 2 }, [['MaxBurstLength', '65536'], ['FirstBurstLength', '8192']]);
    r = t.last();
    expect(r.h).toMatchObject({ transit: true, csg: 1, nsg: 3, tsih: 0x100 });
    expect(r.keys).toEqual([]);
    expect(t.results[0]!.params).toMatchObject({ maxRecvDataSegmentLength: 4096, maxBurstLength: 65536, firstBurstLength: 8192 });
  });

  it('stays in a stage while T is 0', () => {
    const t = harness();
    t.send({ transit: false, csg: 0 }, FIRST);
    expect(t.last().h).toMatchObject({ transit: false, csg: 0, nsg: 0 });
    t.send({ transit: true, csg: 0, nsg: 1, expStatSn: STATSN + 1 }, []);
    expect(t.last().h).toMatchObject({ transit: true, csg: 0, nsg: 1 });
    expect(t.last().keys).toEqual([]);
  });

  it('reassembles keys sent with the C bit, acknowledging each piece with an empty response', () => {
    const t = harness();
    const text = keys([...FIRST, ['X-com.example.padding', 'p'.repeat(300)]]);
    t.send({ cont: true, csg: 0 }, text.subarray(0, 50));
    expect(t.last().h).toMatchObject({ transit: false, continue: false, csg: 0, statusClass: 0, dataSegmentLength: 0 });
    t.send({ cont: true, csg: 0, expStatSn: STATSN + 1 }, text.subarray(50, 200));
    t.send({ transit: true, csg: 0, nsg: 1, expStatSn: STATSN + 2 }, text.subarray(200));
    const r = t.last();
    expect(r.h).toMatchObject({ transit: true, nsg: 1, statSn: STATSN + 2 });
    expect(r.keys).toEqual([
      ['TargetAlias', 'disk zero'],
      ['TargetPortalGroupTag', '7'],
      ['AuthMethod', 'None'],
      ['X-com.example.padding', 'NotUnderstood'],
    ]);
  });

  it('accepts a discovery session without a target name and sends no TargetPortalGroupTag', () => {
    const t = harness();
    t.send({ transit: true, csg: 0, nsg: 1 }, [['InitiatorName', INITIATOR], ['SessionType', 'Discovery'], ['AuthMethod', 'None']]);
    expect(t.last().keys).toEqual([['AuthMethod', 'None']]);
    t.send({ transit: true, csg: 1, nsg: 3, expStatSn: STATSN + 1 }, [['HeaderDigest', 'None'], ['MaxRecvDataSegmentLength', '32768']]);
    expect(t.results[0]).toMatchObject({ target: null, params: { sessionType: 'Discovery', maxSendDataSegmentLength: 32768 } });
  });

  it('wraps StatSN around 2^32', () => {
    const t = harness({ initialStatSn: 0xffffffff });
    t.send({ transit: true, csg: 0, nsg: 1 }, FIRST);
    expect(t.last().h.statSn).toBe(0xffffffff);
    t.send({ transit: true, csg: 1, nsg: 3, expStatSn: 0 }, []);
    expect(t.last().h).toMatchObject({ statSn: 0, tsih: 0x100 });
    expect(t.results[0]!.statSn).toBe(1);
  });
});

describe('login: rejects (status class/detail, then the connection closes)', () => {
  async function rejected(t: Harness, cls: number, detail: number, message: string): Promise<void> {
    const r = t.last();
    expect(r.h).toMatchObject({ statusClass: cls, statusDetail: detail, transit: false, csg: 0, nsg: 0 });
    expect(t.failures).toHaveLength(1);
    const f = t.failures[0]!;
    expect(f).toBeInstanceOf(LoginRejectError);
    expect(f.message).toBe(message);
    expect(t.results).toEqual([]);
    expect(t.conn.closed).toBe(false); // not before the reject was sent
    await tick();
    expect(t.conn.closed).toBe(true);
    expect(t.conn.freed).toBe(true);
  }

  it('unsupported version (0x0205)', async () => {
    const t = harness();
    t.send({ transit: true, csg: 0, nsg: 1, versionMin: 1, versionMax: 2, itt: 77 }, FIRST);
    expect(t.last().h).toMatchObject({ initiatorTaskTag: 77, versionMax: 0, versionActive: 0 });
    expect(t.last().h.isid.equals(ISID)).toBe(true);
    await rejected(t, 2, 5, 'unsupported version range 1..2');
  });

  it('unknown TSIH (0x020a) and a TSIH of a live session (0x0206)', async () => {
    const a = harness();
    a.send({ transit: true, csg: 0, nsg: 1, tsih: 0x99 }, FIRST);
    expect(a.last().h.tsih).toBe(0x99);
    await rejected(a, 2, 0x0a, 'TSIH 0x99 is not a session of this target');
    const b = harness();
    b.send({ transit: true, csg: 0, nsg: 1, tsih: 0x42 }, FIRST);
    await rejected(b, 2, 0x06, 'TSIH 0x42: only one connection per session');
  });

  it('unknown target (0x0203)', async () => {
    const t = harness();
    t.send({ transit: true, csg: 0, nsg: 1 }, [['InitiatorName', INITIATOR], ['TargetName', 'iqn.2026-11.x:nope']]);
    await rejected(t, 2, 3, 'target "iqn.2026-11.x:nope" not found on this portal group');
  });

  it('missing InitiatorName / TargetName (0x0207)', async () => {
    const a = harness();
    a.send({ transit: true, csg: 0, nsg: 1 }, [['TargetName', TARGET]]);
    await rejected(a, 2, 7, 'no InitiatorName in the first Login Request');
    const b = harness();
    b.send({ transit: true, csg: 0, nsg: 1 }, [['InitiatorName', INITIATOR]]);
    await rejected(b, 2, 7, 'no TargetName in the first Login Request of a Normal session');
  });

  it('denied target and denied discovery (0x0201)', async () => {
    const a = harness({}, { d: { name: 'iqn.2026-11.x:denied', alias: null, auth: 'deny' } });
    a.send({ transit: true, csg: 0, nsg: 1 }, [['InitiatorName', INITIATOR], ['TargetName', 'iqn.2026-11.x:denied']]);
    await rejected(a, 2, 1, 'target "iqn.2026-11.x:denied" denies access');
    const b = harness({ discoveryAuth: 'deny' });
    b.send({ transit: true, csg: 0, nsg: 1 }, [['InitiatorName', INITIATOR], ['SessionType', 'Discovery']]);
    await rejected(b, 2, 1, 'discovery is not allowed on this portal group');
  });

  it('a non-Login PDU during login (0x020b)', async () => {
    const t = harness();
    t.send({ transit: false, csg: 0 }, FIRST);
    t.conn.deliver(scsiCommandBhs({ itt: 9, cmdSn: 1, expStatSn: STATSN + 1 }));
    expect(t.last().h.initiatorTaskTag).toBe(9);
    await rejected(t, 2, 0x0b, 'PDU opcode 0x1 during login');
  });

  it.each<[string, (t: Harness) => void, string]>([
    ['T and C both set', (t) => t.send({ transit: true, cont: true, csg: 0, nsg: 1 }, FIRST), 'T and C bits both set'],
    ['CSG = full feature phase', (t) => t.send({ transit: false, csg: 3 }, FIRST), 'invalid CSG 3'],
    ['transition operational → operational', (t) => t.send({ transit: true, csg: 1, nsg: 1 }, FIRST), 'invalid transition from stage 1 to 1'],
    ['transition to the reserved stage 2', (t) => t.send({ transit: true, csg: 0, nsg: 2 }, FIRST), 'invalid transition from stage 0 to 2'],
    [
      'going back to the security stage',
      (t) => {
        t.send({ transit: true, csg: 0, nsg: 1 }, FIRST);
        t.send({ transit: false, csg: 0, expStatSn: STATSN + 1 }, []);
      },
      'CSG 0 in the operational stage',
    ],
    [
      'wrong ExpStatSN',
      (t) => {
        t.send({ transit: false, csg: 0 }, FIRST);
        t.send({ transit: true, csg: 0, nsg: 1, expStatSn: STATSN + 5 }, []);
      },
      `ExpStatSN ${STATSN + 5} should be ${STATSN + 1}`,
    ],
    [
      'ISID changed',
      (t) => {
        t.send({ transit: false, csg: 0 }, FIRST);
        t.send({ transit: true, csg: 0, nsg: 1, expStatSn: STATSN + 1, isid: Buffer.from([1, 2, 3, 4, 5, 6]) }, []);
      },
      'ISID, TSIH or CID changed during login',
    ],
    [
      'CmdSN going back',
      (t) => {
        t.send({ transit: false, csg: 0, cmdSn: 10 }, FIRST);
        t.send({ transit: true, csg: 0, nsg: 1, cmdSn: 9, expStatSn: STATSN + 1 }, []);
      },
      'CmdSN went back from 10 to 9',
    ],
    [
      'a re-declared key',
      (t) => {
        t.send({ transit: false, csg: 0 }, FIRST);
        t.send({ transit: true, csg: 0, nsg: 1, expStatSn: STATSN + 1 }, [['AuthMethod', 'None']]);
      },
      'key AuthMethod sent twice during login',
    ],
    ['key text without a final NUL', (t) => t.send({ transit: true, csg: 0, nsg: 1 }, Buffer.from(`InitiatorName=${INITIATOR}`)), 'text key: last key=value pair not NUL-terminated'],
    [
      'continued key text over the cap',
      (t) => {
        t.send({ cont: true, csg: 0 }, Buffer.alloc(3000, 0x41));
        t.send({ cont: true, csg: 0, expStatSn: STATSN + 1 }, Buffer.alloc(3000, 0x41));
      },
      'text of 6000 bytes exceeds the 4096-byte reassembly cap',
    ],
    [
      'FirstBurstLength above MaxBurstLength',
      (t) => t.send({ transit: true, csg: 1, nsg: 3 }, [...FIRST.slice(0, 4), ['FirstBurstLength', '65536'], ['MaxBurstLength', '8192']]),
      'FirstBurstLength 65536 exceeds MaxBurstLength 8192',
    ],
  ])('initiator error (0x0200): %s', async (_name, act, message) => {
    const t = harness();
    act(t);
    await rejected(t, 2, 0, message);
  });

  it('closes after the close timeout if the reject is never sent', async () => {
    const t = harness({ closeTimeoutMs: 10 });
    t.conn.holdCompletions = true;
    t.send({ transit: true, csg: 0, nsg: 1, versionMin: 3, versionMax: 3 }, FIRST);
    expect(t.conn.closed).toBe(false);
    await new Promise((r) => setTimeout(r, 30));
    expect(t.conn.closed).toBe(true);
  });
});

describe('login: dropped connections', () => {
  it('drops the connection without a response when the first PDU is not a Login Request', () => {
    const t = harness();
    t.conn.deliver(scsiCommandBhs({ itt: 1, cmdSn: 1, expStatSn: 0 }));
    expect(t.conn.sent).toEqual([]);
    expect(t.conn.closed).toBe(true);
    expect(t.failures[0]).toMatchObject({ code: 'LOGIN_ERR_PROTOCOL' });
  });

  it('times out', async () => {
    const t = harness({ timeoutMs: 20 });
    t.send({ transit: false, csg: 0 }, FIRST);
    await new Promise((r) => setTimeout(r, 50));
    expect(t.conn.closed).toBe(true);
    expect(t.failures[0]).toMatchObject({ code: 'LOGIN_ERR_TIMEOUT', message: 'login not completed within 20 ms' });
  });

  it('does not time out after success', async () => {
    const t = harness({ timeoutMs: 20 });
    t.send({ transit: true, csg: 0, nsg: 3 }, FIRST);
    await new Promise((r) => setTimeout(r, 50));
    expect(t.conn.closed).toBe(false);
    expect(t.failures).toEqual([]);
  });

  it('reports a transport error', () => {
    const t = harness();
    t.conn.onError(t.conn, new Error('ECONNRESET'));
    expect(t.failures[0]).toMatchObject({ code: 'LOGIN_ERR_TRANSPORT', message: 'connection error during login: ECONNRESET' });
    expect(t.conn.closed).toBe(true);
  });

  it('treats a Login Request after the final response as a protocol error', () => {
    const t = harness();
    t.send({ transit: true, csg: 0, nsg: 3 }, FIRST);
    expect(t.results).toHaveLength(1);
    const sent = t.conn.sent.length;
    t.send({ transit: true, csg: 0, nsg: 3, expStatSn: STATSN + 1 }, FIRST);
    expect(t.conn.sent.length).toBe(sent);
    expect(t.conn.closed).toBe(true);
  });

  it('cancel() closes a login in progress', () => {
    const t = harness();
    t.send({ transit: false, csg: 0 }, FIRST);
    t.session.cancel();
    expect(t.conn.closed).toBe(true);
    expect(t.failures[0]).toMatchObject({ code: 'LOGIN_ERR_SHUTDOWN' });
  });
});
