/**
 * iSCSI text key=value encoding (RFC 7143 §6.1, §5.1): the data segment of
 * Login and Text PDUs.
 *
 * What it does: parses a data segment into an ordered list of
 * `[key, value]` pairs (duplicates kept so that the negotiation code can
 * reject re-declared keys), encodes such a list, reassembles text split over
 * several PDUs with the Continue bit, and splits a long response into
 * PDU-sized pieces.
 *
 * What it does not do: no negotiation semantics (value types, ranges,
 * list selection, "NotUnderstood"/"Irrelevant" answers) — that is the login
 * and text-negotiation code's job. Values are not split on commas.
 *
 * Decisions:
 * - Every pair must be NUL-terminated (RFC 7143 §6.1: "Every key=value
 *   pair, including the last or only pair in a LTDS, MUST be followed by one
 *   null (0x00) delimiter"); a missing final NUL is an `IclProtocolError`,
 *   as in FreeBSD ctld `keys_load`. Empty pairs (consecutive NULs) are
 *   skipped.
 * - Key names: 1..63 bytes of `A-Z a-z 0-9 . - + @ _` (RFC 7143 §6.1), plus
 *   `:` and `#` so that vendor keys (`X-…`) and IANA public extension keys
 *   (`X#…`, RFC 7143 §13.5.4) parse and can be answered NotUnderstood.
 *   A leading capital letter is not enforced.
 * - Values: UTF-8, at most `TEXT_MAX_VALUE_LENGTH` (8192) bytes. RFC 7143
 *   §6.1 caps most values at 255 bytes, but TargetName may hold 223 bytes,
 *   CHAP_C/CHAP_R binary values and SendTargets answers are longer, so one
 *   global cap is applied here and per-key caps are left to the negotiation
 *   code. Empty values are allowed.
 */
import { IclProtocolError } from './errors.js';

/** Ordered `[key, value]` pairs, duplicates preserved. */
export type TextKeyList = Array<[key: string, value: string]>;

/** Longest key name in bytes (RFC 7143 §6.1). */
export const TEXT_MAX_KEY_LENGTH = 63;
/** Longest value in bytes accepted or produced (see module comment). */
export const TEXT_MAX_VALUE_LENGTH = 8192;
/** Default cap of a text reassembled from several PDUs. */
export const TEXT_REASSEMBLY_MAX_DEFAULT = 64 * 1024;

const KEY_NAME = /^[A-Za-z0-9.\-+@_:#]+$/;

function checkKey(key: string, keyBytes: number): void {
  if (keyBytes === 0) throw new IclProtocolError('text key: empty key name');
  // RFC 7143 §6.1: key-name ... must not exceed 63 characters.
  if (keyBytes > TEXT_MAX_KEY_LENGTH) {
    throw new IclProtocolError(`text key: key name of ${keyBytes} bytes exceeds ${TEXT_MAX_KEY_LENGTH}`);
  }
  // RFC 7143 §6.1: letters, digits, dot, minus, plus, commercial at, underscore.
  if (!KEY_NAME.test(key)) throw new IclProtocolError(`text key: invalid key name ${JSON.stringify(key)}`);
}

function checkValueLength(key: string, valueBytes: number): void {
  if (valueBytes > TEXT_MAX_VALUE_LENGTH) {
    throw new IclProtocolError(`text key: value of ${key} is ${valueBytes} bytes, over ${TEXT_MAX_VALUE_LENGTH}`);
  }
}

/**
 * Parses a (reassembled) text data segment. Does not keep `data`. Throws
 * `IclProtocolError` on a pair without '=', a bad key name, an over-long
 * value or a missing final NUL.
 */
export function parseTextKeys(data: Buffer): TextKeyList {
  const out: TextKeyList = [];
  const end = data.length;
  if (end === 0) return out;
  // RFC 7143 §6.1: every pair, including the last, is followed by a NUL.
  if (data[end - 1] !== 0) throw new IclProtocolError('text key: last key=value pair not NUL-terminated');
  let pos = 0;
  while (pos < end) {
    const nul = data.indexOf(0, pos);
    // nul !== -1: the last byte is a NUL.
    if (nul === pos) {
      pos++;
      continue;
    }
    const eq = data.indexOf(0x3d /* '=' */, pos);
    if (eq === -1 || eq > nul) {
      throw new IclProtocolError(`text key: pair without '=': ${JSON.stringify(data.toString('latin1', pos, Math.min(nul, pos + 64)))}`);
    }
    const keyBytes = eq - pos;
    const key = data.toString('latin1', pos, eq);
    checkKey(key, keyBytes);
    checkValueLength(key, nul - eq - 1);
    out.push([key, data.toString('utf8', eq + 1, nul)]);
    pos = nul + 1;
  }
  return out;
}

/**
 * Encodes pairs as `key=value\0…` in one new Buffer (owned by the caller).
 * Throws `IclProtocolError` on a bad key, a value containing NUL or a value
 * over the length cap.
 */
export function encodeTextKeys(keys: TextKeyList): Buffer {
  let total = 0;
  const valueLengths: number[] = [];
  for (const [key, value] of keys) {
    checkKey(key, key.length);
    if (value.includes('\0')) throw new IclProtocolError(`text key: value of ${key} contains NUL`);
    const vlen = Buffer.byteLength(value, 'utf8');
    checkValueLength(key, vlen);
    valueLengths.push(vlen);
    total += key.length + 1 + vlen + 1;
  }
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  let i = 0;
  for (const [key, value] of keys) {
    pos += buf.write(key, pos, 'latin1');
    buf[pos++] = 0x3d;
    pos += buf.write(value, pos, valueLengths[i++]!, 'utf8');
    buf[pos++] = 0;
  }
  return buf;
}

/**
 * Reassembles a text split over several Login/Text PDUs with the Continue
 * (C) bit (RFC 7143 §11.10.2, §11.12.2: a pair may span PDUs). Keeps the
 * pushed Buffers (by reference) until the final piece; the caller must not
 * modify them meanwhile.
 */
export class TextReassembler {
  readonly maxLength: number;
  #pieces: Buffer[] = [];
  #length = 0;

  constructor(maxLength = TEXT_REASSEMBLY_MAX_DEFAULT) {
    this.maxLength = maxLength;
  }

  /** Bytes held from PDUs with C set. */
  get pendingLength(): number {
    return this.#length;
  }

  /**
   * Adds one PDU's data segment. Returns null while `continueFlag` is set,
   * else the whole text (`data` itself if it came in one PDU, else one new
   * Buffer) and starts over. Throws `IclProtocolError` (and starts over) if
   * the total exceeds `maxLength`.
   */
  push(data: Buffer, continueFlag: boolean): Buffer | null {
    const total = this.#length + data.length;
    if (total > this.maxLength) {
      this.reset();
      throw new IclProtocolError(`text of ${total} bytes exceeds the ${this.maxLength}-byte reassembly cap`);
    }
    if (continueFlag) {
      if (data.length !== 0) this.#pieces.push(data);
      this.#length = total;
      return null;
    }
    if (this.#pieces.length === 0) return data;
    this.#pieces.push(data);
    const whole = Buffer.concat(this.#pieces, total);
    this.reset();
    return whole;
  }

  /** Drops any partial text. */
  reset(): void {
    this.#pieces = [];
    this.#length = 0;
  }
}

/**
 * Splits a text response into pieces of at most `maxLen` bytes, one per PDU
 * (all but the last get the C bit). Returns views of `data`; an empty text
 * gives one empty piece. Pairs may be cut anywhere (RFC 7143 §11.11.2).
 */
export function splitTextResponse(data: Buffer, maxLen: number): Buffer[] {
  if (!Number.isInteger(maxLen) || maxLen < 1) throw new RangeError(`maxLen must be a positive integer, got ${maxLen}`);
  if (data.length <= maxLen) return [data];
  const out: Buffer[] = [];
  for (let pos = 0; pos < data.length; pos += maxLen) out.push(data.subarray(pos, Math.min(pos + maxLen, data.length)));
  return out;
}
