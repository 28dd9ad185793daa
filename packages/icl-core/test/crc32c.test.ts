/** CRC32C digests: RFC 3720 B.4 vectors, wire byte order, chaining over chunks. */
import { describe, expect, it } from 'vitest';
import { crc32c, crc32cChunks, digestFromBuffer, digestToBuffer } from '../src/crc32c.js';
import { CRC_VECTORS, referenceCrc32c } from './fixtures/goldens.js';

describe('crc32c', () => {
  for (const v of CRC_VECTORS) {
    it(`RFC 3720 B.4: ${v.name}`, () => {
      expect(crc32c(v.input)).toBe(v.value);
      expect(referenceCrc32c(v.input)).toBe(v.value);
      // The digest goes on the wire least significant byte first.
      expect(digestToBuffer(crc32c(v.input))).toEqual(v.wire);
      expect(digestFromBuffer(v.wire)).toBe(v.value);
    });
  }

  it('returns an unsigned 32-bit value', () => {
    const v = crc32c(Buffer.alloc(32, 0)); // 0x8a9136aa, top bit set
    expect(v).toBeGreaterThan(0x7fffffff);
  });

  it('chains incrementally: crc(b, crc(a)) === crc(a‖b) at every split', () => {
    const data = Buffer.from(Array.from({ length: 257 }, (_, i) => (i * 37 + 11) & 0xff));
    const whole = referenceCrc32c(data);
    expect(crc32c(data)).toBe(whole);
    for (let i = 0; i <= data.length; i++) {
      expect(crc32c(data.subarray(i), crc32c(data.subarray(0, i)))).toBe(whole);
    }
  });

  it('crc32cChunks over a chunk list equals the CRC of the concatenation', () => {
    const chunks = [Buffer.from('iSCSI '), Buffer.alloc(0), Buffer.from('data '), Buffer.from([0, 1, 2, 0xff])];
    expect(crc32cChunks(chunks)).toBe(referenceCrc32c(Buffer.concat(chunks)));
    expect(crc32cChunks([])).toBe(0);
    expect(crc32cChunks(chunks.slice(2), crc32cChunks(chunks.slice(0, 2)))).toBe(crc32cChunks(chunks));
  });

  it('agrees with the reference on pseudo-random buffers of many lengths', () => {
    let seed = 12345;
    for (let len = 0; len < 300; len += 7) {
      const b = Buffer.allocUnsafe(len);
      for (let i = 0; i < len; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        b[i] = seed >>> 24;
      }
      expect(crc32c(b)).toBe(referenceCrc32c(b));
    }
  });
});
