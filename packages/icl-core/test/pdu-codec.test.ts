/**
 * The PDU codec: golden serialization, zero-copy parts, every split point of
 * a multi-PDU stream, one byte at a time, random round trips, digest
 * mismatches, the DataSegmentLength limit, AHS rejection, terminal errors.
 */
import { describe, expect, it } from 'vitest';
import { crc32c } from '../src/crc32c.js';
import { IclAhsNotSupportedError, IclDataSegmentTooLongError, IclDigestError, type IclError } from '../src/errors.js';
import { Bhs, DataInBhs, DataOutBhs, Flag, InitiatorOpcode, ScsiCommandBhs, TargetOpcode } from '../src/iscsi-proto.js';
import { bhsSetOpcode, Pdu } from '../src/pdu.js';
import { PduParser, RecvState, padLength, serializePdu, serializedLength, type DigestOptions } from '../src/pdu-codec.js';
import {
  BHS_GOLDENS,
  DATA_IN_32_ZEROES_DATA_DIGEST,
  READ10_WITH_HEADER_DIGEST,
  hex,
  referenceCrc32c,
} from './fixtures/goldens.js';

const NO_DIGESTS: DigestOptions = { headerDigest: false, dataDigest: false };
const BOTH_DIGESTS: DigestOptions = { headerDigest: true, dataDigest: true };

function pduWith(bhs: Buffer, ...chunks: Buffer[]): Pdu {
  const pdu = new Pdu(Buffer.from(bhs));
  for (const c of chunks) {
    pdu.data.push({ buf: c, ref: null });
    pdu.dataLength += c.length;
  }
  return pdu;
}

function wire(pdu: Pdu, opts: DigestOptions): Buffer {
  return Buffer.concat(serializePdu(pdu, opts));
}

function dataOf(pdu: Pdu): Buffer {
  return Buffer.concat(pdu.data.map((c) => c.buf));
}

function parser(opts: DigestOptions, max = 1 << 20): PduParser {
  return new PduParser({ ...opts, maxRecvDataSegmentLength: max });
}

/** The value `fn` throws (fails the test if it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

function drain(p: PduParser): Pdu[] {
  const out: Pdu[] = [];
  for (let pdu = p.next(); pdu !== null; pdu = p.next()) out.push(pdu);
  return out;
}

/** A little deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

describe('serializePdu', () => {
  it('golden: the RFC 3720 B.4 READ(10) command with a header digest', () => {
    const bhs = Buffer.alloc(48);
    bhsSetOpcode(bhs, InitiatorOpcode.ScsiCommand);
    bhs[ScsiCommandBhs.flags] = Flag.Final | Flag.Read;
    bhs.writeUInt32BE(0x14000000, ScsiCommandBhs.initiatorTaskTag);
    bhs.writeUInt32BE(1024, ScsiCommandBhs.expectedDataTransferLength);
    bhs.writeUInt32BE(0x14, ScsiCommandBhs.cmdSn);
    bhs.writeUInt32BE(0x18, ScsiCommandBhs.expStatSn);
    hex('28 00 00 00 00 00 00 00 02 00').copy(bhs, ScsiCommandBhs.cdb);
    const pdu = new Pdu(bhs);
    const parts = serializePdu(pdu, { headerDigest: true, dataDigest: true });
    expect(parts.length).toBe(2);
    expect(Buffer.concat(parts)).toEqual(READ10_WITH_HEADER_DIGEST);
    expect(serializedLength(pdu, { headerDigest: true, dataDigest: true })).toBe(52);
  });

  it('golden: Data-In of 32 zero bytes with both digests', () => {
    const pdu = pduWith(BHS_GOLDENS[15]!.bhs, Buffer.alloc(16), Buffer.alloc(16));
    const out = wire(pdu, BOTH_DIGESTS);
    const bhs = Buffer.from(BHS_GOLDENS[15]!.bhs);
    bhs.writeUIntBE(32, Bhs.dataSegmentLength, 3); // the golden says 1024; serialize rewrites it
    const hd = Buffer.alloc(4);
    hd.writeUInt32LE(referenceCrc32c(bhs));
    expect(out).toEqual(Buffer.concat([bhs, hd, Buffer.alloc(32), DATA_IN_32_ZEROES_DATA_DIGEST]));
  });

  it('golden: every BHS golden with a data segment serializes to DSL + data + padding', () => {
    for (const g of BHS_GOLDENS) {
      const dsl = g.bhs.readUIntBE(Bhs.dataSegmentLength, 3);
      const data = pattern(dsl, 3);
      const blank = Buffer.from(g.bhs);
      blank.fill(0, 4, 8); // serializePdu must fill TotalAHSLength and DataSegmentLength
      const pdu = pduWith(blank, data);
      const pad = padLength(dsl);
      expect(wire(pdu, NO_DIGESTS), g.name).toEqual(Buffer.concat([g.bhs, data, Buffer.alloc(pad)]));
    }
  });

  it('returns data chunks by reference and shared padding, never copies', () => {
    const a = Buffer.from('hello');
    const b = Buffer.from('world!');
    const pdu = pduWith(BHS_GOLDENS[0]!.bhs, a, Buffer.alloc(0), b);
    const parts = serializePdu(pdu, NO_DIGESTS);
    expect(parts[0]).toBe(pdu.bhs);
    expect(parts[1]).toBe(a);
    expect(parts[2]).toBe(b);
    expect(parts[3]).toEqual(Buffer.alloc(1)); // 11 bytes → 1 pad byte
    expect(parts.length).toBe(4);
    const again = serializePdu(pduWith(BHS_GOLDENS[0]!.bhs, Buffer.from('abc')), NO_DIGESTS);
    expect(again[2]!.buffer).toBe(parts[3]!.buffer); // one shared zero buffer
    expect(pdu.bhs.readUIntBE(Bhs.dataSegmentLength, 3)).toBe(11);
  });

  it('omits padding when aligned and the data digest when there is no data', () => {
    const noData = serializePdu(pduWith(BHS_GOLDENS[0]!.bhs), BOTH_DIGESTS);
    expect(noData.map((p) => p.length)).toEqual([48, 4]);
    const aligned = serializePdu(pduWith(BHS_GOLDENS[0]!.bhs, Buffer.alloc(8, 1)), BOTH_DIGESTS);
    expect(aligned.map((p) => p.length)).toEqual([48, 4, 8, 4]);
    const noDigests = serializePdu(pduWith(BHS_GOLDENS[0]!.bhs, Buffer.alloc(9, 1)), NO_DIGESTS);
    expect(noDigests.map((p) => p.length)).toEqual([48, 9, 3]);
  });

  it('data digest covers data and padding; header digest covers BHS and AHS', () => {
    const data = Buffer.from('abcde');
    const pdu = pduWith(BHS_GOLDENS[0]!.bhs, data);
    pdu.ahs = hex('00 04 01 00 de ad be ef');
    const parts = serializePdu(pdu, BOTH_DIGESTS);
    expect(pdu.bhs[Bhs.totalAhsLength]).toBe(2);
    expect(parts.map((p) => p.length)).toEqual([48, 8, 4, 5, 3, 4]);
    expect(parts[2]!.readUInt32LE()).toBe(referenceCrc32c(Buffer.concat([pdu.bhs, pdu.ahs])));
    expect(parts[5]!.readUInt32LE()).toBe(referenceCrc32c(Buffer.concat([data, Buffer.alloc(3)])));
    expect(serializedLength(pdu, BOTH_DIGESTS)).toBe(72);
  });

  it('serializedLength matches the parts for many shapes', () => {
    for (const opts of [NO_DIGESTS, BOTH_DIGESTS, { headerDigest: true, dataDigest: false }, { headerDigest: false, dataDigest: true }]) {
      for (let len = 0; len < 9; len++) {
        const pdu = pduWith(BHS_GOLDENS[0]!.bhs, ...(len ? [Buffer.alloc(len)] : []));
        const total = serializePdu(pdu, opts).reduce((n, p) => n + p.length, 0);
        expect(serializedLength(pdu, opts)).toBe(total);
      }
    }
  });

  it('rejects malformed PDUs', () => {
    const bad = pduWith(BHS_GOLDENS[0]!.bhs, Buffer.alloc(4));
    bad.dataLength = 5;
    expect(() => serializePdu(bad, NO_DIGESTS)).toThrow(RangeError);
    const ahs = pduWith(BHS_GOLDENS[0]!.bhs);
    ahs.ahs = Buffer.alloc(3);
    expect(() => serializePdu(ahs, NO_DIGESTS)).toThrow(RangeError);
    const big = pduWith(BHS_GOLDENS[0]!.bhs);
    big.dataLength = 0x1000000;
    expect(() => serializePdu(big, NO_DIGESTS)).toThrow(RangeError);
  });
});

/** Three PDUs with data, padding and digests, for split-point tests. */
function threePduStream(opts: DigestOptions): { wire: Buffer; expected: Array<{ bhs: Buffer; data: Buffer }> } {
  const cmd = pduWith(BHS_GOLDENS[2]!.bhs, pattern(5, 1)); // SCSI Command, 5 bytes immediate data, 3 pad
  const dataOut = pduWith(BHS_GOLDENS[6]!.bhs, pattern(700, 2), pattern(1, 3), pattern(326, 4)); // 1027 bytes, 1 pad
  const nop = pduWith(BHS_GOLDENS[0]!.bhs); // no data
  const pdus = [cmd, dataOut, nop];
  const w = Buffer.concat(pdus.flatMap((p) => serializePdu(p, opts)));
  return { wire: w, expected: pdus.map((p) => ({ bhs: Buffer.from(p.bhs), data: dataOf(p) })) };
}

/** Compares parsed PDUs with the expected ones (Buffer.equals: deep toEqual is too slow per split point). */
function expectPdus(got: Pdu[], expected: Array<{ bhs: Buffer; data: Buffer }>): void {
  expect(got.length).toBe(expected.length);
  got.forEach((p, i) => {
    const e = expected[i]!;
    if (!p.bhs.equals(e.bhs)) expect(p.bhs).toEqual(e.bhs);
    expect(p.dataLength).toBe(e.data.length);
    const d = dataOf(p);
    if (!d.equals(e.data)) expect(d).toEqual(e.data);
    if (p.data.some((c) => c.ref !== null || c.buf.length === 0)) throw new Error('chunk with ref or empty');
  });
}

describe('PduParser', () => {
  it('parses every BHS golden (no data digest) and the header-digest golden', () => {
    for (const g of BHS_GOLDENS) {
      const dsl = g.bhs.readUIntBE(Bhs.dataSegmentLength, 3);
      const data = pattern(dsl, 9);
      const p = parser(NO_DIGESTS);
      p.push(Buffer.concat([g.bhs, data, Buffer.alloc(padLength(dsl))]));
      const [pdu, ...rest] = drain(p);
      expect(rest).toEqual([]);
      expect(pdu!.bhs).toEqual(g.bhs);
      expect(dataOf(pdu!)).toEqual(data);
      expect(p.bufferedBytes).toBe(0);
    }
    const p = parser({ headerDigest: true, dataDigest: true });
    p.push(Buffer.from(READ10_WITH_HEADER_DIGEST));
    expect(drain(p).map((x) => x.initiatorTaskTag)).toEqual([0x14000000]);
  });

  for (const [label, opts] of [
    ['no digests', NO_DIGESTS],
    ['both digests', BOTH_DIGESTS],
    ['header digest only', { headerDigest: true, dataDigest: false }],
    ['data digest only', { headerDigest: false, dataDigest: true }],
  ] as const) {
    it(`every split point of a 3-PDU stream (${label})`, () => {
      const { wire: w, expected } = threePduStream(opts);
      for (let i = 0; i <= w.length; i++) {
        const p = parser(opts);
        p.push(w.subarray(0, i));
        const got = drain(p);
        p.push(w.subarray(i));
        got.push(...drain(p));
        expectPdus(got, expected);
        expect(p.bufferedBytes).toBe(0);
        expect(p.state).toBe(RecvState.Bhs);
      }
    });
  }

  it('one byte at a time, with bytesNeeded and bufferedBytes tracking', () => {
    const { wire: w, expected } = threePduStream(BOTH_DIGESTS);
    const p = parser(BOTH_DIGESTS);
    const got: Pdu[] = [];
    let returnedBytes = 0;
    for (let i = 0; i < w.length; i++) {
      p.push(w.subarray(i, i + 1));
      for (let pdu = p.next(); pdu !== null; pdu = p.next()) {
        got.push(pdu);
        returnedBytes += serializedLength(pdu, BOTH_DIGESTS);
      }
      expect(p.bufferedBytes).toBe(i + 1 - returnedBytes);
      expect(p.bytesNeeded).toBeGreaterThan(0);
    }
    expectPdus(got, expected);
  });

  it('many tiny chunks pushed before draining (queue compaction path)', () => {
    const { wire: w, expected } = threePduStream(BOTH_DIGESTS);
    const p = parser(BOTH_DIGESTS);
    for (let i = 0; i < w.length; i++) p.push(w.subarray(i, i + 1));
    expect(p.bufferedBytes).toBe(w.length);
    expectPdus(drain(p), expected);
    expect(p.bufferedBytes).toBe(0);
  });

  it('random chunkings of random PDUs round-trip', () => {
    const rand = rng(7);
    for (let round = 0; round < 60; round++) {
      const opts = { headerDigest: rand() < 0.5, dataDigest: rand() < 0.5 };
      const pdus: Pdu[] = [];
      for (let k = 1 + Math.floor(rand() * 6); k > 0; k--) {
        const bhs = Buffer.allocUnsafe(48);
        for (let i = 0; i < 48; i++) bhs[i] = Math.floor(rand() * 256);
        const chunks: Buffer[] = [];
        for (let c = Math.floor(rand() * 4); c > 0; c--) chunks.push(pattern(Math.floor(rand() * 2000), round + c));
        pdus.push(pduWith(bhs, ...chunks));
      }
      const parts = pdus.flatMap((p) => serializePdu(p, opts));
      const expected = pdus.map((p) => ({ bhs: Buffer.from(p.bhs), data: dataOf(p) }));
      const w = Buffer.concat(parts);
      const p = parser(opts);
      const got: Pdu[] = [];
      for (let pos = 0; pos < w.length; ) {
        const n = 1 + Math.floor(rand() * (rand() < 0.3 ? 8 : 3000));
        p.push(w.subarray(pos, pos + n));
        pos += n;
        got.push(...drain(p));
      }
      expectPdus(got, expected);
      expect(p.bufferedBytes).toBe(0);
    }
  });

  it('is zero-copy: data segments are views of pushed chunks; a straddling BHS is the one copy', () => {
    const data = pattern(3000, 5);
    const w = wire(pduWith(BHS_GOLDENS[6]!.bhs, data), BOTH_DIGESTS);
    const p = parser(BOTH_DIGESTS);
    p.push(w);
    const [pdu] = drain(p);
    expect(pdu!.bhs.buffer).toBe(w.buffer);
    expect(pdu!.bhs.byteOffset).toBe(w.byteOffset);
    expect(pdu!.data.length).toBe(1);
    expect(pdu!.data[0]!.buf.buffer).toBe(w.buffer);
    expect(pdu!.data[0]!.buf.byteOffset).toBe(w.byteOffset + 52);

    // Split inside the BHS and inside the data: BHS copied, data as two views.
    const a = Buffer.from(w.subarray(0, 20));
    const b = Buffer.from(w.subarray(20, 1000));
    const c = Buffer.from(w.subarray(1000));
    const q = parser(BOTH_DIGESTS);
    q.push(a);
    q.push(b);
    q.push(c);
    const [pdu2] = drain(q);
    expect(pdu2!.bhs.buffer).not.toBe(a.buffer);
    expect(pdu2!.bhs.buffer).not.toBe(b.buffer);
    expect(pdu2!.data.map((x) => x.buf.buffer)).toEqual([b.buffer, c.buffer]);
    expect(dataOf(pdu2!)).toEqual(data);
  });

  it('applies digest settings changed between PDUs (login → full feature)', () => {
    const login = wire(pduWith(BHS_GOLDENS[4]!.bhs, pattern(40, 1)), NO_DIGESTS);
    const cmd = wire(pduWith(BHS_GOLDENS[2]!.bhs, pattern(512, 2)), BOTH_DIGESTS);
    const p = parser(NO_DIGESTS);
    p.push(Buffer.concat([login, cmd]));
    const first = p.next();
    expect(first?.opcode).toBe(InitiatorOpcode.LoginRequest);
    p.headerDigest = true;
    p.dataDigest = true;
    const second = p.next();
    expect(second?.opcode).toBe(InitiatorOpcode.ScsiCommand);
    expect(dataOf(second!)).toEqual(pattern(512, 2));
    expect(p.next()).toBeNull();
  });

  it('reports bytesNeeded per wire part', () => {
    const w = wire(pduWith(BHS_GOLDENS[0]!.bhs, pattern(10, 1)), BOTH_DIGESTS); // 48+4+10+2+4
    const p = parser(BOTH_DIGESTS);
    expect(p.bytesNeeded).toBe(48);
    p.push(w.subarray(0, 30));
    expect(p.next()).toBeNull();
    expect(p.bytesNeeded).toBe(18);
    p.push(w.subarray(30, 50));
    expect(p.next()).toBeNull();
    expect(p.state).toBe(RecvState.HeaderDigest);
    expect(p.bytesNeeded).toBe(2);
    p.push(w.subarray(50, 55));
    expect(p.next()).toBeNull();
    expect(p.state).toBe(RecvState.Data);
    expect(p.bytesNeeded).toBe(12 - 3);
    p.push(w.subarray(55, 66));
    expect(p.next()).toBeNull();
    expect(p.state).toBe(RecvState.DataDigest);
    expect(p.bytesNeeded).toBe(2);
    p.push(w.subarray(66));
    expect(p.next()?.dataLength).toBe(10);
    expect(p.bytesNeeded).toBe(48);
    expect(p.bufferedBytes).toBe(0);
  });

  describe('errors', () => {
    function stream(): Buffer {
      return wire(pduWith(BHS_GOLDENS[2]!.bhs, pattern(7, 1)), BOTH_DIGESTS); // 48 + 4 + 7 + 1 + 4 = 64
    }

    function expectError(w: Buffer, code: string, ctor: new (...args: never[]) => IclError): IclError {
      const p = parser(BOTH_DIGESTS);
      p.push(w);
      let err: unknown;
      try {
        drain(p);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ctor);
      expect((err as IclError).code).toBe(code);
      // Terminal: the same error again, and pushes are discarded.
      expect(thrown(() => p.next())).toBe(err);
      expect(p.bufferedBytes).toBe(0);
      p.push(stream());
      expect(p.bufferedBytes).toBe(0);
      expect(thrown(() => p.next())).toBe(err);
      expect(p.error).toBe(err);
      return err as IclError;
    }

    it('header digest mismatch: one bit flipped in the digest, or in the BHS', () => {
      for (const offset of [48, 51, 0, 20, 47]) {
        const w = stream();
        w[offset]! ^= 0x10;
        const err = expectError(w, 'ICL_ERR_HEADER_DIGEST', IclDigestError) as IclDigestError;
        expect(err.bhs?.length).toBe(48);
      }
    });

    it('data digest mismatch: one bit flipped in the data, the padding or the digest', () => {
      for (const offset of [52, 58, 59, 60, 63]) {
        const w = stream();
        w[offset]! ^= 0x01;
        const err = expectError(w, 'ICL_ERR_DATA_DIGEST', IclDigestError) as IclDigestError;
        expect(err.expected).not.toBe(err.received);
      }
    });

    it('a good stream with the same PDU passes (control for the mismatch tests)', () => {
      const p = parser(BOTH_DIGESTS);
      p.push(stream());
      expect(drain(p).length).toBe(1);
    });

    it('a header digest error wins over an oversized DataSegmentLength', () => {
      const w = stream();
      w[5] = 0x7f; // DSL becomes huge; the digest no longer matches
      const p = parser(BOTH_DIGESTS, 8192);
      p.push(w.subarray(0, 52));
      expect(() => p.next()).toThrow(IclDigestError);
    });

    it('DataSegmentLength over MaxRecvDataSegmentLength is refused before the data arrives', () => {
      const bhs = Buffer.from(BHS_GOLDENS[6]!.bhs);
      for (const opts of [NO_DIGESTS, BOTH_DIGESTS]) {
        const w = wire(pduWith(bhs, Buffer.alloc(8193)), opts);
        const p = parser(opts, 8192);
        p.push(w.subarray(0, opts.headerDigest ? 52 : 48)); // header only
        let err: unknown;
        try {
          p.next();
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(IclDataSegmentTooLongError);
        expect((err as IclDataSegmentTooLongError).code).toBe('ICL_ERR_DSL_EXCEEDED');
        expect((err as IclDataSegmentTooLongError).dataSegmentLength).toBe(8193);
        expect(thrown(() => p.next())).toBe(err);
      }
      // Exactly the limit is fine.
      const ok = parser(BOTH_DIGESTS, 8192);
      ok.push(wire(pduWith(bhs, Buffer.alloc(8192)), BOTH_DIGESTS));
      expect(drain(ok)[0]!.dataLength).toBe(8192);
    });

    it('rejects an AHS as soon as the BHS is in', () => {
      const bhs = Buffer.from(BHS_GOLDENS[2]!.bhs);
      bhs[Bhs.totalAhsLength] = 3;
      const p = parser(NO_DIGESTS);
      p.push(bhs);
      let err: unknown;
      try {
        p.next();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(IclAhsNotSupportedError);
      expect((err as IclAhsNotSupportedError).code).toBe('ICL_ERR_AHS');
      expect((err as IclAhsNotSupportedError).totalAhsLength).toBe(12);
      expect(p.bytesNeeded).toBe(0);
    });
  });

  it('a PDU after a no-data PDU with data digest on has no data digest of its own', () => {
    const opts = { headerDigest: false, dataDigest: true };
    const a = wire(pduWith(BHS_GOLDENS[9]!.bhs), opts); // NOP-In, no data: 48 bytes only
    expect(a.length).toBe(48);
    const b = wire(pduWith(BHS_GOLDENS[15]!.bhs, pattern(33, 1)), opts);
    const p = parser(opts);
    p.push(Buffer.concat([a, b]));
    const got = drain(p);
    expect(got.map((x) => x.opcode)).toEqual([TargetOpcode.NopIn, TargetOpcode.DataIn]);
    expect(got[1]!.bhs.readUInt32BE(DataInBhs.dataSn)).toBe(0);
    expect(got[1]!.bhs.readUInt32BE(DataOutBhs.bufferOffset)).toBe(0);
  });

  it('header digest matches crc32c over the BHS', () => {
    const w = wire(pduWith(BHS_GOLDENS[0]!.bhs), { headerDigest: true, dataDigest: false });
    expect(w.readUInt32LE(48)).toBe(crc32c(w.subarray(0, 48)));
  });
});
