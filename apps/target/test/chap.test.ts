import { describe, expect, it } from 'vitest';
import {
  CHAP_CHALLENGE_BYTES,
  ChapExchange,
  chapResponse,
  decodeBinaryValue,
  decodeChapNumber,
  encodeHex,
  type ChapRandom,
} from '../src/auth/chap.js';
import type { AuthGroupConfig } from '../src/config/model.js';
import { LoginRejectError } from '../src/login/errors.js';

const POS = { file: 't', line: 1, col: 1 };
const CHALLENGE = Buffer.from(Array.from({ length: 16 }, (_, i) => i + 1));
const FIXED: ChapRandom = { id: () => 7, challenge: () => Buffer.from(CHALLENGE) };

function group(type: 'chap' | 'chap-mutual', mutual = false): AuthGroupConfig {
  return {
    name: 'ag',
    type,
    chap: [
      {
        user: 'alice',
        secret: 'initiator-secret',
        mutualUser: mutual ? 'target0' : null,
        mutualSecret: mutual ? 'target-secret-1' : null,
      },
    ],
    initiatorNames: [],
    initiatorPortals: [],
    pos: POS,
  };
}

// MD5(0x07 ‖ "initiator-secret" ‖ 01..10), computed independently (Python hashlib).
const ALICE_R = '0xb7b647fb02ad1f52a251ee090b464613';
// MD5(0x2a ‖ "target-secret-1" ‖ aa × 16).
const TARGET_R = '0xe87a8f4d807fc56ae199d792af487cd8';

function reject(f: () => unknown): LoginRejectError {
  try {
    f();
  } catch (e) {
    if (e instanceof LoginRejectError) return e;
    throw e;
  }
  throw new Error('expected a LoginRejectError');
}

function started(g: AuthGroupConfig): ChapExchange {
  const x = new ChapExchange(g, FIXED);
  const s = x.step([['CHAP_A', '5']]);
  expect(s.done).toBe(false);
  return x;
}

describe('CHAP value encodings (RFC 7143 §6.1)', () => {
  it('decodes hex and base64 binary values, odd hex digits with an implied leading zero', () => {
    expect(decodeBinaryValue('0x0a0B', 16)).toEqual(Buffer.from([0x0a, 0x0b]));
    expect(decodeBinaryValue('0XABC', 16)).toEqual(Buffer.from([0x0a, 0xbc]));
    expect(decodeBinaryValue('0bAQID', 16)).toEqual(Buffer.from([1, 2, 3]));
    expect(decodeBinaryValue('0BAQI=', 16)).toEqual(Buffer.from([1, 2]));
    expect(decodeBinaryValue('0bAQ==', 16)).toEqual(Buffer.from([1]));
  });

  it.each(['', '0x', '0b', 'abcd', '0xzz', '0x12 34', '0bAQI', '0bA===', '0b@@@@', '1234'])('refuses malformed %j', (v) => {
    expect(decodeBinaryValue(v, 1024)).toBeNull();
  });

  it('refuses values above the size limit', () => {
    expect(decodeBinaryValue(`0x${'ab'.repeat(17)}`, 16)).toBeNull();
    expect(decodeBinaryValue(`0x${'ab'.repeat(16)}`, 16)).toHaveLength(16);
    expect(decodeBinaryValue(`0b${Buffer.alloc(18).toString('base64')}`, 16)).toBeNull();
  });

  it('numbers: decimal, hex, base64, bounded', () => {
    expect(decodeChapNumber('5', 255)).toBe(5);
    expect(decodeChapNumber('0x2a', 255)).toBe(42);
    expect(decodeChapNumber('0bKg==', 255)).toBe(42);
    expect(decodeChapNumber('256', 255)).toBeNull();
    expect(decodeChapNumber('-1', 255)).toBeNull();
    expect(decodeChapNumber('5x', 255)).toBeNull();
  });

  it('computes RFC 1994 responses (checked against an independent MD5)', () => {
    expect(encodeHex(chapResponse(7, 'initiator-secret', CHALLENGE))).toBe(ALICE_R);
    expect(encodeHex(chapResponse(0x2a, 'target-secret-1', Buffer.alloc(16, 0xaa)))).toBe(TARGET_R);
  });
});

describe('ChapExchange: the target side', () => {
  it('answers CHAP_A with MD5, a random CHAP_I and a 1024-byte random CHAP_C', () => {
    const x = new ChapExchange(group('chap'));
    const s = x.step([['CHAP_A', '7,5']]);
    expect(s.answer.map(([k]) => k)).toEqual(['CHAP_A', 'CHAP_I', 'CHAP_C']);
    expect(s.answer[0]).toEqual(['CHAP_A', '5']);
    const id = Number(s.answer[1]![1]);
    expect(id).toBeGreaterThanOrEqual(0);
    expect(id).toBeLessThanOrEqual(255);
    const c = s.answer[2]![1];
    expect(c).toMatch(/^0x[0-9a-f]+$/);
    expect(decodeBinaryValue(c, 4096)).toHaveLength(CHAP_CHALLENGE_BYTES);
    // Two exchanges never share a challenge.
    const other = new ChapExchange(group('chap')).step([['CHAP_A', '5']]).answer[2]![1];
    expect(other).not.toBe(c);
  });

  it('authenticates the right response (hex or base64) and keeps the user', () => {
    const x = started(group('chap'));
    const s = x.step([['CHAP_N', 'alice'], ['CHAP_R', ALICE_R]]);
    expect(s).toEqual({ answer: [], done: true });
    expect(x.user).toBe('alice');
    expect(x.mutual).toBe(false);
    const y = started(group('chap'));
    const b64 = `0b${Buffer.from(ALICE_R.slice(2), 'hex').toString('base64')}`;
    expect(y.step([['CHAP_N', 'alice'], ['CHAP_R', b64]]).done).toBe(true);
  });

  it.each<[string, Array<[string, string]>, number, string]>([
    ['wrong response', [['CHAP_N', 'alice'], ['CHAP_R', `0x${'00'.repeat(16)}`]], 1, 'CHAP: wrong response for user "alice"'],
    ['unknown user', [['CHAP_N', 'mallory'], ['CHAP_R', ALICE_R]], 1, 'CHAP: unknown user "mallory"'],
    ['short CHAP_R', [['CHAP_N', 'alice'], ['CHAP_R', '0x1234']], 0, 'malformed CHAP_R (expected a 16-byte binary value)'],
    ['oversized CHAP_R', [['CHAP_N', 'alice'], ['CHAP_R', `0x${'00'.repeat(17)}`]], 0, 'malformed CHAP_R (expected a 16-byte binary value)'],
    ['non-hex CHAP_R', [['CHAP_N', 'alice'], ['CHAP_R', 'b7b647fb02ad1f52a251ee090b464613']], 0, 'malformed CHAP_R (expected a 16-byte binary value)'],
    ['missing CHAP_N', [['CHAP_R', ALICE_R]], 7, 'CHAP_N missing'],
    ['missing CHAP_R', [['CHAP_N', 'alice']], 7, 'CHAP_R missing'],
    ['oversized CHAP_N', [['CHAP_N', 'a'.repeat(256)], ['CHAP_R', ALICE_R]], 0, 'CHAP_N empty or longer than 255 bytes'],
    ['foreign key', [['CHAP_N', 'alice'], ['CHAP_R', ALICE_R], ['CHAP_X', '1']], 0, 'unexpected CHAP_X in the CHAP response'],
    ['mutual without mutual credentials', [['CHAP_N', 'alice'], ['CHAP_R', ALICE_R], ['CHAP_I', '42'], ['CHAP_C', `0x${'aa'.repeat(16)}`]], 1, 'initiator asks the target to authenticate for user "alice", but no mutual user/secret is configured'],
  ])('refuses %s', (_what, keys, detail, message) => {
    const x = started(group('chap'));
    const e = reject(() => x.step(keys));
    expect([e.statusClass, e.statusDetail]).toEqual([2, detail]);
    expect(e.message).toBe(message);
  });

  it.each<[string, Array<[string, string]>, number, string]>([
    ['no MD5 in CHAP_A', [['CHAP_A', '6,7']], 1, 'CHAP_A "6,7" does not offer MD5 (5)'],
    ['malformed CHAP_A', [['CHAP_A', 'md5']], 1, 'CHAP_A "md5" does not offer MD5 (5)'],
    ['oversized CHAP_A', [['CHAP_A', `${'7,'.repeat(200)}5`]], 0, 'CHAP_A longer than 255 bytes'],
    ['CHAP_R before CHAP_A', [['CHAP_N', 'alice'], ['CHAP_R', ALICE_R]], 7, 'CHAP_N, CHAP_R before CHAP_A'],
    ['CHAP_A with extra keys', [['CHAP_A', '5'], ['CHAP_N', 'alice']], 0, 'unexpected CHAP_N with CHAP_A'],
    ['a key twice', [['CHAP_A', '5'], ['CHAP_A', '5']], 0, 'CHAP_A sent twice'],
  ])('refuses %s in the first CHAP step', (_what, keys, detail, message) => {
    const e = reject(() => new ChapExchange(group('chap'), FIXED).step(keys));
    expect([e.statusClass, e.statusDetail]).toEqual([2, detail]);
    expect(e.message).toBe(message);
  });

  it('mutual CHAP: answers with the mutual user and MD5(I ‖ mutual secret ‖ C)', () => {
    const x = started(group('chap-mutual', true));
    const s = x.step([['CHAP_N', 'alice'], ['CHAP_R', ALICE_R], ['CHAP_I', '42'], ['CHAP_C', `0x${'aa'.repeat(16)}`]]);
    expect(s).toEqual({ answer: [['CHAP_N', 'target0'], ['CHAP_R', TARGET_R]], done: true });
    expect(x.mutual).toBe(true);
  });

  it('mutual CHAP: refuses a reflected challenge (identical to ours)', () => {
    const x = started(group('chap-mutual', true));
    const e = reject(() => x.step([['CHAP_N', 'alice'], ['CHAP_R', ALICE_R], ['CHAP_I', '7'], ['CHAP_C', encodeHex(CHALLENGE)]]));
    expect([e.statusClass, e.statusDetail]).toEqual([2, 1]);
    expect(e.message).toBe('mutual CHAP challenge is identical to ours (reflection)');
  });

  it.each<[string, Array<[string, string]>, number, string]>([
    ['no CHAP_I/CHAP_C for a chap-mutual group', [], 1, 'user "alice": mutual CHAP is required, but the initiator did not send CHAP_I/CHAP_C'],
    ['CHAP_C without CHAP_I', [['CHAP_C', `0x${'aa'.repeat(16)}`]], 7, 'mutual CHAP: CHAP_C without CHAP_I'],
    ['CHAP_I without CHAP_C', [['CHAP_I', '1']], 7, 'mutual CHAP: CHAP_I without CHAP_C'],
    ['malformed CHAP_I', [['CHAP_I', '300'], ['CHAP_C', `0x${'aa'.repeat(16)}`]], 0, 'malformed CHAP_I (expected a number from 0 to 255)'],
    ['oversized CHAP_C', [['CHAP_I', '1'], ['CHAP_C', `0x${'aa'.repeat(1025)}`]], 0, 'malformed or oversized CHAP_C (at most 1024 bytes)'],
    ['malformed CHAP_C', [['CHAP_I', '1'], ['CHAP_C', '0xnothex']], 0, 'malformed or oversized CHAP_C (at most 1024 bytes)'],
    ['short CHAP_C', [['CHAP_I', '1'], ['CHAP_C', '0x0102']], 1, 'mutual CHAP challenge of 2 bytes; at least 16 required'],
  ])('mutual CHAP: refuses %s', (_what, extra, detail, message) => {
    const x = started(group('chap-mutual', true));
    const e = reject(() => x.step([['CHAP_N', 'alice'], ['CHAP_R', ALICE_R], ...extra]));
    expect([e.statusClass, e.statusDetail]).toEqual([2, detail]);
    expect(e.message).toBe(message);
  });

  it('verifyWith re-checks the response against another secret (discovery-filter)', () => {
    const x = started(group('chap'));
    expect(x.verifyWith('initiator-secret')).toBe(false); // not done yet
    x.step([['CHAP_N', 'alice'], ['CHAP_R', ALICE_R]]);
    expect(x.verifyWith('initiator-secret')).toBe(true);
    expect(x.verifyWith('another-secret')).toBe(false);
  });

  it('keys after completion are refused; an empty step is fine', () => {
    const x = started(group('chap'));
    x.step([['CHAP_N', 'alice'], ['CHAP_R', ALICE_R]]);
    expect(x.step([])).toEqual({ answer: [], done: true });
    expect(reject(() => x.step([['CHAP_A', '5']])).message).toBe('CHAP_A after CHAP completed');
  });
});
