// icl-soft specifics over the simulated NIC: coalescing, digests end to end
// (soft ↔ soft, with digests switched on between PDUs as login does), data
// digest corruption, held completions with a pooled-buffer model, receive
// batching, bounds on what a hostile peer can make us buffer, options,
// registration.
import { describe, expect, it } from 'vitest';
import { IclRegistry, type IclConn, type Pdu } from '@iscsi-target/icl-core';
import { SimNetwork } from '@iscsi-target/icl-offload-kpi';
import { CountingRef, encodePdu, makeBhs, PeerHarness, turns, waitFor } from '@iscsi-target/icl-offload-kpi/testing';
import { createSoftDriver, registerSoftDriver, resolveSoftOptions, SOFT_DEFAULTS, softDriver, SoftConn } from '@iscsi-target/icl-soft';
import { TestBufferPool } from './buffer-pool.js';
import { RecordingNic } from './recording-nic.js';

function simConn(options: Parameters<typeof createSoftDriver>[0] = {}) {
  const [a, b] = new SimNetwork({ seed: 11 }).pair();
  const nic = new RecordingNic(a);
  const conn = createSoftDriver(options).newConn({ name: 'soft-test' });
  conn.handoff(nic);
  return { conn, nic, sim: a, peerNic: b };
}

function nopIn(conn: IclConn, itt: number, data?: Buffer, ref?: CountingRef | PooledLike): Pdu {
  const pdu = conn.newPdu();
  pdu.bhs[0] = 0x20;
  pdu.bhs[1] = 0x80;
  pdu.bhs.writeUInt32BE(itt, 16);
  if (data !== undefined) conn.pduAppendData(pdu, data, ref === undefined ? {} : { noCopy: true, ref });
  return pdu;
}
type PooledLike = { retain(): void; release(): void };

describe('coalescing', () => {
  it('sends all PDUs queued in one turn as one NIC send', async () => {
    for (const flushScheduler of ['microtask', 'immediate'] as const) {
      const { conn, nic, peerNic } = simConn({ flushScheduler });
      const peer = new PeerHarness(peerNic).start();
      for (let i = 0; i < 10; i++) conn.pduQueue(nopIn(conn, i, Buffer.alloc(1000 + i)));
      await peer.waitForPdus(10);
      expect(nic.sends.length).toBe(1);
      expect(conn.nicSends).toBe(1);
      // 10 × (BHS + data [+ padding])
      expect(nic.sendParts[0]).toBeGreaterThanOrEqual(20);
      conn.free();
    }
  });

  it("with flushScheduler 'immediate', PDUs queued after awaits in one turn share a send", async () => {
    const { conn, nic, peerNic } = simConn({ flushScheduler: 'immediate' });
    const peer = new PeerHarness(peerNic).start();
    const worker = async (base: number): Promise<void> => {
      for (let i = 0; i < 5; i++) {
        await Promise.resolve();
        conn.pduQueue(nopIn(conn, base + i));
      }
    };
    await Promise.all([worker(0), worker(10), worker(20)]);
    await peer.waitForPdus(15);
    expect(nic.sends.length).toBe(1);
    conn.free();
  });

  it('queueing in later turns makes later sends; coalesce=false makes one send per PDU', async () => {
    const { conn, nic, peerNic } = simConn();
    const peer = new PeerHarness(peerNic).start();
    conn.pduQueue(nopIn(conn, 1));
    await turns(1);
    conn.pduQueue(nopIn(conn, 2));
    await peer.waitForPdus(2);
    expect(nic.sends.length).toBe(2);
    conn.free();

    const off = simConn({ coalesce: false });
    const peer2 = new PeerHarness(off.peerNic).start();
    for (let i = 0; i < 5; i++) off.conn.pduQueue(nopIn(off.conn, i));
    await peer2.waitForPdus(5);
    expect(off.nic.sends).toEqual([48, 48, 48, 48, 48]);
    off.conn.free();
  });

  it('bounds one coalesced send by maxCoalesceBytes (a PDU is never split)', async () => {
    const { conn, nic, peerNic } = simConn({ maxCoalesceBytes: 100_000 });
    const peer = new PeerHarness(peerNic).start();
    for (let i = 0; i < 6; i++) conn.pduQueue(nopIn(conn, i, Buffer.alloc(40_000)));
    conn.pduQueue(nopIn(conn, 6, Buffer.alloc(150_000)));
    await peer.waitForPdus(7);
    expect(nic.sends).toEqual([80_096, 80_096, 80_096, 150_048]);
    conn.free();
  });
});

describe('digests end to end (soft ↔ soft)', () => {
  it('round-trips a PDU stream, with digests switched on between two PDUs as login does', async () => {
    const [a, b] = new SimNetwork({ seed: 5 }).pair();
    a.maxSegment(1000); // PDUs straddle pieces; the switch happens mid-stream
    const driver = createSoftDriver();
    const tx = driver.newConn({ name: 'tx' });
    const rx = driver.newConn({ name: 'rx' });
    const got: { itt: number; data: Buffer }[] = [];
    const errors: Error[] = [];
    rx.onReceive = (pdu) => {
      const data = Buffer.alloc(pdu.dataLength);
      rx.pduGetData(pdu, 0, data);
      got.push({ itt: pdu.initiatorTaskTag, data });
      rx.pduFree(pdu);
      // The "final Login Response" was PDU 0: digests on from the next PDU.
      if (pdu.initiatorTaskTag === 0) {
        rx.headerDigest = true;
        rx.dataDigest = true;
      }
    };
    rx.onError = (_c, err) => errors.push(err);
    tx.onReceive = (pdu) => tx.pduFree(pdu);
    tx.handoff(a);
    rx.handoff(b);
    rx.maxRecvDataSegmentLength = 262144;
    const sent: Buffer[] = [];
    for (let i = 0; i < 30; i++) {
      const data = Buffer.alloc(i === 0 ? 17 : (i * 7919) % 70_000);
      for (let k = 0; k < data.length; k += 61) data[k] = (i + k) & 0xff;
      sent.push(data);
      tx.pduQueue(nopIn(tx, i, data));
      // Serialization happens at queue time: PDU 0 goes out without digests.
      if (i === 0) {
        tx.headerDigest = true;
        tx.dataDigest = true;
      }
    }
    await waitFor(() => got.length === 30 || errors.length > 0, 'every PDU');
    expect(errors).toEqual([]);
    expect(got.map((g) => g.itt)).toEqual([...Array(30).keys()]);
    for (let i = 0; i < 30; i++) expect(got[i]!.data.equals(sent[i]!)).toBe(true);
    tx.free();
    rx.free();
  });

  it('a data digest mismatch calls onError once with ICL_ERR_DATA_DIGEST', async () => {
    const { conn, peerNic } = simConn();
    conn.headerDigest = true;
    conn.dataDigest = true;
    const errors: Error[] = [];
    const pdus: Pdu[] = [];
    conn.onReceive = (p) => pdus.push(p);
    conn.onError = (_c, e) => errors.push(e);
    const opts = { headerDigest: true, dataDigest: true };
    const peer = new PeerHarness(peerNic, opts).start();
    const good = encodePdu(makeBhs(0x00, 1), Buffer.alloc(1000, 1), opts);
    const bad = encodePdu(makeBhs(0x00, 2), Buffer.alloc(1000, 2), opts);
    bad[48 + 4 + 500] = bad[48 + 4 + 500]! ^ 0xff; // flip a data byte
    void peer.send([good, bad, good]);
    await waitFor(() => errors.length > 0, 'onError');
    await turns(10);
    expect(errors.length).toBe(1);
    expect((errors[0] as Error & { code: string }).code).toBe('ICL_ERR_DATA_DIGEST');
    expect(pdus.length).toBe(1);
    conn.free();
  });
});

describe('held completions with pooled buffers', () => {
  it('keeps buffers out of the pool until the NIC releases them, then returns each exactly once', async () => {
    const { conn, sim, peerNic } = simConn();
    const pool = new TestBufferPool(8, 64 * 1024);
    sim.holdCompletions(true);
    sim.maxSegment(3000);
    const peer = new PeerHarness(peerNic).start();
    const expected: Buffer[] = [];
    const completions: (Error | null)[] = [];
    const poolFreeAtCb: number[] = [];
    for (let i = 0; i < 8; i++) {
      const p = pool.acquire();
      p.buf.fill(i + 1);
      expected.push(Buffer.from(p.buf));
      // Two Data-In PDUs per buffer, as a frontend splits one read.
      for (const half of [0, 1]) {
        const view = p.buf.subarray(half * 32 * 1024, (half + 1) * 32 * 1024);
        conn.pduQueueCb(nopIn(conn, i * 2 + half, view, p), (_pdu, err) => {
          completions.push(err);
          poolFreeAtCb.push(pool.free.length);
        });
      }
      p.release(); // the I/O is done; only the PDUs keep the buffer
    }
    await peer.waitForPdus(16);
    await turns(30);
    expect(pool.outstanding).toBe(8);
    expect(pool.free.length).toBe(0);
    expect(completions).toEqual([]);
    for (let i = 0; i < 16; i++) {
      expect(peer.received[i]!.data.equals(expected[i >> 1]!.subarray((i & 1) * 32768, ((i & 1) + 1) * 32768))).toBe(true);
    }
    await sim.releaseCompletions();
    await waitFor(() => completions.length === 16, 'completions');
    expect(completions.every((e) => e === null)).toBe(true);
    expect(pool.outstanding).toBe(0);
    expect(pool.free.length).toBe(8);
    expect(pool.overReleases).toBe(0);
    // Buffers are back (two PDUs each) before the second PDU's callback runs.
    expect(poolFreeAtCb.filter((_, i) => i % 2 === 1)).toEqual(poolFreeAtCb.filter((_, i) => i % 2 === 1).sort((x, y) => x - y));
    conn.free();
  });
});

describe('receive', () => {
  it('delivers at most receiveBatchPdus per turn, pausing the NIC while a backlog remains', async () => {
    const { conn, nic, peerNic } = simConn({ receiveBatchPdus: 4 });
    let turn = 0;
    let ticking = true;
    const tick = (): void => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const turnsSeen: number[] = [];
    const itts: number[] = [];
    conn.onReceive = (pdu) => {
      turnsSeen.push(turn);
      itts.push(pdu.initiatorTaskTag);
      conn.pduFree(pdu);
    };
    const peer = new PeerHarness(peerNic).start();
    const opts = { headerDigest: false, dataDigest: false };
    const stream = Buffer.concat([...Array(20).keys()].map((i) => encodePdu(makeBhs(0, i), Buffer.alloc(i * 10), opts)));
    void peer.send(stream);
    await waitFor(() => itts.length === 20, 'every PDU');
    await turns(3);
    ticking = false;
    expect(itts).toEqual([...Array(20).keys()]);
    const perTurn = new Map<number, number>();
    for (const t of turnsSeen) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(4);
    expect(nic.pauses).toBeGreaterThan(0);
    expect(nic.resumes).toBe(nic.pauses);
    conn.free();
  });

  it('refuses a huge DataSegmentLength right after the BHS and buffers nothing more', async () => {
    const { conn, nic, peerNic } = simConn();
    const errors: Error[] = [];
    conn.onReceive = (p) => conn.pduFree(p);
    conn.onError = (_c, e) => errors.push(e);
    const peer = new PeerHarness(peerNic).start();
    const bhs = makeBhs(0x05, 1);
    bhs.writeUIntBE(0xffffff, 5, 3);
    void peer.send(bhs);
    await waitFor(() => errors.length > 0, 'onError');
    for (let i = 0; i < 8; i++) void peer.send(Buffer.alloc(64 * 1024));
    await turns(20);
    expect(errors.length).toBe(1);
    expect((errors[0] as Error & { code: string }).code).toBe('ICL_ERR_DSL_EXCEEDED');
    expect(conn.receiveBufferedBytes).toBe(0);
    expect(nic.pauses).toBeGreaterThan(0);
    conn.free();
  });

  it('stops delivering when the handler closes the connection', async () => {
    const { conn, peerNic } = simConn();
    const itts: number[] = [];
    conn.onReceive = (pdu) => {
      itts.push(pdu.initiatorTaskTag);
      conn.pduFree(pdu);
      if (pdu.initiatorTaskTag === 2) conn.close();
    };
    const peer = new PeerHarness(peerNic).start();
    const opts = { headerDigest: false, dataDigest: false };
    void peer.send(Buffer.concat([0, 1, 2, 3, 4].map((i) => encodePdu(makeBhs(0, i), Buffer.alloc(8), opts))));
    await waitFor(() => itts.length >= 3, 'PDUs');
    await turns(10);
    expect(itts).toEqual([0, 1, 2]);
  });
});

describe('send queue accounting', () => {
  it('sendQueueBytes counts wire bytes until completion', async () => {
    const { conn, peerNic } = simConn();
    new PeerHarness(peerNic).start();
    let done = 0;
    conn.pduQueueCb(nopIn(conn, 1, Buffer.alloc(1001)), () => done++);
    conn.headerDigest = true;
    conn.dataDigest = true;
    conn.pduQueueCb(nopIn(conn, 2, Buffer.alloc(100)), () => done++);
    // 48 + 1001 + 3 pad; 48 + 4 + 100 + 4
    expect(conn.sendQueueBytes).toBe(1052 + 156);
    await waitFor(() => done === 2, 'completions');
    expect(conn.sendQueueBytes).toBe(0);
    conn.free();
  });

  it('throws on a malformed PDU without taking it, so the caller can free it', () => {
    const { conn } = simConn();
    const pdu = conn.newPdu();
    const ref = new CountingRef();
    conn.pduAppendData(pdu, Buffer.alloc(10), { noCopy: true, ref });
    pdu.dataLength = 11;
    expect(() => conn.pduQueue(pdu)).toThrow(RangeError);
    conn.pduFree(pdu);
    expect(ref.outstanding).toBe(0);
    conn.free();
  });

  it('queues PDUs before handoff and sends them once handed off', async () => {
    const conn = softDriver.newConn({ name: 'early' });
    let done: Error | null | undefined;
    conn.pduQueueCb(nopIn(conn, 7), (_p, e) => {
      done = e;
    });
    const [a, b] = new SimNetwork().pair();
    const peer = new PeerHarness(b).start();
    await turns(5);
    expect(done).toBeUndefined();
    conn.handoff(a);
    await peer.waitForPdus(1);
    await waitFor(() => done !== undefined, 'completion');
    expect(done).toBeNull();
    expect(() => conn.handoff(a)).toThrow(/already handed off/);
    conn.free();
  });
});

describe('driver module and options', () => {
  it('is named "none", priority 0, not iSER, with FreeBSD soft limits', () => {
    expect(softDriver.name).toBe('none');
    expect(softDriver.priority).toBe(0);
    expect(softDriver.iser).toBe(false);
    expect(softDriver.limits(null)).toEqual({
      maxRecvDataSegmentLength: 262144,
      maxSendDataSegmentLength: 262144,
      maxBurstLength: 1048576,
      firstBurstLength: 1048576,
    });
    expect(softDriver.newConn({ name: 'x' })).toBeInstanceOf(SoftConn);
    expect(softDriver.newConn({ name: 'x' }).offload).toBe('none');
  });

  it('registers into a given registry (limits validated there) and refuses a second registration', () => {
    const registry = new IclRegistry();
    expect(() => registry.find()).toThrow();
    registerSoftDriver(registry);
    expect(registry.find().name).toBe('none');
    expect(registry.limits(undefined, null).maxRecvDataSegmentLength).toBe(262144);
    expect(() => registerSoftDriver(registry)).toThrow(/already registered/);
  });

  it('validates tunables', () => {
    expect(resolveSoftOptions()).toEqual(SOFT_DEFAULTS);
    expect(resolveSoftOptions({ coalesce: false }).coalesce).toBe(false);
    expect(() => resolveSoftOptions({ maxDataSegmentLength: 100 })).toThrow(RangeError);
    expect(() => resolveSoftOptions({ sendHighWater: 0 })).toThrow(RangeError);
    expect(() => resolveSoftOptions({ flushScheduler: 'later' as never })).toThrow(RangeError);
  });
});
