// Split-point property of the soft driver's receive path (issue 13 item 8a),
// with fast-check: a stream of PDUs encoded by the kit's independent encoder
// (`encodePdu`, not the codec under test), delivered by a fake NIC cut at
// arbitrary points, reaches `onReceive` as the same PDUs in the same order,
// whatever the digests, chunking and receive batch limits; and arbitrary
// bytes end either in PDUs or in exactly one `onError`, never a throw out of
// the NIC upcall. Seeded, so a failure reproduces.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IclError, type Pdu } from '@iscsi-target/icl-core';
import type { NicConn, NicHandlers } from '@iscsi-target/icl-offload-kpi';
import { encodePdu, turns } from '@iscsi-target/icl-offload-kpi/testing';
import { createSoftDriver } from '@iscsi-target/icl-soft';

const SEED = 0x13_0008;

/** A NIC that delivers what the test pushes and records pause/resume; sends complete at once. */
class PushNic implements NicConn {
  readonly remoteAddress = '192.0.2.1';
  readonly remotePort = 1;
  readonly localAddress = '192.0.2.2';
  readonly localPort = 3260;
  readonly sendQueueBytes = 0;
  handlers: NicHandlers | null = null;
  paused = false;
  setHandlers(h: NicHandlers): void {
    this.handlers = h;
  }
  send(_bufs: readonly Buffer[], done: (err: Error | null) => void): boolean {
    setImmediate(() => done(null));
    return true;
  }
  pauseReceive(): void {
    this.paused = true;
  }
  resumeReceive(): void {
    this.paused = false;
  }
  close(): void {}
  destroy(): void {}
}

interface Model {
  bhs: Buffer;
  data: Buffer;
}

const model: fc.Arbitrary<Model> = fc
  .record({
    bhs: fc.uint8Array({ minLength: 48, maxLength: 48 }),
    data: fc.uint8Array({ maxLength: 1500 }),
  })
  .map(({ bhs, data }) => ({ bhs: Buffer.from(bhs), data: Buffer.from(data) }));

function cut(wire: Buffer, points: number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (wire.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of [...at, wire.length]) {
    if (p > start) out.push(Buffer.from(wire.subarray(start, p)));
    start = Math.max(start, p);
  }
  return out;
}

async function deliver(
  pieces: Buffer[],
  opts: { headerDigest: boolean; dataDigest: boolean; receiveBatchPdus: number },
): Promise<{ pdus: Pdu[]; errors: Error[] }> {
  const conn = createSoftDriver({ receiveBatchPdus: opts.receiveBatchPdus }).newConn({ name: 'prop' });
  conn.headerDigest = opts.headerDigest;
  conn.dataDigest = opts.dataDigest;
  conn.maxRecvDataSegmentLength = 8192;
  const pdus: Pdu[] = [];
  const errors: Error[] = [];
  conn.onReceive = (p) => pdus.push(p);
  conn.onError = (_c, e) => errors.push(e);
  const nic = new PushNic();
  conn.handoff(nic);
  for (const piece of pieces) {
    nic.handlers!.data(piece);
    // The receiver yields between batches with the NIC paused; a well-behaved NIC waits.
    for (let i = 0; i < 50 && nic.paused; i++) await turns(1);
  }
  for (let i = 0; i < 50 && nic.paused; i++) await turns(1);
  conn.free();
  return { pdus, errors };
}

describe('icl-soft receive: split points', () => {
  it('a PDU stream cut at arbitrary points is delivered as the same PDUs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(model, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        async (models, headerDigest, dataDigest, receiveBatchPdus, points) => {
          const wire = Buffer.concat(models.map((m) => encodePdu(m.bhs, m.data, { headerDigest, dataDigest })));
          const { pdus, errors } = await deliver(cut(wire, points), { headerDigest, dataDigest, receiveBatchPdus });
          expect(errors).toEqual([]);
          expect(pdus.length).toBe(models.length);
          pdus.forEach((p, i) => {
            const want = Buffer.from(models[i]!.bhs);
            want[4] = 0;
            want.writeUIntBE(models[i]!.data.length, 5, 3);
            expect(Buffer.from(p.bhs)).toEqual(want);
            expect(Buffer.concat(p.data.map((c) => c.buf))).toEqual(models[i]!.data);
          });
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('arbitrary bytes give PDUs or one IclError through onError, never a throw', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 400 }).map((a) => Buffer.from(a)), { minLength: 1, maxLength: 20 }),
        fc.boolean(),
        async (pieces, headerDigest) => {
          const { errors } = await deliver(pieces, { headerDigest, dataDigest: false, receiveBatchPdus: 2 });
          expect(errors.length).toBeLessThanOrEqual(1);
          for (const e of errors) expect(e).toBeInstanceOf(IclError);
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });
});
