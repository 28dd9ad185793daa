import { describe, expect, it } from 'vitest';
import type { TextKeyList } from '@iscsi-target/icl-core';
import { LoginRejectError } from '../src/login/errors.js';
import { Negotiator, parseLeadingKeys, parseNumber, type NegotiationPolicy } from '../src/login/negotiate.js';
import { negotiationPolicy } from '../src/options.js';

const UNLIMITED = { maxRecvDataSegmentLength: 0, maxSendDataSegmentLength: 0, maxBurstLength: 0, firstBurstLength: 0 };
const POLICY: NegotiationPolicy = negotiationPolicy(UNLIMITED);

function normal(policy: NegotiationPolicy = POLICY): Negotiator {
  return new Negotiator('Normal', policy);
}

/** Answers of one operational key set, without our MaxRecvDataSegmentLength declaration. */
function op(n: Negotiator, keys: TextKeyList): TextKeyList {
  return n.respond(keys, 'operational', false).filter(([k]) => k !== 'MaxRecvDataSegmentLength');
}

function rejectOf(fn: () => unknown): LoginRejectError {
  try {
    fn();
  } catch (e) {
    if (e instanceof LoginRejectError) return e;
    throw e;
  }
  throw new Error('expected a LoginRejectError');
}

describe('negotiation policy', () => {
  it('caps our offers by the driver limits (0 = no opinion)', () => {
    expect(POLICY).toMatchObject({
      maxRecvDataSegmentLength: 262144,
      maxSendDataSegmentLength: 0xffffff,
      maxBurstLength: 1048576,
      firstBurstLength: 262144,
      maxConnections: 1,
      errorRecoveryLevel: 0,
      maxOutstandingR2t: 1,
      defaultTime2Retain: 0,
      protocolLevel: 1,
    });
    const p = negotiationPolicy({ maxRecvDataSegmentLength: 65536, maxSendDataSegmentLength: 32768, maxBurstLength: 131072, firstBurstLength: 0 });
    expect(p).toMatchObject({ maxRecvDataSegmentLength: 65536, maxSendDataSegmentLength: 32768, maxBurstLength: 131072, firstBurstLength: 131072 });
    expect(() => negotiationPolicy(UNLIMITED, { maxBurstLength: 100 })).toThrow('maxBurstLength must be an integer in [512, 16777215], got 100');
  });

  it('parses RFC 7143 numerical values', () => {
    expect(parseNumber('0')).toBe(0);
    expect(parseNumber('262144')).toBe(262144);
    expect(parseNumber('0x2000')).toBe(8192);
    expect(parseNumber('0X1f')).toBe(31);
    expect(parseNumber('012')).toBeNull();
    expect(parseNumber('-1')).toBeNull();
    expect(parseNumber('1e3')).toBeNull();
    expect(parseNumber('')).toBeNull();
    expect(parseNumber('abc')).toBeNull();
  });
});

describe('leading keys (RFC 7143 §6.3)', () => {
  const iqn = 'iqn.1994-05.com.redhat:client';
  it('extracts names, alias and session type', () => {
    expect(parseLeadingKeys([['InitiatorName', iqn], ['InitiatorAlias', 'host1'], ['SessionType', 'Discovery']])).toEqual({
      initiatorName: iqn,
      initiatorAlias: 'host1',
      sessionType: 'Discovery',
      targetName: null,
      nameWarning: null,
    });
    expect(parseLeadingKeys([['InitiatorName', 'weird'], ['TargetName', 'iqn.2026-11.org.nodejs-iscsi:t0']])).toMatchObject({
      sessionType: 'Normal',
      targetName: 'iqn.2026-11.org.nodejs-iscsi:t0',
      nameWarning: '"weird" should start with "iqn.", "eui." or "naa."',
    });
  });

  it.each<[TextKeyList, string, number, number, string]>([
    [[['TargetName', 'iqn.2026-11.x:y']], 'MissingParameter', 2, 7, 'no InitiatorName in the first Login Request'],
    [[['InitiatorName', iqn]], 'MissingParameter', 2, 7, 'no TargetName in the first Login Request of a Normal session'],
    [[['InitiatorName', iqn], ['SessionType', 'Normal']], 'MissingParameter', 2, 7, 'no TargetName in the first Login Request of a Normal session'],
    [[['InitiatorName', iqn], ['SessionType', 'Admin']], 'InitiatorError', 2, 0, 'invalid SessionType "Admin"'],
    [[['InitiatorName', '']], 'InitiatorError', 2, 0, 'invalid InitiatorName: empty iSCSI name'],
    [[['InitiatorName', 'iqn.a b']], 'InitiatorError', 2, 0, 'invalid InitiatorName: iSCSI name contains blanks or control characters'],
    [[['InitiatorName', `iqn.${'x'.repeat(220)}`], ['SessionType', 'Discovery']], 'InitiatorError', 2, 0, 'invalid InitiatorName: iSCSI name longer than 223 bytes'],
    [[['InitiatorName', iqn], ['TargetName', '']], 'InitiatorError', 2, 0, 'invalid TargetName: empty iSCSI name'],
  ])('%j → %s', (keys, status, cls, detail, message) => {
    const e = rejectOf(() => parseLeadingKeys(keys));
    expect([e.status, e.statusClass, e.statusDetail, e.message]).toEqual([status, cls, detail, message]);
  });
});

describe('security stage', () => {
  it('consumes the leading keys and answers AuthMethod=None', () => {
    const n = normal();
    const out = n.respond(
      [['InitiatorName', 'iqn.x'], ['InitiatorAlias', 'a'], ['SessionType', 'Normal'], ['TargetName', 'iqn.y'], ['AuthMethod', 'None']],
      'security',
      true,
    );
    expect(out).toEqual([['AuthMethod', 'None']]);
  });

  it('picks None from a list and rejects a list without it (the key keeps its default)', () => {
    expect(normal().respond([['AuthMethod', 'CHAP,None']], 'security', true)).toEqual([['AuthMethod', 'None']]);
    const n = normal();
    expect(n.respond([['AuthMethod', 'CHAP,SRP']], 'security', true)).toEqual([['AuthMethod', 'Reject']]);
    expect(n.authMethodRejected).toBe(true);
  });

  it('answers authentication-method keys Irrelevant and unknown ones NotUnderstood', () => {
    const out = normal().respond(
      [['CHAP_A', '5'], ['KRB_AP_REQ', 'x'], ['X-com.example.foo', '1'], ['X#org.example.bar', '1'], ['Frobnicate', 'Yes']],
      'security',
      true,
    );
    expect(out).toEqual([
      ['CHAP_A', 'Irrelevant'],
      ['KRB_AP_REQ', 'Irrelevant'],
      ['X-com.example.foo', 'NotUnderstood'],
      ['X#org.example.bar', 'NotUnderstood'],
      ['Frobnicate', 'NotUnderstood'],
    ]);
  });

  it('refuses operational keys in the security stage and security keys in the operational stage', () => {
    expect(rejectOf(() => normal().respond([['MaxBurstLength', '4096']], 'security', true))).toMatchObject({
      status: 'InitiatorError',
      message: 'key MaxBurstLength is not allowed in the security stage',
    });
    expect(rejectOf(() => normal().respond([['AuthMethod', 'None']], 'operational', true))).toMatchObject({
      status: 'InitiatorError',
      message: 'key AuthMethod is not allowed in the operational stage',
    });
    expect(rejectOf(() => normal().respond([['CHAP_A', '5']], 'operational', true))).toMatchObject({
      status: 'InitiatorError',
      message: 'security key CHAP_A in the operational stage',
    });
  });
});

describe('operational stage: every key', () => {
  it('declares our MaxRecvDataSegmentLength once, in the first operational response', () => {
    const n = normal();
    expect(n.respond([], 'operational', false)).toEqual([['MaxRecvDataSegmentLength', '262144']]);
    expect(n.respond([['MaxConnections', '1']], 'operational', false)).toEqual([['MaxConnections', '1']]);
    expect(n.respond([], 'security', true)).toEqual([]);
  });

  it('answers the keys Linux open-iscsi sends', () => {
    const n = normal();
    const out = n.respond(
      [
        ['HeaderDigest', 'None'],
        ['DataDigest', 'None'],
        ['DefaultTime2Wait', '2'],
        ['DefaultTime2Retain', '0'],
        ['IFMarker', 'No'],
        ['OFMarker', 'No'],
        ['ErrorRecoveryLevel', '0'],
        ['InitialR2T', 'No'],
        ['ImmediateData', 'Yes'],
        ['MaxBurstLength', '16776192'],
        ['FirstBurstLength', '262144'],
        ['MaxOutstandingR2T', '1'],
        ['MaxConnections', '1'],
        ['DataPDUInOrder', 'Yes'],
        ['DataSequenceInOrder', 'Yes'],
        ['MaxRecvDataSegmentLength', '262144'],
      ],
      'operational',
      false,
    );
    expect(out).toEqual([
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '0'],
      ['IFMarker', 'No'],
      ['OFMarker', 'No'],
      ['ErrorRecoveryLevel', '0'],
      ['InitialR2T', 'Yes'],
      ['ImmediateData', 'Yes'],
      ['MaxBurstLength', '1048576'],
      ['FirstBurstLength', '262144'],
      ['MaxOutstandingR2T', '1'],
      ['MaxConnections', '1'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
    expect(n.takeProposals()).toEqual([]);
    expect(n.finish()).toEqual({
      sessionType: 'Normal',
      headerDigest: false,
      dataDigest: false,
      maxConnections: 1,
      initialR2t: true,
      immediateData: true,
      maxRecvDataSegmentLength: 262144,
      maxSendDataSegmentLength: 262144,
      maxBurstLength: 1048576,
      firstBurstLength: 262144,
      defaultTime2Wait: 2,
      defaultTime2Retain: 0,
      maxOutstandingR2t: 1,
      dataPduInOrder: true,
      dataSequenceInOrder: true,
      errorRecoveryLevel: 0,
      iscsiProtocolLevel: null,
      initiatorAlias: null,
    });
  });

  it('selects digests by the initiator order among those we allow', () => {
    const n = normal();
    expect(op(n, [['HeaderDigest', 'CRC32C,None'], ['DataDigest', 'None,CRC32C']])).toEqual([
      ['HeaderDigest', 'CRC32C'],
      ['DataDigest', 'None'],
    ]);
    expect(n.finish()).toMatchObject({ headerDigest: true, dataDigest: false });
    expect(op(normal(), [['HeaderDigest', 'MD5,CRC32C'], ['DataDigest', 'MD5']])).toEqual([
      ['HeaderDigest', 'CRC32C'],
      ['DataDigest', 'Reject'],
    ]);
    const noCrc = negotiationPolicy(UNLIMITED, { headerDigest: ['None'], dataDigest: ['None'] });
    expect(op(normal(noCrc), [['HeaderDigest', 'CRC32C'], ['DataDigest', 'CRC32C,None']])).toEqual([
      ['HeaderDigest', 'Reject'],
      ['DataDigest', 'None'],
    ]);
  });

  it('applies the result functions (AND, OR, min, max)', () => {
    const n = normal(negotiationPolicy(UNLIMITED, { initialR2t: false, immediateData: false }));
    expect(
      op(n, [
        ['InitialR2T', 'No'],
        ['ImmediateData', 'Yes'],
        ['DefaultTime2Wait', '7'],
        ['DefaultTime2Retain', '20'],
        ['MaxOutstandingR2T', '8'],
        ['ErrorRecoveryLevel', '2'],
        ['MaxConnections', '4'],
        ['MaxBurstLength', '0x10000'],
        ['FirstBurstLength', '4096'],
        ['DataPDUInOrder', 'No'],
        ['DataSequenceInOrder', 'No'],
      ]),
    ).toEqual([
      ['InitialR2T', 'No'],
      ['ImmediateData', 'No'],
      ['DefaultTime2Wait', '7'],
      ['DefaultTime2Retain', '0'],
      ['MaxOutstandingR2T', '1'],
      ['ErrorRecoveryLevel', '0'],
      ['MaxConnections', '1'],
      ['MaxBurstLength', '65536'],
      ['FirstBurstLength', '4096'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
    ]);
    expect(n.finish()).toMatchObject({ initialR2t: false, immediateData: false, maxBurstLength: 65536, firstBurstLength: 4096, defaultTime2Wait: 7 });
  });

  it('handles obsolete markers, protocol level and task reporting', () => {
    const n = normal();
    expect(
      op(n, [
        ['OFMarker', 'Yes'],
        ['IFMarker', 'maybe'],
        ['OFMarkInt', '2048~8192'],
        ['IFMarkInt', '2048'],
        ['iSCSIProtocolLevel', '2'],
        ['TaskReporting', 'FastAbort,RFC3720'],
      ]),
    ).toEqual([
      ['OFMarker', 'No'],
      ['IFMarker', 'Reject'],
      ['OFMarkInt', 'Reject'],
      ['IFMarkInt', 'Reject'],
      ['iSCSIProtocolLevel', '1'],
      ['TaskReporting', 'RFC3720'],
    ]);
    expect(n.finish().iscsiProtocolLevel).toBe(1);
    expect(op(normal(), [['iSCSIProtocolLevel', '0'], ['TaskReporting', 'FastAbort']])).toEqual([
      ['iSCSIProtocolLevel', '0'],
      ['TaskReporting', 'Reject'],
    ]);
    expect(op(normal(), [['iSCSIProtocolLevel', '32']])).toEqual([['iSCSIProtocolLevel', 'Reject']]);
  });

  it('answers Reject to malformed or out-of-range negotiated values and keeps the default', () => {
    const n = normal();
    expect(
      op(n, [
        ['MaxBurstLength', '511'],
        ['FirstBurstLength', 'lots'],
        ['MaxConnections', '0'],
        ['DefaultTime2Wait', '3601'],
        ['ErrorRecoveryLevel', '3'],
        ['InitialR2T', 'yes'],
        ['ImmediateData', 'true'],
        ['MaxOutstandingR2T', '65536'],
        ['DefaultTime2Retain', `${'9'.repeat(300)}`],
      ]),
    ).toEqual([
      ['MaxBurstLength', 'Reject'],
      ['FirstBurstLength', 'Reject'],
      ['MaxConnections', 'Reject'],
      ['DefaultTime2Wait', 'Reject'],
      ['ErrorRecoveryLevel', 'Reject'],
      ['InitialR2T', 'Reject'],
      ['ImmediateData', 'Reject'],
      ['MaxOutstandingR2T', 'Reject'],
      ['DefaultTime2Retain', 'Reject'],
    ]);
    expect(n.finish()).toMatchObject({ maxBurstLength: 262144, firstBurstLength: 65536, maxConnections: 1, initialR2t: true });
  });

  it('records the initiator MaxRecvDataSegmentLength as our send limit, capped by the driver', () => {
    const n = normal(negotiationPolicy({ ...UNLIMITED, maxSendDataSegmentLength: 65536 }));
    op(n, [['MaxRecvDataSegmentLength', '262144']]);
    expect(n.finish().maxSendDataSegmentLength).toBe(65536);
    const m = normal();
    op(m, [['MaxRecvDataSegmentLength', '0x1000']]);
    expect(m.finish().maxSendDataSegmentLength).toBe(4096);
    // Not declared: the RFC default 8192 applies.
    const d = normal();
    op(d, []);
    expect(d.finish().maxSendDataSegmentLength).toBe(8192);
  });

  it('ignores special values offered by the initiator and stores InitiatorAlias', () => {
    const n = normal();
    expect(op(n, [['MaxBurstLength', 'Irrelevant'], ['ImmediateData', 'NotUnderstood'], ['InitiatorAlias', 'node7']])).toEqual([]);
    expect(n.finish()).toMatchObject({ maxBurstLength: 262144, immediateData: true, initiatorAlias: 'node7' });
  });
});

describe('login rejects from negotiation (initiator error 0x0200)', () => {
  it.each<[string, () => unknown, string]>([
    ['re-declared key', () => normal().respond([['MaxBurstLength', '4096'], ['MaxBurstLength', '4096']], 'operational', false), 'key MaxBurstLength sent twice during login'],
    [
      're-declared key in a later PDU',
      () => {
        const n = normal();
        n.respond([['DataDigest', 'None']], 'operational', false);
        n.respond([['DataDigest', 'None']], 'operational', false);
      },
      'key DataDigest sent twice during login',
    ],
    ['leading key after the first request', () => normal().respond([['TargetName', 'iqn.x']], 'operational', false), 'TargetName sent after the first Login Request'],
    ['TargetAddress from the initiator', () => normal().respond([['TargetAddress', '10.0.0.1:3260,1']], 'operational', false), 'TargetAddress may only be sent by a target'],
    ['TargetAlias from the initiator', () => normal().respond([['TargetAlias', 'x']], 'security', true), 'TargetAlias may only be sent by a target'],
    ['TargetPortalGroupTag from the initiator', () => normal().respond([['TargetPortalGroupTag', '1']], 'security', true), 'TargetPortalGroupTag may only be sent by a target'],
    ['SendTargets during login', () => normal().respond([['SendTargets', 'All']], 'operational', false), 'SendTargets is only allowed in full feature phase'],
    ['malformed MaxRecvDataSegmentLength', () => normal().respond([['MaxRecvDataSegmentLength', '100']], 'operational', false), 'invalid MaxRecvDataSegmentLength: "100"'],
    ['InitiatorAlias over 255 bytes', () => normal().respond([['InitiatorAlias', 'a'.repeat(256)]], 'security', true), 'invalid InitiatorAlias: value of 256 bytes'],
    [
      'FirstBurstLength > MaxBurstLength after all keys',
      () => {
        const n = normal();
        n.respond([['FirstBurstLength', '65536'], ['MaxBurstLength', '16384']], 'operational', false);
        n.finish();
      },
      'FirstBurstLength 65536 exceeds MaxBurstLength 16384',
    ],
  ])('%s', (_name, fn, message) => {
    const e = rejectOf(fn);
    expect([e.statusClass, e.statusDetail, e.message]).toEqual([2, 0, message]);
  });
});

describe('discovery sessions', () => {
  it('answers Irrelevant to keys irrelevant to discovery and never uses digests', () => {
    const n = new Negotiator('Discovery', POLICY);
    expect(
      n.respond(
        [
          ['HeaderDigest', 'CRC32C,None'],
          ['DataDigest', 'CRC32C'],
          ['MaxConnections', '1'],
          ['InitialR2T', 'Yes'],
          ['ImmediateData', 'Yes'],
          ['MaxBurstLength', '262144'],
          ['FirstBurstLength', '65536'],
          ['MaxOutstandingR2T', '1'],
          ['DataPDUInOrder', 'Yes'],
          ['DataSequenceInOrder', 'Yes'],
          ['TaskReporting', 'RFC3720'],
          ['DefaultTime2Wait', '2'],
          ['ErrorRecoveryLevel', '0'],
          ['MaxRecvDataSegmentLength', '32768'],
        ],
        'operational',
        false,
      ),
    ).toEqual([
      ['HeaderDigest', 'None'],
      ['DataDigest', 'Reject'],
      ['MaxConnections', 'Irrelevant'],
      ['InitialR2T', 'Irrelevant'],
      ['ImmediateData', 'Irrelevant'],
      ['MaxBurstLength', 'Irrelevant'],
      ['FirstBurstLength', 'Irrelevant'],
      ['MaxOutstandingR2T', 'Irrelevant'],
      ['DataPDUInOrder', 'Irrelevant'],
      ['DataSequenceInOrder', 'Irrelevant'],
      ['TaskReporting', 'Irrelevant'],
      ['DefaultTime2Wait', '2'],
      ['ErrorRecoveryLevel', '0'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
    expect(n.takeProposals()).toEqual([]);
    expect(n.needsOperationalStage()).toBe(false);
    expect(n.finish()).toMatchObject({ sessionType: 'Discovery', headerDigest: false, dataDigest: false, maxSendDataSegmentLength: 32768 });
  });
});

describe('target proposals when a default exceeds a driver limit', () => {
  const small = negotiationPolicy({ maxRecvDataSegmentLength: 4096, maxSendDataSegmentLength: 0, maxBurstLength: 65536, firstBurstLength: 16384 });

  it('must not skip the operational stage', () => {
    expect(normal(small).needsOperationalStage()).toBe(true);
    expect(normal().needsOperationalStage()).toBe(false);
  });

  it('proposes MaxBurstLength and FirstBurstLength once and accepts answers up to the offer', () => {
    const n = normal(small);
    expect(n.respond([['HeaderDigest', 'None']], 'operational', false)).toEqual([
      ['HeaderDigest', 'None'],
      ['MaxRecvDataSegmentLength', '4096'],
    ]);
    expect(n.takeProposals()).toEqual([
      ['MaxBurstLength', '65536'],
      ['FirstBurstLength', '16384'],
    ]);
    expect(n.awaitingAnswers).toBe(true);
    expect(n.takeProposals()).toEqual([]);
    expect(n.respond([['MaxBurstLength', '32768'], ['FirstBurstLength', '16384']], 'operational', false)).toEqual([]);
    expect(n.awaitingAnswers).toBe(false);
    expect(n.finish()).toMatchObject({ maxBurstLength: 32768, firstBurstLength: 16384, maxRecvDataSegmentLength: 4096 });
  });

  it('does not propose keys the initiator negotiated', () => {
    const n = normal(small);
    op(n, [['MaxBurstLength', '1048576'], ['FirstBurstLength', '8192']]);
    expect(n.takeProposals()).toEqual([]);
    expect(n.finish()).toMatchObject({ maxBurstLength: 65536, firstBurstLength: 8192 });
  });

  it('refuses an answer above the offer, a rejected offer or a missing answer', () => {
    const a = normal(small);
    a.takeProposals();
    expect(rejectOf(() => a.respond([['MaxBurstLength', '131072']], 'operational', false)).message).toBe(
      'unacceptable answer MaxBurstLength=131072 to our offer of 65536',
    );
    const b = normal(small);
    b.takeProposals();
    expect(rejectOf(() => b.respond([['FirstBurstLength', 'Reject']], 'operational', false)).message).toBe(
      'unacceptable answer FirstBurstLength=Reject to our offer of 16384',
    );
    const c = normal(small);
    c.takeProposals();
    expect(rejectOf(() => c.finish())).toMatchObject({ statusClass: 2, statusDetail: 0, message: 'no answer to MaxBurstLength, FirstBurstLength' });
  });

  it('uses the RFC default for our MaxRecvDataSegmentLength when the operational stage was skipped', () => {
    const n = normal();
    n.respond([['AuthMethod', 'None']], 'security', true);
    expect(n.finish().maxRecvDataSegmentLength).toBe(8192);
  });
});
