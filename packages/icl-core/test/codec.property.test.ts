/**
 * Property tests of the PDU codec with fast-check (issue 13 item 8a):
 * - BHS fields written at the RFC 7143 offsets decode to the same values
 *   (`decodeBhs`), for every initiator opcode the target parses and the
 *   target opcodes it sends; any 48 bytes decode without throwing;
 * - `serializePdu` → `PduParser` round trip of arbitrary PDU streams with
 *   arbitrary digests and chunking of the data segments;
 * - split points: the same wire stream cut at arbitrary points parses to
 *   identical PDUs;
 * - hostile bytes: arbitrary input either parses or throws an `IclError`
 *   (never another exception), and the parser never buffers more than one
 *   maximal PDU;
 * - text keys: `encodeTextKeys` → `parseTextKeys` round trip.
 * Seeded (fixed `seed`), so a failure reproduces; fast-check prints the
 * shrunk counterexample and the seed/path to replay it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBhs } from '../src/bhs-decode.js';
import { IclError } from '../src/errors.js';
import {
  BHS_SIZE,
  Bhs,
  DataInBhs,
  DataOutBhs,
  InitiatorOpcode,
  R2tBhs,
  ScsiCommandBhs,
  TargetOpcode,
} from '../src/iscsi-proto.js';
import { Pdu } from '../src/pdu.js';
import { PduParser, serializePdu, type DigestOptions } from '../src/pdu-codec.js';
import { encodeTextKeys, parseTextKeys, type TextKeyList } from '../src/text.js';

const SEED = 0x13_0008;
const RUNS = 300;

const u32 = fc.nat({ max: 0xffffffff });
const u8 = fc.nat({ max: 0xff });
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n }).map((a) => Buffer.from(a));

/** A PDU model: a BHS (TotalAHSLength forced to 0, the length fields are filled by the serializer) and data chunks. */
interface PduModel {
  bhs: Buffer;
  chunks: Buffer[];
}

const pduModel: fc.Arbitrary<PduModel> = fc
  .record({
    bhs: bytes(BHS_SIZE),
    chunks: fc.array(fc.uint8Array({ minLength: 0, maxLength: 700 }).map((a) => Buffer.from(a)), { maxLength: 4 }),
  })
  .map(({ bhs, chunks }) => {
    bhs[Bhs.totalAhsLength] = 0; // the parser refuses AHS (tested separately)
    return { bhs, chunks };
  });

const digests: fc.Arbitrary<DigestOptions> = fc.record({ headerDigest: fc.boolean(), dataDigest: fc.boolean() });

function toPdu(m: PduModel): Pdu {
  const pdu = new Pdu(Buffer.from(m.bhs));
  for (const c of m.chunks) {
    pdu.data.push({ buf: c, ref: null });
    pdu.dataLength += c.length;
  }
  return pdu;
}

function wireOf(models: PduModel[], opts: DigestOptions): { wire: Buffer; sent: Pdu[] } {
  const sent = models.map(toPdu);
  return { wire: Buffer.concat(sent.flatMap((p) => serializePdu(p, opts))), sent };
}

function parseAll(parser: PduParser, pieces: Buffer[]): Pdu[] {
  const out: Pdu[] = [];
  for (const piece of pieces) {
    parser.push(piece);
    for (let p = parser.next(); p !== null; p = parser.next()) out.push(p);
  }
  return out;
}

function dataOf(p: Pdu): Buffer {
  return Buffer.concat(p.data.map((c) => c.buf));
}

/** Cuts `wire` at the given offsets (sorted, deduplicated, inside the buffer); copies so no piece aliases another. */
function cut(wire: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (wire.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const p of [...at, wire.length]) {
    if (p > start) pieces.push(Buffer.from(wire.subarray(start, p)));
    start = Math.max(start, p);
  }
  return pieces;
}

const newParser = (opts: DigestOptions, max = 1 << 20) => new PduParser({ ...opts, maxRecvDataSegmentLength: max });

describe('BHS fields round trip through decodeBhs', () => {
  it('SCSI Command', () => {
    fc.assert(
      fc.property(u8, u32, u32, u32, u32, bytes(8), bytes(16), fc.boolean(), (flags, itt, edtl, cmdSn, expStatSn, lun, cdb, imm) => {
        const b = Buffer.alloc(BHS_SIZE);
        b[0] = InitiatorOpcode.ScsiCommand | (imm ? 0x40 : 0);
        b[1] = flags;
        lun.copy(b, ScsiCommandBhs.lun);
        b.writeUInt32BE(itt, ScsiCommandBhs.initiatorTaskTag);
        b.writeUInt32BE(edtl, ScsiCommandBhs.expectedDataTransferLength);
        b.writeUInt32BE(cmdSn, ScsiCommandBhs.cmdSn);
        b.writeUInt32BE(expStatSn, ScsiCommandBhs.expStatSn);
        cdb.copy(b, ScsiCommandBhs.cdb);
        const d = decodeBhs(b);
        expect(d.type).toBe('ScsiCommand');
        if (d.type !== 'ScsiCommand') return;
        expect(d.immediate).toBe(imm);
        expect(d.flags).toBe(flags);
        expect(d.final).toBe((flags & 0x80) !== 0);
        expect(d.read).toBe((flags & 0x40) !== 0);
        expect(d.write).toBe((flags & 0x20) !== 0);
        expect(d.taskAttribute).toBe(flags & 7);
        expect(d.initiatorTaskTag).toBe(itt);
        expect(d.expectedDataTransferLength).toBe(edtl);
        expect(d.cmdSn).toBe(cmdSn);
        expect(d.expStatSn).toBe(expStatSn);
        expect(Buffer.from(d.lun)).toEqual(lun);
        expect(Buffer.from(d.cdb)).toEqual(cdb);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('Data-Out, Data-In and R2T', () => {
    fc.assert(
      fc.property(u8, u32, u32, u32, u32, u32, (flags, itt, ttt, dataSn, offset, x) => {
        const out = Buffer.alloc(BHS_SIZE);
        out[0] = InitiatorOpcode.DataOut;
        out[1] = flags;
        out.writeUInt32BE(itt, DataOutBhs.initiatorTaskTag);
        out.writeUInt32BE(ttt, DataOutBhs.targetTransferTag);
        out.writeUInt32BE(x, DataOutBhs.expStatSn);
        out.writeUInt32BE(dataSn, DataOutBhs.dataSn);
        out.writeUInt32BE(offset, DataOutBhs.bufferOffset);
        const d = decodeBhs(out);
        expect(d).toMatchObject({ type: 'DataOut', final: (flags & 0x80) !== 0, initiatorTaskTag: itt, targetTransferTag: ttt, expStatSn: x, dataSn, bufferOffset: offset });

        const din = Buffer.alloc(BHS_SIZE);
        din[0] = TargetOpcode.DataIn;
        din[1] = flags;
        din.writeUInt32BE(itt, DataInBhs.initiatorTaskTag);
        din.writeUInt32BE(ttt, DataInBhs.targetTransferTag);
        din.writeUInt32BE(x, DataInBhs.statSn);
        din.writeUInt32BE(dataSn, DataInBhs.dataSn);
        din.writeUInt32BE(offset, DataInBhs.bufferOffset);
        din.writeUInt32BE((x ^ offset) >>> 0, DataInBhs.residualCount);
        expect(decodeBhs(din)).toMatchObject({ type: 'DataIn', initiatorTaskTag: itt, targetTransferTag: ttt, statSn: x, dataSn, bufferOffset: offset, residualCount: (x ^ offset) >>> 0 });

        const r2t = Buffer.alloc(BHS_SIZE);
        r2t[0] = TargetOpcode.R2t;
        r2t[1] = 0x80;
        r2t.writeUInt32BE(itt, R2tBhs.initiatorTaskTag);
        r2t.writeUInt32BE(ttt, R2tBhs.targetTransferTag);
        r2t.writeUInt32BE(dataSn, R2tBhs.r2tSn);
        r2t.writeUInt32BE(offset, R2tBhs.bufferOffset);
        r2t.writeUInt32BE(x, R2tBhs.desiredDataTransferLength);
        expect(decodeBhs(r2t)).toMatchObject({ type: 'R2t', initiatorTaskTag: itt, targetTransferTag: ttt, r2tSn: dataSn, bufferOffset: offset, desiredDataTransferLength: x });
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('any 48 bytes decode without throwing and the common fields are the raw bytes', () => {
    fc.assert(
      fc.property(bytes(BHS_SIZE), (b) => {
        const copy = Buffer.from(b);
        const d = decodeBhs(b);
        expect(b).toEqual(copy); // decoding does not write
        expect(d.opcode).toBe(b[0]! & 0x3f);
        expect(d.immediate).toBe((b[0]! & 0x40) !== 0);
        expect(d.flags).toBe(b[1]);
        expect(d.totalAhsLength).toBe(b[4]! * 4);
        expect(d.dataSegmentLength).toBe(b.readUIntBE(5, 3));
        expect(d.initiatorTaskTag).toBe(b.readUInt32BE(16));
      }),
      { seed: SEED, numRuns: RUNS * 3 },
    );
  });
});

describe('serializePdu → PduParser', () => {
  it('round trips arbitrary PDU streams with arbitrary digests', () => {
    fc.assert(
      fc.property(fc.array(pduModel, { minLength: 1, maxLength: 6 }), digests, (models, opts) => {
        const { wire, sent } = wireOf(models, opts);
        const got = parseAll(newParser(opts), [wire]);
        expect(got.length).toBe(sent.length);
        got.forEach((p, i) => {
          expect(Buffer.from(p.bhs)).toEqual(sent[i]!.bhs);
          expect(dataOf(p)).toEqual(Buffer.concat(models[i]!.chunks));
          expect(p.dataLength).toBe(sent[i]!.dataLength);
        });
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('a stream cut at arbitrary points reassembles identically', () => {
    fc.assert(
      fc.property(
        fc.array(pduModel, { minLength: 1, maxLength: 5 }),
        digests,
        fc.array(fc.nat(), { maxLength: 40 }),
        (models, opts, points) => {
          const { wire } = wireOf(models, opts);
          const whole = parseAll(newParser(opts), [Buffer.from(wire)]);
          const parser = newParser(opts);
          const split = parseAll(parser, cut(wire, points));
          expect(split.map((p) => [Buffer.from(p.bhs), dataOf(p)])).toEqual(whole.map((p) => [Buffer.from(p.bhs), dataOf(p)]));
          expect(parser.bufferedBytes).toBe(0);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('a flipped bit under a digest is detected (header or data)', () => {
    fc.assert(
      fc.property(pduModel, fc.nat(), fc.nat({ max: 7 }), (m, where, bit) => {
        const opts = { headerDigest: true, dataDigest: true };
        const { wire } = wireOf([m], opts);
        const corrupt = Buffer.from(wire);
        corrupt[where % corrupt.length]! ^= 1 << bit;
        const parser = newParser(opts);
        let threw: unknown = null;
        let got: Pdu[] = [];
        try {
          got = parseAll(parser, [corrupt]);
        } catch (e) {
          threw = e;
        }
        // Either an ICL error, or (a flip in the length field making the PDU
        // longer than the bytes sent) an incomplete PDU still waiting: never a
        // PDU delivered with the corruption.
        if (threw !== null) expect(threw).toBeInstanceOf(IclError);
        else expect(got).toEqual([]);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('hostile bytes: only IclErrors, and never more buffered than one maximal PDU', () => {
    const max = 8192;
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }).map((a) => Buffer.from(a)), { minLength: 1, maxLength: 30 }),
        digests,
        (pieces, opts) => {
          const parser = newParser(opts, max);
          for (const piece of pieces) {
            parser.push(piece);
            try {
              while (parser.next() !== null);
            } catch (e) {
              expect(e).toBeInstanceOf(IclError);
              expect(parser.bufferedBytes).toBe(0);
              return;
            }
            // One BHS + header digest + max data + pad + data digest, plus the piece that just arrived.
            expect(parser.bufferedBytes).toBeLessThanOrEqual(BHS_SIZE + 4 + max + 3 + 4 + 200);
          }
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });
});

describe('text keys', () => {
  const key = fc.stringMatching(/^[A-Za-z0-9.\-+@_:#]{1,63}$/);
  const value = fc.string({ unit: 'grapheme', maxLength: 64 }).filter((v) => !v.includes('\0'));
  it('encodeTextKeys → parseTextKeys round trips', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 12 }), (pairs) => {
        const list: TextKeyList = pairs.map(([k, v]) => [k, v]);
        expect(parseTextKeys(encodeTextKeys(list))).toEqual(list);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('arbitrary bytes parse or throw an IclError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (a) => {
        try {
          parseTextKeys(Buffer.from(a));
        } catch (e) {
          expect(e).toBeInstanceOf(IclError);
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
