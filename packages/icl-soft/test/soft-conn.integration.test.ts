// icl-soft over the tcp NIC driver on loopback: memory stays bounded when
// the peer stops reading, a reset completes everything exactly once, and a
// soft ↔ soft stream with digests survives real TCP segmentation.
import { afterEach, describe, expect, it } from 'vitest';
import type { NicConn, NicListener, Pdu } from '@iscsi-target/icl-core';
import { tcpNicDriver } from '@iscsi-target/icl-soft';
import { CountingRef, PeerHarness, turns, waitFor, sleep } from '@iscsi-target/icl-offload-kpi/testing';
import { createSoftDriver, type SoftConn, type SoftDriverOptions } from '@iscsi-target/icl-soft';
import { RecordingNic } from './recording-nic.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A SoftConn on the accepted side (its NIC recorded) and the raw client NIC. */
async function pair(options: Partial<SoftDriverOptions> = {}): Promise<{ conn: SoftConn; nic: RecordingNic; peer: NicConn }> {
  const driver = createSoftDriver(options);
  let accept!: (a: { conn: SoftConn; nic: RecordingNic }) => void;
  const accepted = new Promise<{ conn: SoftConn; nic: RecordingNic }>((resolve) => (accept = resolve));
  const listener: NicListener = await tcpNicDriver.listen({ host: '127.0.0.1', port: 0 }, (raw) => {
    const nic = new RecordingNic(raw);
    const conn = driver.newConn({ name: 'srv' });
    conn.handoff(nic);
    accept({ conn, nic });
  });
  const peer = await tcpNicDriver.connect({ host: '127.0.0.1', port: listener.port });
  const a = await accepted;
  cleanups.push(() => listener.close());
  cleanups.push(() => {
    a.conn.free();
    a.nic.destroy();
    peer.destroy();
  });
  return { ...a, peer };
}

function dataIn(conn: SoftConn, itt: number, buf: Buffer, ref: CountingRef): Pdu {
  const pdu = conn.newPdu();
  pdu.bhs[0] = 0x25;
  pdu.bhs.writeUInt32BE(itt, 16);
  conn.pduAppendData(pdu, buf, { noCopy: true, ref });
  return pdu;
}

describe('icl-soft over tcp', () => {
  it('keeps the NIC queue at the high-water mark when the peer stops reading; the rest waits, visible in sendQueueBytes', async () => {
    const sendHighWater = 1024 * 1024;
    const maxCoalesceBytes = 256 * 1024;
    const { conn, nic, peer: peerNic } = await pair({ sendHighWater, maxCoalesceBytes });
    conn.onError = () => {};
    let received = 0;
    peerNic.setHandlers({ data: (b) => (received += b.length), drain: () => {}, close: () => {} });
    peerNic.pauseReceive();
    const block = Buffer.alloc(256 * 1024, 0xab);
    const ref = new CountingRef();
    let completed = 0;
    const total = 256; // 64 MiB: far more than loopback kernel buffers absorb
    for (let i = 0; i < total; i++) {
      conn.pduQueueCb(dataIn(conn, i, block, ref), (_p, err) => {
        expect(err).toBeNull();
        completed++;
      });
      if (i % 16 === 15) await turns(2);
    }
    await sleep(50);
    const wire = total * (48 + block.length);
    // The NIC never holds more than the high-water mark plus one batch.
    expect(nic.maxSendQueueBytes).toBeLessThanOrEqual(sendHighWater + maxCoalesceBytes + 48);
    // Everything not completed is counted, and what the NIC does not hold
    // waits in the driver, where the producer can see it.
    expect(completed).toBeLessThan(total);
    expect(conn.sendQueueBytes).toBe(wire - completed * (48 + block.length));
    expect(conn.sendQueueBytes).toBeGreaterThan(nic.sendQueueBytes + 8 * 1024 * 1024);
    peerNic.resumeReceive();
    await waitFor(() => completed === total, 'every completion', 20_000);
    await waitFor(() => received === wire, 'every byte', 20_000);
    expect(conn.sendQueueBytes).toBe(0);
    expect(ref.outstanding).toBe(0);
    expect(ref.retains).toBe(total);
  });

  it('a connection reset completes queued and in-flight PDUs exactly once, with errors, and calls onError once', async () => {
    const { conn, peer: peerNic } = await pair({ sendHighWater: 512 * 1024 });
    const errors: Error[] = [];
    conn.onError = (_c, e) => errors.push(e);
    peerNic.setHandlers({ data: () => {}, drain: () => {}, close: () => {} });
    peerNic.pauseReceive();
    const block = Buffer.alloc(256 * 1024, 1);
    const ref = new CountingRef();
    const calls = new Map<number, (Error | null)[]>();
    for (let i = 0; i < 64; i++) {
      calls.set(i, []);
      conn.pduQueueCb(dataIn(conn, i, block, ref), (_p, err) => calls.get(i)!.push(err));
    }
    await sleep(30);
    // Unread data in the peer's receive buffer: close() sends a RST.
    peerNic.destroy();
    await waitFor(() => [...calls.values()].every((c) => c.length > 0) && errors.length > 0, 'completions and onError', 10_000);
    await turns(20);
    for (const c of calls.values()) expect(c.length).toBe(1);
    expect([...calls.values()].filter((c) => c[0] !== null).length).toBeGreaterThan(0);
    expect(errors.length).toBe(1);
    expect(ref.outstanding).toBe(0);
    expect(ref.overReleases).toBe(0);
  });

  it('carries a soft ↔ soft stream of large PDUs with digests intact', async () => {
    const driver = createSoftDriver();
    const rxs: SoftConn[] = [];
    const got: Buffer[] = [];
    const errors: Error[] = [];
    const listener = await tcpNicDriver.listen({ host: '127.0.0.1', port: 0 }, (nic) => {
      const c = driver.newConn({ name: 'rx' });
      c.headerDigest = c.dataDigest = true;
      c.maxRecvDataSegmentLength = 262144;
      c.onReceive = (pdu) => {
        const d = Buffer.alloc(pdu.dataLength);
        c.pduGetData(pdu, 0, d);
        got.push(d);
        c.pduFree(pdu);
      };
      c.onError = (_c, e) => errors.push(e);
      c.handoff(nic);
      rxs.push(c);
    });
    cleanups.push(() => listener.close());
    const tx = driver.newConn({ name: 'tx' });
    tx.headerDigest = tx.dataDigest = true;
    tx.onReceive = (p) => tx.pduFree(p);
    tx.handoff(await tcpNicDriver.connect({ host: '127.0.0.1', port: listener.port }));
    cleanups.push(() => {
      tx.free();
      for (const c of rxs) c.free();
    });
    const ref = new CountingRef();
    const blocks: Buffer[] = [];
    for (let i = 0; i < 64; i++) {
      const b = Buffer.alloc(262144 - (i % 5), i);
      blocks.push(b);
      tx.pduQueue(dataIn(tx, i, b, ref));
    }
    await waitFor(() => got.length === 64 || errors.length > 0, 'every PDU', 20_000);
    expect(errors).toEqual([]);
    for (let i = 0; i < 64; i++) expect(got[i]!.equals(blocks[i]!)).toBe(true);
    await waitFor(() => ref.outstanding === 0, 'references released');
  });

  it('passes a raw peer harness check: remote and local addresses come from the NIC', async () => {
    const { conn, peer: peerNic } = await pair();
    new PeerHarness(peerNic).start();
    expect(conn.remoteAddress).toBe('127.0.0.1');
    expect(conn.remotePort).toBe(peerNic.localPort);
    expect(conn.localPort).toBe(peerNic.remotePort);
  });
});
