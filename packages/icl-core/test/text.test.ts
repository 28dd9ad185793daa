/** Text key=value parsing/encoding, multi-PDU reassembly and splitting (RFC 7143 §6.1). */
import { describe, expect, it } from 'vitest';
import { IclProtocolError } from '../src/errors.js';
import {
  encodeTextKeys,
  parseTextKeys,
  splitTextResponse,
  TEXT_MAX_VALUE_LENGTH,
  TextReassembler,
  type TextKeyList,
} from '../src/text.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

function protocolError(fn: () => unknown): IclProtocolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(IclProtocolError);
    expect((e as IclProtocolError).code).toBe('ICL_ERR_PROTOCOL');
    return e as IclProtocolError;
  }
  throw new Error('expected IclProtocolError');
}

describe('parseTextKeys', () => {
  it('parses a login request data segment in order', () => {
    const data = b('InitiatorName=iqn.1993-08.org.debian:01:abc\0SessionType=Normal\0TargetName=iqn.2024-01.test:disk0\0AuthMethod=None,CHAP\0');
    expect(parseTextKeys(data)).toEqual([
      ['InitiatorName', 'iqn.1993-08.org.debian:01:abc'],
      ['SessionType', 'Normal'],
      ['TargetName', 'iqn.2024-01.test:disk0'],
      ['AuthMethod', 'None,CHAP'],
    ]);
  });

  it('keeps duplicates, empty values, "=" inside values and UTF-8', () => {
    expect(parseTextKeys(b('A=1\0A=2\0Empty=\0X-com.example.k=a=b\0Alias=dïsk ☃\0'))).toEqual([
      ['A', '1'],
      ['A', '2'],
      ['Empty', ''],
      ['X-com.example.k', 'a=b'],
      ['Alias', 'dïsk ☃'],
    ]);
  });

  it('accepts an empty segment and skips empty pairs', () => {
    expect(parseTextKeys(Buffer.alloc(0))).toEqual([]);
    expect(parseTextKeys(b('\0\0A=1\0\0B=2\0'))).toEqual([
      ['A', '1'],
      ['B', '2'],
    ]);
  });

  it('accepts every key-name character, vendor and X# keys', () => {
    expect(parseTextKeys(b('Az09.-+@_:#=v\0X#org.example=1\0'))).toEqual([
      ['Az09.-+@_:#', 'v'],
      ['X#org.example', '1'],
    ]);
  });

  it('rejects a missing final NUL', () => {
    expect(protocolError(() => parseTextKeys(b('A=1\0B=2'))).message).toMatch(/NUL/);
    protocolError(() => parseTextKeys(b('A=1')));
  });

  it("rejects a pair without '='", () => {
    protocolError(() => parseTextKeys(b('A=1\0Junk\0')));
    protocolError(() => parseTextKeys(b('Junk\0A=1\0')));
  });

  it('rejects bad key names', () => {
    protocolError(() => parseTextKeys(b('=v\0')));
    protocolError(() => parseTextKeys(b('Bad Key=v\0')));
    protocolError(() => parseTextKeys(b('Bad/Key=v\0')));
    protocolError(() => parseTextKeys(b('Kéy=v\0')));
  });

  it('key length: 63 bytes ok, 64 rejected', () => {
    expect(parseTextKeys(b(`${'K'.repeat(63)}=v\0`))[0]![0]).toHaveLength(63);
    protocolError(() => parseTextKeys(b(`${'K'.repeat(64)}=v\0`)));
  });

  it(`value length: ${TEXT_MAX_VALUE_LENGTH} bytes ok, one more rejected`, () => {
    expect(parseTextKeys(b(`V=${'x'.repeat(TEXT_MAX_VALUE_LENGTH)}\0`))[0]![1]).toHaveLength(TEXT_MAX_VALUE_LENGTH);
    protocolError(() => parseTextKeys(b(`V=${'x'.repeat(TEXT_MAX_VALUE_LENGTH + 1)}\0`)));
  });
});

describe('encodeTextKeys', () => {
  it('NUL-terminates every pair, UTF-8', () => {
    expect(encodeTextKeys([['TargetAlias', 'dïsk'], ['HeaderDigest', 'None']])).toEqual(
      b('TargetAlias=dïsk\0HeaderDigest=None\0'),
    );
    expect(encodeTextKeys([])).toEqual(Buffer.alloc(0));
  });

  it('round-trips with parseTextKeys', () => {
    const keys: TextKeyList = [
      ['MaxRecvDataSegmentLength', '262144'],
      ['TargetName', 'iqn.2024-01.test:disk0'],
      ['TargetAddress', '[::1]:3260,1'],
      ['Empty', ''],
      ['Dup', 'a'],
      ['Dup', 'b'],
      ['CHAP_C', `0x${'ab'.repeat(1000)}`],
    ];
    expect(parseTextKeys(encodeTextKeys(keys))).toEqual(keys);
  });

  it('refuses what cannot be encoded', () => {
    protocolError(() => encodeTextKeys([['Bad Key', 'v']]));
    protocolError(() => encodeTextKeys([['', 'v']]));
    protocolError(() => encodeTextKeys([['K', 'a\0b']]));
    protocolError(() => encodeTextKeys([['K', 'x'.repeat(TEXT_MAX_VALUE_LENGTH + 1)]]));
    protocolError(() => encodeTextKeys([['K', 'é'.repeat(TEXT_MAX_VALUE_LENGTH / 2 + 1)]])); // bytes, not chars
  });
});

describe('TextReassembler', () => {
  it('returns a single non-continued segment as is (no copy)', () => {
    const r = new TextReassembler();
    const d = b('A=1\0');
    expect(r.push(d, false)).toBe(d);
  });

  it('joins continued segments, including a pair cut in the middle', () => {
    const r = new TextReassembler();
    expect(r.push(b('TargetName=iqn.20'), true)).toBeNull();
    expect(r.push(b('24-01.test:x\0Tar'), true)).toBeNull();
    expect(r.pendingLength).toBe(33);
    const whole = r.push(b('getAlias=y\0'), false);
    expect(parseTextKeys(whole!)).toEqual([
      ['TargetName', 'iqn.2024-01.test:x'],
      ['TargetAlias', 'y'],
    ]);
    expect(r.pendingLength).toBe(0);
    // Starts over after the final piece.
    const d = b('B=2\0');
    expect(r.push(d, false)).toBe(d);
  });

  it('enforces its size cap and starts over', () => {
    const r = new TextReassembler(10);
    expect(r.push(b('A=12345'), true)).toBeNull();
    protocolError(() => r.push(b('6789\0'), false));
    expect(r.pendingLength).toBe(0);
    expect(r.push(b('B=1\0'), false)).toEqual(b('B=1\0'));
    const def = new TextReassembler();
    expect(def.maxLength).toBe(65536);
    expect(def.push(Buffer.alloc(65536, 0x41), true)).toBeNull();
    protocolError(() => def.push(Buffer.alloc(1), false));
  });
});

describe('splitTextResponse', () => {
  it('splits into views of at most maxLen bytes that rejoin', () => {
    const data = encodeTextKeys(Array.from({ length: 50 }, (_, i): [string, string] => [`TargetName`, `iqn.2024-01.test:t${i}`]));
    const pieces = splitTextResponse(data, 100);
    expect(pieces.length).toBe(Math.ceil(data.length / 100));
    for (const p of pieces) {
      expect(p.length).toBeLessThanOrEqual(100);
      expect(p.buffer).toBe(data.buffer);
    }
    expect(Buffer.concat(pieces)).toEqual(data);
    const r = new TextReassembler();
    let whole: Buffer | null = null;
    pieces.forEach((p, i) => (whole = r.push(p, i < pieces.length - 1)));
    expect(parseTextKeys(whole!)).toHaveLength(50);
  });

  it('edge cases: short, exact, empty, bad maxLen', () => {
    const d = b('A=1\0');
    expect(splitTextResponse(d, 4)).toEqual([d]);
    expect(splitTextResponse(d, 3).map((x) => x.length)).toEqual([3, 1]);
    expect(splitTextResponse(Buffer.alloc(0), 10)).toEqual([Buffer.alloc(0)]);
    expect(() => splitTextResponse(d, 0)).toThrow(RangeError);
  });
});
