import { describe, expect, it } from 'vitest';
import { decodeBhs, parseTextKeys, RejectReason, type TextKeyList } from '@iscsi-target/icl-core';
import { parseConfig } from '../src/config.js';
import { DiscoverySession, type DiscoveryOptions } from '../src/discovery.js';
import { nullLogger } from '../src/logger.js';
import { DiscoveryCatalog, sendTargets, targetAddresses } from '../src/send-targets.js';
import { FakeConn } from './helpers/fake-conn.js';
import { keys, logoutBhs, loginBhs, nopOutBhs, scsiCommandBhs, textBhs } from './helpers/pdus.js';

const CONF = `
portal-group pg0 {
  discovery-auth-group no-authentication
  listen 192.0.2.10
  listen [2001:db8::10]:3261
  listen 0.0.0.0:3262
}
portal-group pg1 {
  tag 20
  listen [::]:3263
  listen 198.51.100.1
}
target iqn.2026-11.org.example:a {
  auth-group no-authentication
  portal-group pg0
  portal-group pg1
  lun 0 { backend ramdisk; size 1M }
}
target iqn.2026-11.org.example:b {
  auth-type none
  portal-group pg0
  lun 0 { backend ramdisk; size 1M }
}
target iqn.2026-11.org.example:denied {
  portal-group pg0 no-access
  lun 0 { backend ramdisk; size 1M }
}
target iqn.2026-11.org.example:other {
  auth-type none
  portal-group pg1
  lun 0 { backend ramdisk; size 1M }
}
`;

const config = parseConfig(CONF, 'ctl.conf');
const catalog = new DiscoveryCatalog(config);

describe('SendTargets answers', () => {
  const disc = (value: string, localAddress = '192.0.2.10'): TextKeyList =>
    sendTargets(value, { catalog, portalGroup: 'pg0', session: { type: 'Discovery' }, localAddress });

  it('lists every target of the portal group with all its portals (IPv6 in brackets, wildcards replaced)', () => {
    expect(config.portalGroups.get('pg0')!.tag).toBe(1);
    expect(disc('All')).toEqual([
      ['TargetName', 'iqn.2026-11.org.example:a'],
      ['TargetAddress', '192.0.2.10:3260,1'],
      ['TargetAddress', '[2001:db8::10]:3261,1'],
      ['TargetAddress', '192.0.2.10:3262,1'],
      ['TargetAddress', '192.0.2.10:3263,20'],
      ['TargetAddress', '198.51.100.1:3260,20'],
      ['TargetName', 'iqn.2026-11.org.example:b'],
      ['TargetAddress', '192.0.2.10:3260,1'],
      ['TargetAddress', '[2001:db8::10]:3261,1'],
      ['TargetAddress', '192.0.2.10:3262,1'],
      ['TargetName', 'iqn.2026-11.org.example:denied'],
      ['TargetAddress', '192.0.2.10:3260,1'],
      ['TargetAddress', '[2001:db8::10]:3261,1'],
      ['TargetAddress', '192.0.2.10:3262,1'],
    ]);
  });

  it('replaces wildcards by an IPv6 local address only where the wildcard accepts IPv6', () => {
    const a = catalog.find('pg0', 'iqn.2026-11.org.example:a')!;
    expect(targetAddresses(a, '2001:db8::10')).toEqual([
      '192.0.2.10:3260,1',
      '[2001:db8::10]:3261,1',
      '[2001:db8::10]:3263,20',
      '198.51.100.1:3260,20',
    ]);
    // An IPv4 client on a dual-stack socket shows as ::ffff:a.b.c.d.
    expect(targetAddresses(a, '::ffff:192.0.2.10')).toContain('192.0.2.10:3262,1');
  });

  it('answers a named target (case-insensitive), nothing for others, nothing for an empty value', () => {
    expect(disc('IQN.2026-11.ORG.EXAMPLE:B')[0]).toEqual(['TargetName', 'iqn.2026-11.org.example:b']);
    expect(disc('iqn.2026-11.org.example:other')).toEqual([]); // not exported through pg0
    expect(disc('iqn.2026-11.org.example:nope')).toEqual([]);
    expect(disc('')).toEqual([]);
  });

  it('hides targets that refuse every login with discovery-filter portal-name-auth', () => {
    const c = parseConfig(CONF.replace('discovery-auth-group no-authentication', 'discovery-auth-group no-authentication\n discovery-filter portal-name-auth'), 'f');
    const names = sendTargets('All', { catalog: new DiscoveryCatalog(c), portalGroup: 'pg0', session: { type: 'Discovery' }, localAddress: '192.0.2.10' })
      .filter(([k]) => k === 'TargetName')
      .map(([, v]) => v);
    expect(names).toEqual(['iqn.2026-11.org.example:a', 'iqn.2026-11.org.example:b']);
  });

  it('in a normal session lists only the session target and rejects All', () => {
    const ctx = { catalog, portalGroup: 'pg1', session: { type: 'Normal' as const, targetName: 'iqn.2026-11.org.example:other' }, localAddress: '198.51.100.1' };
    expect(sendTargets('', ctx)).toEqual([
      ['TargetName', 'iqn.2026-11.org.example:other'],
      ['TargetAddress', '198.51.100.1:3263,20'],
      ['TargetAddress', '198.51.100.1:3260,20'],
    ]);
    expect(sendTargets('iqn.2026-11.org.example:other', ctx)).toHaveLength(3);
    expect(sendTargets('iqn.2026-11.org.example:a', ctx)).toEqual([]);
    expect(sendTargets('All', ctx)).toEqual([['SendTargets', 'Reject']]);
  });
});

const STATSN = 100;
const CMDSN = 7;

function session(over: Partial<DiscoveryOptions> = {}): { conn: FakeConn; s: DiscoverySession; closed: () => boolean } {
  const conn = new FakeConn();
  let closed = false;
  const s = new DiscoverySession(
    conn,
    {
      catalog,
      portalGroup: 'pg0',
      statSn: STATSN,
      cmdSn: CMDSN,
      maxSendDataSegmentLength: 8192,
      maxTextLength: 4096,
      idleTimeoutMs: 0,
      logger: nullLogger,
      ...over,
    },
    () => {
      closed = true;
    },
  );
  s.start();
  return { conn, s, closed: () => closed };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('discovery session', () => {
  it('answers SendTargets=All in one Text Response', () => {
    const { conn } = session();
    const body = keys([['SendTargets', 'All']]);
    conn.deliver(textBhs({ itt: 5, cmdSn: CMDSN, expStatSn: STATSN, dataLength: body.length }), body);
    expect(conn.sent).toHaveLength(1);
    const h = decodeBhs(conn.sent[0]!.bhs);
    expect(h).toMatchObject({ type: 'TextResponse', final: true, continue: false, initiatorTaskTag: 5, targetTransferTag: 0xffffffff, statSn: STATSN, expCmdSn: CMDSN + 1, maxCmdSn: CMDSN + 1 });
    const answer = parseTextKeys(conn.sent[0]!.data);
    expect(answer.filter(([k]) => k === 'TargetName').map(([, v]) => v)).toEqual([
      'iqn.2026-11.org.example:a',
      'iqn.2026-11.org.example:b',
      'iqn.2026-11.org.example:denied',
    ]);
    expect(h.dataSegmentLength).toBe(conn.sent[0]!.data.length);
  });

  it('splits a long answer over several PDUs continued by the Target Transfer Tag', () => {
    // 30 targets with two portals each: about 2.5 KB of answer, over 512-byte PDUs.
    let text = 'portal-group big { discovery-auth-group no-authentication; listen 192.0.2.10; listen [2001:db8::10] }\n';
    for (let i = 0; i < 30; i++) text += `target iqn.2026-11.org.example:disk-${i} { auth-type none; portal-group big; lun 0 { backend ramdisk; size 1M } }\n`;
    const big = new DiscoveryCatalog(parseConfig(text, 'big.conf'));
    const { conn } = session({ catalog: big, portalGroup: 'big', maxSendDataSegmentLength: 512 });
    const body = keys([['SendTargets', 'All']]);
    conn.deliver(textBhs({ itt: 9, cmdSn: CMDSN, expStatSn: STATSN, dataLength: body.length }), body);
    const pieces: Buffer[] = [];
    let ttt = 0;
    for (let i = 0; i < 20; i++) {
      const last = conn.sent[conn.sent.length - 1]!;
      const h = decodeBhs(last.bhs);
      if (h.type !== 'TextResponse') throw new Error(h.type);
      expect(last.data.length).toBeLessThanOrEqual(512);
      expect(h.statSn).toBe(STATSN + i);
      pieces.push(last.data);
      if (h.final) {
        expect(h.continue).toBe(false);
        expect(h.targetTransferTag).toBe(0xffffffff);
        break;
      }
      expect(h.continue).toBe(true);
      expect(h.targetTransferTag).not.toBe(0xffffffff);
      if (i > 0) expect(h.targetTransferTag).toBe(ttt);
      ttt = h.targetTransferTag;
      // The initiator asks for more with an empty request carrying the tag.
      conn.deliver(textBhs({ itt: 9, ttt, cmdSn: CMDSN + 1 + i, expStatSn: STATSN + i + 1 }));
    }
    expect(pieces.length).toBeGreaterThan(4);
    const whole = parseTextKeys(Buffer.concat(pieces));
    expect(whole).toHaveLength(90);
    expect(whole).toEqual(sendTargets('All', { catalog: big, portalGroup: 'big', session: { type: 'Discovery' }, localAddress: conn.localAddress }));
  });

  it('reassembles a request sent with the C bit', () => {
    const { conn } = session();
    const body = keys([['X-com.example.note', 'n'.repeat(100)], ['SendTargets', 'iqn.2026-11.org.example:b']]);
    conn.deliver(textBhs({ final: false, cont: true, itt: 3, cmdSn: CMDSN, expStatSn: STATSN, dataLength: 60 }), body.subarray(0, 60));
    const ack = decodeBhs(conn.sent[0]!.bhs);
    expect(ack).toMatchObject({ type: 'TextResponse', final: false, continue: false, dataSegmentLength: 0 });
    const ttt = (ack as { targetTransferTag: number }).targetTransferTag;
    expect(ttt).not.toBe(0xffffffff);
    conn.deliver(textBhs({ itt: 3, ttt, cmdSn: CMDSN + 1, expStatSn: STATSN + 1, dataLength: body.length - 60 }), body.subarray(60));
    expect(parseTextKeys(conn.sent[1]!.data)).toEqual([
      ['X-com.example.note', 'NotUnderstood'],
      ['TargetName', 'iqn.2026-11.org.example:b'],
      ['TargetAddress', '192.0.2.10:3260,1'],
      ['TargetAddress', '[2001:db8::10]:3261,1'],
      ['TargetAddress', '192.0.2.10:3262,1'],
    ]);
  });

  it('answers other keys NotUnderstood or Reject', () => {
    const { conn } = session();
    const body = keys([['MaxRecvDataSegmentLength', '4096'], ['Frobnicate', '1']]);
    conn.deliver(textBhs({ itt: 1, cmdSn: CMDSN, expStatSn: STATSN, dataLength: body.length }), body);
    expect(parseTextKeys(conn.sent[0]!.data)).toEqual([
      ['MaxRecvDataSegmentLength', 'Reject'],
      ['Frobnicate', 'NotUnderstood'],
    ]);
  });

  it('echoes a NOP-Out ping and ignores one that wants no answer', () => {
    const { conn } = session();
    conn.deliver(nopOutBhs({ itt: 0xffffffff, cmdSn: CMDSN, expStatSn: STATSN }));
    expect(conn.sent).toEqual([]);
    const ping = Buffer.from('ping-data');
    conn.deliver(nopOutBhs({ itt: 44, lun: 0x01000000, cmdSn: CMDSN, expStatSn: STATSN, dataLength: ping.length }), ping);
    const h = decodeBhs(conn.sent[0]!.bhs);
    expect(h).toMatchObject({ type: 'NopIn', initiatorTaskTag: 44, targetTransferTag: 0xffffffff, statSn: STATSN, expCmdSn: CMDSN });
    expect(conn.sent[0]!.data.toString()).toBe('ping-data');
    expect(conn.sent[0]!.bhs.readUInt32BE(8)).toBe(0x01000000);
  });

  it('answers Logout and closes after the response was sent', async () => {
    const { conn, closed } = session();
    conn.deliver(logoutBhs({ itt: 12, cmdSn: CMDSN, expStatSn: STATSN }));
    expect(decodeBhs(conn.sent[0]!.bhs)).toMatchObject({ type: 'LogoutResponse', response: 0, initiatorTaskTag: 12, statSn: STATSN });
    expect(conn.closed).toBe(false);
    await tick();
    expect(conn.closed).toBe(true);
    expect(conn.freed).toBe(true);
    expect(closed()).toBe(true);
  });

  it('answers a Logout for recovery with "recovery not supported"', () => {
    const { conn } = session();
    conn.deliver(logoutBhs({ reason: 2, cmdSn: CMDSN, expStatSn: STATSN }));
    expect(decodeBhs(conn.sent[0]!.bhs)).toMatchObject({ type: 'LogoutResponse', response: 2 });
  });

  it.each<[string, Buffer, number]>([
    ['a SCSI command', scsiCommandBhs({ itt: 1, cmdSn: CMDSN, expStatSn: STATSN }), RejectReason.CommandNotSupported],
    ['a Login Request in full feature phase', loginBhs({ transit: true, csg: 1, nsg: 3, cmdSn: CMDSN }), RejectReason.ProtocolError],
    ['a CmdSN going back', textBhs({ itt: 1, cmdSn: CMDSN - 1, expStatSn: STATSN }), RejectReason.ProtocolError],
    ['an unknown Target Transfer Tag', textBhs({ itt: 1, ttt: 1234, cmdSn: CMDSN, expStatSn: STATSN }), RejectReason.InvalidPduField],
    ['a Text Request with F and C', textBhs({ final: true, cont: true, itt: 1, cmdSn: CMDSN, expStatSn: STATSN }), RejectReason.ProtocolError],
  ])('rejects %s, then drops the connection', async (_name, bhs, reason) => {
    const { conn, closed } = session();
    conn.deliver(bhs);
    expect(conn.sent).toHaveLength(1);
    const h = decodeBhs(conn.sent[0]!.bhs);
    expect(h).toMatchObject({ type: 'Reject', reason, initiatorTaskTag: 0xffffffff, statSn: STATSN });
    expect(conn.sent[0]!.data.equals(bhs)).toBe(true);
    // Nothing more is answered once the session is over.
    conn.deliver(nopOutBhs({ itt: 1, cmdSn: CMDSN, expStatSn: STATSN }));
    expect(conn.sent).toHaveLength(1);
    await tick();
    expect(conn.closed).toBe(true);
    expect(closed()).toBe(true);
  });

  it('closes an idle session', async () => {
    const { conn, closed } = session({ idleTimeoutMs: 20 });
    await new Promise((r) => setTimeout(r, 50));
    expect(conn.closed).toBe(true);
    expect(closed()).toBe(true);
  });

  it('closes on a connection error', () => {
    const { conn, closed } = session();
    conn.onError(conn, new Error('reset'));
    expect(conn.closed).toBe(true);
    expect(closed()).toBe(true);
  });
});
