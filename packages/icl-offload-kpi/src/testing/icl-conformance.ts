/**
 * Conformance suite for ICL drivers: the completion and ownership contract
 * of `IclConn` (icl-core `conn.ts`, DESIGN.md §3.1, FreeBSD's
 * `pdu_queue_cb` rules in freebsd-arch.md §2.6) and the receive path.
 *
 * What it checks:
 * - `pduQueueCb` completes each PDU exactly once, never synchronously, with
 *   borrowed references released (exactly once) before the callback;
 * - borrowed memory may be reused as soon as the callback ran: the bytes on
 *   the wire are still the original ones;
 * - with a NIC that holds its completions (sim), nothing completes and no
 *   reference is released until the NIC lets go — even after `close()`;
 * - reordered NIC completions still complete every PDU exactly once;
 * - `close()` completes queued PDUs (with an error) exactly once without
 *   calling `onError`; queueing afterwards completes with an error on a
 *   later turn; a reset completes queued and held PDUs with an error and
 *   calls `onError` once; a peer close calls `onError` once;
 * - `pduFree` of a PDU never queued releases its references;
 * - received PDUs arrive intact however the stream is segmented, with and
 *   without digests; a DataSegmentLength over our limit or a bad digest
 *   calls `onError` once and stops delivery.
 *
 * What it does not do: performance, iSCSI semantics above framing.
 */
import { describe, expect, it } from 'vitest';
import type { IclConn, NicConn, Pdu } from '@iscsi-target/icl-core/kpi';
import { Prng } from '../prng.js';
import type { SimNicConn } from '../sim-nic.js';
import { CountingRef } from './counting-ref.js';
import { encodePdu, makeBhs, PeerHarness, type WireOptions } from './wire.js';
import { nextTurn, turns, waitFor } from './wait.js';

/** A connection under test and the raw far end of its transport. */
export interface IclConformancePair {
  /** A connection already handed off to its NIC; the kit sets `onReceive`/`onError`. */
  conn: IclConn;
  /** The far end of the transport (no handlers set): the kit plays the initiator. */
  peer: NicConn;
  /**
   * The NIC end under `conn`, when it is simulated: enables the fault
   * injection tests (held and reordered completions, segmentation, reset).
   * Without it those tests are skipped.
   */
  sim?: SimNicConn;
  /** Closes and frees everything (safe after the test closed `conn`). */
  dispose(): Promise<void>;
}

/** Target → initiator opcode used for the PDUs the kit sends (NOP-In, RFC 7143 §11.19). */
const OUT_OPCODE = 0x20;
/** Initiator → target opcode used for the PDUs the peer sends (NOP-Out, RFC 7143 §11.18). */
const IN_OPCODE = 0x00;

/** What happened to one PDU queued by the kit. */
interface Queued {
  pdu: Pdu;
  itt: number;
  data: Buffer;
  /** A copy of `data` as queued, to compare with what the peer got. */
  original: Buffer;
  ref: CountingRef | null;
  calls: number;
  error: Error | null;
  sync: boolean;
  /** Outstanding retains of `ref` when the callback ran. */
  outstandingAtCb: number;
}

function fill(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i += 251) b.fill((seed + i) & 0xff, i, Math.min(len, i + 251));
  return b;
}

/** Observes a connection's upcalls. */
class ConnRecorder {
  readonly pdus: { bhs: Buffer; data: Buffer; views: Buffer[] }[] = [];
  errors: Error[] = [];

  constructor(conn: IclConn) {
    conn.onReceive = (pdu) => {
      const len = pdu.dataLength;
      const data = Buffer.alloc(len);
      if (len > 0) conn.pduGetData(pdu, 0, data);
      const views = len > 0 ? conn.pduDataViews(pdu, 0, len) : [];
      this.pdus.push({ bhs: Buffer.from(pdu.bhs), data, views });
      conn.pduFree(pdu);
    };
    conn.onError = (_c, err) => {
      this.errors.push(err);
    };
  }
}

/**
 * Defines the ICL driver conformance suite. `makePair` is called once per
 * test; it returns a connection already handed off to a NIC end, and the
 * other end of that transport.
 */
export function runIclDriverConformance(name: string, makePair: () => Promise<IclConformancePair>): void {
  async function withPair(fn: (p: IclConformancePair) => Promise<void>): Promise<void> {
    const p = await makePair();
    try {
      await fn(p);
    } finally {
      await p.dispose();
    }
  }

  /** Queues a PDU with `len` bytes of data, borrowed (with a counting ref) or copied. */
  function queue(conn: IclConn, itt: number, len: number, borrow: boolean, withCb = true): Queued {
    const pdu = conn.newPdu();
    pdu.bhs[0] = OUT_OPCODE;
    pdu.bhs[1] = 0x80;
    pdu.bhs.writeUInt32BE(itt, 16);
    const data = fill(len, itt);
    const ref = borrow && len > 0 ? new CountingRef() : null;
    if (len > 0) {
      if (ref !== null) conn.pduAppendData(pdu, data, { noCopy: true, ref });
      else conn.pduAppendData(pdu, data);
    }
    const q: Queued = { pdu, itt, data, original: Buffer.from(data), ref, calls: 0, error: null, sync: false, outstandingAtCb: -1 };
    if (!withCb) {
      conn.pduQueue(pdu);
      return q;
    }
    let inCall = true;
    conn.pduQueueCb(pdu, (_p, err) => {
      q.calls++;
      q.error = err;
      if (inCall) q.sync = true;
      q.outstandingAtCb = ref?.outstanding ?? 0;
    });
    inCall = false;
    return q;
  }

  function expectCompletedOnce(qs: readonly Queued[]): void {
    for (const q of qs) {
      expect(q.calls, `PDU ${q.itt} completions`).toBe(1);
      expect(q.sync, `PDU ${q.itt} completed synchronously`).toBe(false);
      expect(q.outstandingAtCb, `PDU ${q.itt} refs outstanding at its callback`).toBe(0);
      if (q.ref !== null) {
        expect(q.ref.retains).toBeGreaterThan(0);
        expect(q.ref.outstanding).toBe(0);
        expect(q.ref.overReleases).toBe(0);
      }
    }
  }

  function expectWire(peer: PeerHarness, qs: readonly Queued[]): void {
    expect(peer.wireError).toBeNull();
    expect(peer.received.map((p) => p.bhs.readUInt32BE(16))).toEqual(qs.map((q) => q.itt));
    for (let i = 0; i < qs.length; i++) {
      const got = peer.received[i]!;
      expect(got.bhs[0]! & 0x3f).toBe(OUT_OPCODE);
      expect(got.data.equals(qs[i]!.original), `PDU ${qs[i]!.itt} data on the wire`).toBe(true);
    }
  }

  describe(`ICL driver conformance: ${name}`, () => {
    describe('transmit', () => {
      it('completes each queued PDU exactly once, asynchronously, refs released before the callback', async () => {
        await withPair(async ({ conn, peer: nic }) => {
          const rec = new ConnRecorder(conn);
          const peer = new PeerHarness(nic).start();
          const sizes = [0, 1, 2, 3, 4, 5, 48, 511, 4096, 8191, 65_536, 100_003, 0, 7];
          const qs = sizes.map((len, i) => queue(conn, i + 1, len, i % 3 !== 2));
          for (const q of qs) expect(q.calls).toBe(0);
          await waitFor(() => qs.every((q) => q.calls > 0), 'every completion');
          await peer.waitForPdus(qs.length);
          await turns(5);
          expectCompletedOnce(qs);
          for (const q of qs) expect(q.error).toBeNull();
          expectWire(peer, qs);
          expect(rec.errors).toEqual([]);
        });
      });

      it('pduQueue without a callback still releases borrowed references exactly once', async () => {
        await withPair(async ({ conn, peer: nic }) => {
          new ConnRecorder(conn);
          const peer = new PeerHarness(nic).start();
          const qs = [queue(conn, 1, 1000, true, false), queue(conn, 2, 70_000, true, false)];
          await peer.waitForPdus(2);
          await waitFor(() => qs.every((q) => q.ref!.outstanding === 0), 'references released');
          await turns(5);
          for (const q of qs) {
            expect(q.ref!.retains).toBe(q.ref!.releases);
            expect(q.ref!.overReleases).toBe(0);
          }
          expectWire(peer, qs);
        });
      });

      it('borrowed memory may be reused as soon as the callback ran', async () => {
        await withPair(async ({ conn, peer: nic, sim }) => {
          new ConnRecorder(conn);
          // A slow wire makes an early completion visible as garbage.
          sim?.maxSegment(1500);
          sim?.reorderCompletions(true);
          const peer = new PeerHarness(nic).start();
          const qs: Queued[] = [];
          for (let i = 0; i < 12; i++) qs.push(queue(conn, 100 + i, 3000 + i * 5000, true));
          for (const q of qs) {
            const check = q;
            const prevRef = check.ref!;
            // Reuse the memory (as a buffer pool would) the moment the ref drops to zero.
            prevRef.onZero = () => check.data.fill(0xee);
          }
          await waitFor(() => qs.every((q) => q.calls > 0), 'every completion');
          await peer.waitForPdus(qs.length);
          expectCompletedOnce(qs);
          expectWire(peer, qs);
        });
      });

      it('with held NIC completions, nothing completes and no reference drops until the NIC lets go', async (ctx) => {
        await withPair(async ({ conn, peer: nic, sim }) => {
          if (sim === undefined) return ctx.skip();
          new ConnRecorder(conn);
          sim.holdCompletions(true);
          const peer = new PeerHarness(nic).start();
          const qs = [queue(conn, 1, 10_000, true), queue(conn, 2, 0, false), queue(conn, 3, 300_000, true)];
          await peer.waitForPdus(3);
          await turns(20);
          expect(sim.heldCompletions).toBeGreaterThan(0);
          for (const q of qs) expect(q.calls).toBe(0);
          for (const q of qs) if (q.ref !== null) expect(q.ref.outstanding).toBe(1);
          await sim.releaseCompletions();
          await waitFor(() => qs.every((q) => q.calls > 0), 'completions after release');
          await turns(5);
          expectCompletedOnce(qs);
          for (const q of qs) expect(q.error).toBeNull();
          expectWire(peer, qs);
        });
      });

      it('reordered NIC completions still complete every PDU exactly once', async (ctx) => {
        await withPair(async ({ conn, peer: nic, sim }) => {
          if (sim === undefined) return ctx.skip();
          new ConnRecorder(conn);
          sim.reorderCompletions(true);
          sim.maxSegment(4000);
          const peer = new PeerHarness(nic).start();
          const qs: Queued[] = [];
          for (let round = 0; round < 10; round++) {
            for (let i = 0; i < 5; i++) qs.push(queue(conn, round * 10 + i, (round * 7 + i * 13) * 97, i % 2 === 0));
            await nextTurn();
          }
          await waitFor(() => qs.every((q) => q.calls > 0), 'every completion');
          await peer.waitForPdus(qs.length);
          await turns(10);
          expectCompletedOnce(qs);
          for (const q of qs) expect(q.error).toBeNull();
          expectWire(peer, qs);
        });
      });
    });

    describe('close and errors', () => {
      it('close() completes queued PDUs exactly once (with an error if unsent) and does not call onError', async () => {
        await withPair(async ({ conn, peer: nic }) => {
          const rec = new ConnRecorder(conn);
          new PeerHarness(nic).start();
          const qs = [queue(conn, 1, 5000, true), queue(conn, 2, 0, false), queue(conn, 3, 200_000, true)];
          conn.close();
          expect(conn.disconnecting).toBe(true);
          for (const q of qs) expect(q.calls).toBe(0);
          await waitFor(() => qs.every((q) => q.calls > 0), 'every completion');
          await turns(10);
          expectCompletedOnce(qs);
          expect(rec.errors).toEqual([]);
        });
      });

      it('queueing after close() completes with an error on a later turn and releases references', async () => {
        await withPair(async ({ conn, peer: nic }) => {
          const rec = new ConnRecorder(conn);
          new PeerHarness(nic).start();
          conn.close();
          const q = queue(conn, 9, 4096, true);
          const q2 = queue(conn, 10, 4096, true, false);
          expect(q.calls).toBe(0);
          await waitFor(() => q.calls > 0 && q2.ref!.outstanding === 0, 'completion and release');
          await turns(5);
          expectCompletedOnce([q]);
          expect(q.error).toBeInstanceOf(Error);
          expect(q2.ref!.overReleases).toBe(0);
          expect(rec.errors).toEqual([]);
        });
      });

      it('close() with held NIC completions completes those PDUs only when the NIC lets go', async (ctx) => {
        await withPair(async ({ conn, peer: nic, sim }) => {
          if (sim === undefined) return ctx.skip();
          const rec = new ConnRecorder(conn);
          sim.holdCompletions(true);
          const peer = new PeerHarness(nic).start();
          const qs = [queue(conn, 1, 8000, true), queue(conn, 2, 60_000, true)];
          await peer.waitForPdus(2);
          await turns(5);
          conn.close();
          await turns(20);
          for (const q of qs) {
            expect(q.calls).toBe(0);
            expect(q.ref!.outstanding).toBe(1);
          }
          await sim.releaseCompletions();
          await waitFor(() => qs.every((q) => q.calls > 0), 'completions after release');
          await turns(5);
          expectCompletedOnce(qs);
          expect(rec.errors).toEqual([]);
        });
      });

      it('a reset completes queued and held PDUs with an error exactly once and calls onError once', async (ctx) => {
        await withPair(async ({ conn, peer: nic, sim }) => {
          if (sim === undefined) return ctx.skip();
          const rec = new ConnRecorder(conn);
          sim.holdCompletions(true);
          const peer = new PeerHarness(nic).start();
          const held = [queue(conn, 1, 8000, true), queue(conn, 2, 0, false)];
          await peer.waitForPdus(2);
          await turns(5);
          nic.pauseReceive();
          const stuck = [queue(conn, 3, 50_000, true), queue(conn, 4, 10, true)];
          await turns(5);
          const resetError = new Error('link down');
          sim.reset(resetError);
          const late = queue(conn, 5, 100, true);
          const all = [...held, ...stuck, late];
          await waitFor(() => all.every((q) => q.calls > 0) && rec.errors.length > 0, 'completions and onError');
          await turns(10);
          expectCompletedOnce(all);
          for (const q of all) expect(q.error).toBeInstanceOf(Error);
          expect(rec.errors.length).toBe(1);
        });
      });

      it('the peer closing the connection calls onError exactly once', async () => {
        await withPair(async ({ conn, peer: nic }) => {
          const rec = new ConnRecorder(conn);
          new PeerHarness(nic).start();
          nic.close();
          await waitFor(() => rec.errors.length > 0, 'onError');
          await turns(10);
          expect(rec.errors.length).toBe(1);
        });
      });

      it('the peer destroying the connection calls onError once and fails later PDUs', async () => {
        await withPair(async ({ conn, peer: nic }) => {
          const rec = new ConnRecorder(conn);
          new PeerHarness(nic).start();
          nic.destroy();
          await waitFor(() => rec.errors.length > 0, 'onError');
          const q = queue(conn, 1, 1000, true);
          await waitFor(() => q.calls > 0, 'completion');
          await turns(10);
          expect(rec.errors.length).toBe(1);
          expectCompletedOnce([q]);
          expect(q.error).toBeInstanceOf(Error);
        });
      });

      it('pduFree of a PDU never queued releases its references once', async () => {
        await withPair(async ({ conn }) => {
          new ConnRecorder(conn);
          const pdu = conn.newPdu();
          const ref = new CountingRef();
          conn.pduAppendData(pdu, Buffer.alloc(100), { noCopy: true, ref });
          conn.pduAppendData(pdu, Buffer.alloc(50), { noCopy: true, ref });
          conn.pduAppendData(pdu, Buffer.alloc(10));
          expect(ref.outstanding).toBe(2);
          conn.pduFree(pdu);
          expect(ref.outstanding).toBe(0);
          expect(ref.overReleases).toBe(0);
          await Promise.resolve();
        });
      });
    });

    describe('receive', () => {
      async function sendStream(peer: PeerHarness, stream: Buffer, prng: Prng, maxPiece: number): Promise<void> {
        let pos = 0;
        while (pos < stream.length) {
          const n = Math.min(stream.length - pos, 1 + prng.int(maxPiece));
          const err = await peer.send(stream.subarray(pos, pos + n));
          expect(err).toBeNull();
          pos += n;
          if (prng.int(3) === 0) await nextTurn();
        }
      }

      function makeStream(count: number, prng: Prng, opts: WireOptions, maxLen: number): { stream: Buffer; sent: { itt: number; data: Buffer }[] } {
        const sent: { itt: number; data: Buffer }[] = [];
        const parts: Buffer[] = [];
        for (let i = 0; i < count; i++) {
          const len = [0, 1, 2, 3, 4, 5, 47, 48, 49][i] ?? prng.int(maxLen + 1);
          const data = fill(len, i * 3 + 1);
          sent.push({ itt: i, data });
          parts.push(encodePdu(makeBhs(IN_OPCODE, i), data, opts));
        }
        return { stream: Buffer.concat(parts), sent };
      }

      function expectReceived(rec: ConnRecorder, sent: { itt: number; data: Buffer }[]): void {
        expect(rec.pdus.map((p) => p.bhs.readUInt32BE(16))).toEqual(sent.map((s) => s.itt));
        for (let i = 0; i < sent.length; i++) {
          const got = rec.pdus[i]!;
          expect(got.data.equals(sent[i]!.data), `PDU ${i} data`).toBe(true);
          // The views stay valid after more data arrived (received memory is never reused).
          expect(Buffer.concat(got.views).equals(sent[i]!.data), `PDU ${i} views`).toBe(true);
        }
      }

      it('delivers PDUs intact across arbitrary segmentation', async () => {
        await withPair(async ({ conn, peer: nic }) => {
          const rec = new ConnRecorder(conn);
          const peer = new PeerHarness(nic).start();
          const opts = { headerDigest: false, dataDigest: false };
          const { stream, sent } = makeStream(40, new Prng(3), opts, 6000);
          await sendStream(peer, stream, new Prng(4), 700);
          await waitFor(() => rec.pdus.length >= sent.length || rec.errors.length > 0, 'every PDU');
          expect(rec.errors).toEqual([]);
          expectReceived(rec, sent);
        });
      });

      it('round-trips PDUs with header and data digests', async () => {
        await withPair(async ({ conn, peer: nic }) => {
          const rec = new ConnRecorder(conn);
          const opts = { headerDigest: true, dataDigest: true };
          conn.headerDigest = true;
          conn.dataDigest = true;
          const peer = new PeerHarness(nic, opts).start();
          const { stream, sent } = makeStream(20, new Prng(5), opts, 5000);
          await sendStream(peer, stream, new Prng(6), 3000);
          await waitFor(() => rec.pdus.length >= sent.length || rec.errors.length > 0, 'every PDU');
          expect(rec.errors).toEqual([]);
          expectReceived(rec, sent);
          const qs = [0, 1, 5, 4096, 70_001].map((len, i) => queue(conn, 500 + i, len, i % 2 === 0));
          await waitFor(() => qs.every((q) => q.calls > 0), 'every completion');
          await peer.waitForPdus(qs.length);
          expectCompletedOnce(qs);
          expectWire(peer, qs);
        });
      });

      it('a DataSegmentLength over MaxRecvDataSegmentLength calls onError once and stops delivery', async () => {
        await withPair(async ({ conn, peer: nic }) => {
          const rec = new ConnRecorder(conn);
          conn.maxRecvDataSegmentLength = 8192;
          const peer = new PeerHarness(nic).start();
          const opts = { headerDigest: false, dataDigest: false };
          const ok = encodePdu(makeBhs(IN_OPCODE, 1), fill(8192, 1), opts);
          const tooLong = encodePdu(makeBhs(IN_OPCODE, 2), fill(8193, 2), opts);
          const after = encodePdu(makeBhs(IN_OPCODE, 3), fill(10, 3), opts);
          // Not awaited: after the error the driver may stop reading, and a
          // NIC without a kernel buffer then never completes these sends.
          void peer.send([ok, tooLong, after]);
          await waitFor(() => rec.errors.length > 0, 'onError');
          void peer.send(after);
          await turns(20);
          expect(rec.errors.length).toBe(1);
          expect(rec.pdus.map((p) => p.bhs.readUInt32BE(16))).toEqual([1]);
        });
      });

      it('a header digest mismatch calls onError once and delivers nothing more', async () => {
        await withPair(async ({ conn, peer: nic }) => {
          const rec = new ConnRecorder(conn);
          conn.headerDigest = true;
          const opts = { headerDigest: true, dataDigest: false };
          const peer = new PeerHarness(nic, opts).start();
          const good = encodePdu(makeBhs(IN_OPCODE, 1), fill(100, 1), opts);
          const bad = encodePdu(makeBhs(IN_OPCODE, 2), fill(100, 2), opts);
          bad[48] = bad[48]! ^ 0x01; // corrupt the header digest
          void peer.send([good, bad, good]);
          await waitFor(() => rec.errors.length > 0, 'onError');
          await turns(20);
          expect(rec.errors.length).toBe(1);
          expect(rec.pdus.length).toBe(1);
        });
      });
    });
  });
}
