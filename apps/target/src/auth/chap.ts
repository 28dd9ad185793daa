/**
 * CHAP for iSCSI login (RFC 7143 §12.1.3 on top of RFC 1994; FreeBSD ctld
 * `chap.c` and the CHAP part of `login.c`), as a pure state machine.
 *
 * What it does:
 * - `decodeBinaryValue` / `encodeHex` / `decodeChapNumber`: the value
 *   encodings of RFC 7143 §6.1 (hex-constant `0x…`, base64-constant `0b…`,
 *   decimal numbers), strict and bounded;
 * - `chapResponse`: MD5(Identifier ‖ secret ‖ Challenge) (RFC 1994 §4.1);
 * - `ChapExchange`: the target side of one exchange: takes `CHAP_A` (only
 *   algorithm 5, MD5), answers `CHAP_A=5`, a random `CHAP_I` and a random
 *   `CHAP_C` of `CHAP_CHALLENGE_BYTES` (1024, as ctld), then takes
 *   `CHAP_N`/`CHAP_R`, looks the user up, compares the response in constant
 *   time (`crypto.timingSafeEqual`), and — if the initiator sent
 *   `CHAP_I`/`CHAP_C` — answers mutual CHAP with the group's mutual user and
 *   secret, refusing a challenge identical to ours (a reflection attack,
 *   RFC 7143 §12.1.3 "MUST NOT" reuse). It keeps what discovery filtering
 *   needs (`verifyWith`: ctld's `chap_authenticate` re-run with another
 *   secret).
 *
 * Failures are thrown as `LoginRejectError`: unsupported algorithm, unknown
 * user, wrong response, reflection, mutual CHAP where none is configured or
 * missing where it is required → 0x0201 (authentication failure); a missing
 * CHAP key → 0x0207 (missing parameter, as ctld); a malformed or oversized
 * value, or CHAP keys out of order → 0x0200 (initiator error).
 *
 * What it does not do: no PDUs, no stages, no AuthMethod negotiation
 * (`login/login.ts`), no SRP/Kerberos/SPKM, no algorithms other than MD5
 * (RFC 7143 §12.1.3: MD5 is the one that MUST be supported).
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { TextKeyList } from '@iscsi-target/icl-core';
import type { AuthGroupConfig, ChapCredential } from '../config/model.js';
import { LoginRejectError } from '../login/errors.js';

/** RFC 1994 / IANA PPP authentication algorithm 5: CHAP with MD5. */
export const CHAP_ALGORITHM_MD5 = 5;
/** Our challenge length in bytes (ctld `CHAP_CHALLENGE_LEN`). */
export const CHAP_CHALLENGE_BYTES = 1024;
/** MD5 digest length: every CHAP_R must have exactly this many bytes. */
export const CHAP_DIGEST_BYTES = 16;
/** Largest challenge we accept from the initiator (mutual CHAP). */
export const MAX_INITIATOR_CHALLENGE_BYTES = 1024;
/** Shortest challenge we accept from the initiator: shorter ones make the response easy to precompute. */
export const MIN_INITIATOR_CHALLENGE_BYTES = 16;
/** Longest CHAP_N we accept (RFC 7143 §6.1: text values up to 255 bytes unless stated otherwise). */
export const MAX_CHAP_NAME_BYTES = 255;

const HEX_RE = /^[0-9a-fA-F]+$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes an RFC 7143 §6.1 binary value: `0x`/`0X` + hex digits (an odd
 * count implies a leading zero nibble) or `0b`/`0B` + base64 (RFC 4648,
 * padded). Returns null when malformed or longer than `maxBytes`. The
 * result is a new Buffer owned by the caller.
 */
export function decodeBinaryValue(value: string, maxBytes: number): Buffer | null {
  if (value.length < 3) return null;
  const prefix = value.slice(0, 2);
  const body = value.slice(2);
  if (prefix === '0x' || prefix === '0X') {
    if (!HEX_RE.test(body)) return null;
    if (Math.ceil(body.length / 2) > maxBytes) return null;
    return Buffer.from(body.length % 2 === 1 ? `0${body}` : body, 'hex');
  }
  if (prefix === '0b' || prefix === '0B') {
    if (body.length % 4 !== 0 || !BASE64_RE.test(body)) return null;
    if ((body.length / 4) * 3 - (body.endsWith('==') ? 2 : body.endsWith('=') ? 1 : 0) > maxBytes) return null;
    return Buffer.from(body, 'base64');
  }
  return null;
}

/** `0x` + lower-case hex (the encoding ctld and most initiators send). */
export function encodeHex(buf: Buffer): string {
  return `0x${buf.toString('hex')}`;
}

/**
 * CHAP_I / CHAP_A numbers (RFC 7143 §12.1.3: "A, A1, A2, and I are
 * numbers"): a decimal constant, or a binary value read big-endian.
 * Returns null when malformed or above `max`.
 */
export function decodeChapNumber(value: string, max: number): number | null {
  if (/^[0-9]{1,10}$/.test(value)) {
    const n = Number(value);
    return n <= max ? n : null;
  }
  const bin = decodeBinaryValue(value, 4);
  if (bin === null) return null;
  let n = 0;
  for (const b of bin) n = n * 256 + b;
  return n <= max ? n : null;
}

/** RFC 1994 §4.1: Response = MD5(Identifier ‖ secret ‖ Challenge). */
export function chapResponse(id: number, secret: string | Buffer, challenge: Buffer): Buffer {
  return createHash('md5')
    .update(Buffer.of(id & 0xff))
    .update(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret)
    .update(challenge)
    .digest();
}

/** Where the exchange is. */
export type ChapState = 'wait-a' | 'wait-r' | 'done';

/** What the exchange answered for one key set. */
export interface ChapStep {
  /** Keys to send back. */
  readonly answer: TextKeyList;
  /** True once the initiator is authenticated (and the target, if asked). */
  readonly done: boolean;
}

/** Test hooks: fixed identifier and challenge instead of random ones. */
export interface ChapRandom {
  id(): number;
  challenge(): Buffer;
}

const cryptoRandom: ChapRandom = {
  id: () => randomInt(0, 256),
  challenge: () => randomBytes(CHAP_CHALLENGE_BYTES),
};

/** The CHAP keys of a key set, in order; other keys are left to the caller. */
export function isChapKey(key: string): boolean {
  return key.startsWith('CHAP_');
}

/** A secret nobody has, so an unknown user costs the same MD5 and comparison as a known one. */
const DUMMY_SECRET = randomBytes(16);

/** The target side of one CHAP exchange (see module comment). */
export class ChapExchange {
  readonly #group: AuthGroupConfig;
  readonly #random: ChapRandom;
  #state: ChapState = 'wait-a';
  #id = 0;
  #challenge: Buffer = Buffer.alloc(0);
  #response: Buffer | null = null;
  #credential: ChapCredential | null = null;
  #mutual = false;

  constructor(group: AuthGroupConfig, random: ChapRandom = cryptoRandom) {
    this.#group = group;
    this.#random = random;
  }

  get state(): ChapState {
    return this.#state;
  }

  /** The authenticated user (after `done`). */
  get user(): string | null {
    return this.#state === 'done' ? (this.#credential?.user ?? null) : null;
  }

  /** Whether the target authenticated itself too (mutual CHAP). */
  get mutual(): boolean {
    return this.#mutual;
  }

  /**
   * Takes the CHAP keys of one complete key set (`keys` holds only
   * `CHAP_*` keys). Throws `LoginRejectError`.
   */
  step(keys: TextKeyList): ChapStep {
    const map = new Map<string, string>();
    for (const [k, v] of keys) {
      // RFC 7143 §6.3: a key sent twice is a protocol error.
      if (map.has(k)) throw new LoginRejectError('InitiatorError', `${k} sent twice`);
      map.set(k, v);
    }
    switch (this.#state) {
      case 'wait-a':
        return this.#takeAlgorithm(map);
      case 'wait-r':
        return this.#takeResponse(map);
      case 'done':
        if (map.size > 0) throw new LoginRejectError('InitiatorError', `${[...map.keys()].join(', ')} after CHAP completed`);
        return { answer: [], done: true };
    }
  }

  #takeAlgorithm(map: Map<string, string>): ChapStep {
    const a = map.get('CHAP_A');
    if (a === undefined) {
      if (map.size === 0) return { answer: [], done: false };
      throw new LoginRejectError('MissingParameter', `${[...map.keys()].join(', ')} before CHAP_A`);
    }
    if (map.size > 1) throw new LoginRejectError('InitiatorError', `unexpected ${[...map.keys()].filter((k) => k !== 'CHAP_A').join(', ')} with CHAP_A`);
    if (Buffer.byteLength(a) > 255) throw new LoginRejectError('InitiatorError', 'CHAP_A longer than 255 bytes');
    // RFC 7143 §12.1.3: the target MUST answer with the first algorithm of the list it supports;
    // we support only MD5 (5), and answering Reject leaves nothing to authenticate with.
    const algorithms = a.split(',').map((v) => decodeChapNumber(v, 0xffffffff));
    if (!algorithms.includes(CHAP_ALGORITHM_MD5)) {
      throw new LoginRejectError('AuthenticationFailure', `CHAP_A "${a}" does not offer MD5 (5)`);
    }
    this.#id = this.#random.id() & 0xff;
    this.#challenge = this.#random.challenge();
    this.#state = 'wait-r';
    return {
      answer: [
        ['CHAP_A', String(CHAP_ALGORITHM_MD5)],
        ['CHAP_I', String(this.#id)],
        ['CHAP_C', encodeHex(this.#challenge)],
      ],
      done: false,
    };
  }

  #takeResponse(map: Map<string, string>): ChapStep {
    if (map.size === 0) return { answer: [], done: false };
    for (const k of map.keys()) {
      if (k !== 'CHAP_N' && k !== 'CHAP_R' && k !== 'CHAP_I' && k !== 'CHAP_C') {
        throw new LoginRejectError('InitiatorError', `unexpected ${k} in the CHAP response`);
      }
    }
    const n = map.get('CHAP_N');
    const r = map.get('CHAP_R');
    if (n === undefined) throw new LoginRejectError('MissingParameter', 'CHAP_N missing');
    if (r === undefined) throw new LoginRejectError('MissingParameter', 'CHAP_R missing');
    if (n === '' || Buffer.byteLength(n) > MAX_CHAP_NAME_BYTES) throw new LoginRejectError('InitiatorError', 'CHAP_N empty or longer than 255 bytes');
    const response = decodeBinaryValue(r, CHAP_DIGEST_BYTES);
    if (response === null || response.length !== CHAP_DIGEST_BYTES) {
      throw new LoginRejectError('InitiatorError', `malformed CHAP_R (expected a ${CHAP_DIGEST_BYTES}-byte binary value)`);
    }
    this.#response = response;

    // Look the user up; an unknown user still costs one MD5 and one comparison.
    const cred = this.#group.chap.find((c) => c.user === n) ?? null;
    const ok = this.#matches(cred?.secret ?? DUMMY_SECRET);
    if (cred === null) throw new LoginRejectError('AuthenticationFailure', `CHAP: unknown user "${n}"`);
    if (!ok) throw new LoginRejectError('AuthenticationFailure', `CHAP: wrong response for user "${n}"`);
    this.#credential = cred;

    const mi = map.get('CHAP_I');
    const mc = map.get('CHAP_C');
    const answer: TextKeyList = [];
    if (mi !== undefined || mc !== undefined) {
      if (mi === undefined) throw new LoginRejectError('MissingParameter', 'mutual CHAP: CHAP_C without CHAP_I');
      if (mc === undefined) throw new LoginRejectError('MissingParameter', 'mutual CHAP: CHAP_I without CHAP_C');
      if (cred.mutualUser === null || cred.mutualSecret === null) {
        throw new LoginRejectError('AuthenticationFailure', `initiator asks the target to authenticate for user "${n}", but no mutual user/secret is configured`);
      }
      const id = decodeChapNumber(mi, 255);
      if (id === null) throw new LoginRejectError('InitiatorError', 'malformed CHAP_I (expected a number from 0 to 255)');
      const challenge = decodeBinaryValue(mc, MAX_INITIATOR_CHALLENGE_BYTES);
      if (challenge === null) throw new LoginRejectError('InitiatorError', `malformed or oversized CHAP_C (at most ${MAX_INITIATOR_CHALLENGE_BYTES} bytes)`);
      if (challenge.length < MIN_INITIATOR_CHALLENGE_BYTES) {
        throw new LoginRejectError('AuthenticationFailure', `mutual CHAP challenge of ${challenge.length} bytes; at least ${MIN_INITIATOR_CHALLENGE_BYTES} required`);
      }
      // RFC 7143 §12.1.3: an originator must not reuse the responder's CHAP challenge for the
      // other direction, and the responder must check for it (answering would hand an attacker
      // the response to our own challenge).
      if (challenge.equals(this.#challenge)) {
        throw new LoginRejectError('AuthenticationFailure', 'mutual CHAP challenge is identical to ours (reflection)');
      }
      answer.push(['CHAP_N', cred.mutualUser], ['CHAP_R', encodeHex(chapResponse(id, cred.mutualSecret, challenge))]);
      this.#mutual = true;
    } else if (this.#group.type === 'chap-mutual') {
      // ctld: a chap-mutual group requires the initiator to ask for target authentication.
      throw new LoginRejectError('AuthenticationFailure', `user "${n}": mutual CHAP is required, but the initiator did not send CHAP_I/CHAP_C`);
    }
    this.#state = 'done';
    return { answer, done: true };
  }

  #matches(secret: string | Buffer): boolean {
    const expected = chapResponse(this.#id, secret, this.#challenge);
    return this.#response !== null && timingSafeEqual(expected, this.#response);
  }

  /**
   * Whether the initiator's response of this (completed) exchange is also
   * right for `secret` (ctld `chap_authenticate`, used by discovery-filter
   * portal-name-auth to check the discovery credentials against a target's).
   */
  verifyWith(secret: string): boolean {
    if (this.#state !== 'done') return false;
    return this.#matches(secret);
  }
}
