// The `sim` NIC driver: the NIC conformance suite, plus its fault
// injection (held and reordered completions, segmentation, reset) and its
// listen/connect driver face.
import { describe, expect, it } from 'vitest';
import { SimNetwork, type NicHandlers } from '@iscsi-target/icl-offload-kpi';
import { runNicDriverConformance, turns, waitFor } from '@iscsi-target/icl-offload-kpi/testing';

runNicDriverConformance('sim', () => {
  const [a, b] = new SimNetwork({ seed: 42 }).pair();
  return Promise.resolve({
    a,
    b,
    dispose() {
      a.destroy();
      b.destroy();
      return Promise.resolve();
    },
  });
});

function recorder(): { handlers: NicHandlers; chunks: Buffer[]; closes: (Error | null)[] } {
  const chunks: Buffer[] = [];
  const closes: (Error | null)[] = [];
  return { chunks, closes, handlers: { data: (b) => chunks.push(b), drain: () => {}, close: (e) => closes.push(e) } };
}

describe('sim NIC fault injection', () => {
  it('maxSegment cuts the stream into pieces of at most n bytes across send boundaries', async () => {
    const [a, b] = new SimNetwork().pair();
    const rb = recorder();
    a.setHandlers(recorder().handlers);
    b.setHandlers(rb.handlers);
    a.maxSegment(7);
    a.send([Buffer.from('0123456789')], () => {});
    a.send([Buffer.from('abcdefghij')], () => {});
    await waitFor(() => Buffer.concat(rb.chunks).length === 20, 'all bytes');
    expect(rb.chunks.map((c) => c.length)).toEqual([7, 7, 6]);
    expect(Buffer.concat(rb.chunks).toString()).toBe('0123456789abcdefghij');
  });

  it('copies lazily: bytes changed before they are transmitted show on the wire', async () => {
    // This is what lets the ICL conformance kit catch early completions.
    const [a, b] = new SimNetwork().pair();
    const rb = recorder();
    a.setHandlers(recorder().handlers);
    b.setHandlers(rb.handlers);
    const buf = Buffer.from('aaaa');
    a.send([buf], () => {});
    buf.fill('b');
    await waitFor(() => rb.chunks.length === 1, 'data');
    expect(rb.chunks[0]!.toString()).toBe('bbbb');
  });

  it('holdCompletions keeps done callbacks until releaseCompletions', async () => {
    const [a, b] = new SimNetwork().pair();
    const rb = recorder();
    a.setHandlers(recorder().handlers);
    b.setHandlers(rb.handlers);
    a.holdCompletions(true);
    const done: (Error | null)[] = [];
    a.send([Buffer.alloc(100)], (e) => done.push(e));
    a.send([Buffer.alloc(50)], (e) => done.push(e));
    await waitFor(() => a.transmittedBytes === 150, 'transmission');
    await turns(10);
    expect(done).toEqual([]);
    expect(a.heldCompletions).toBe(2);
    expect(a.sendQueueBytes).toBe(150);
    expect(await a.releaseCompletions()).toBe(2);
    expect(done).toEqual([null, null]);
    expect(a.sendQueueBytes).toBe(0);
  });

  it('reorderCompletions completes in a seeded, non-FIFO order, each exactly once', async () => {
    const run = async (seed: number): Promise<number[]> => {
      const [a, b] = new SimNetwork({ seed }).pair();
      a.setHandlers(recorder().handlers);
      b.setHandlers(recorder().handlers);
      a.reorderCompletions(true);
      a.holdCompletions(true);
      const order: number[] = [];
      for (let i = 0; i < 20; i++) a.send([Buffer.alloc(10)], () => order.push(i));
      await waitFor(() => a.heldCompletions === 20, 'held');
      await a.releaseCompletions();
      return order;
    };
    const o1 = await run(9);
    const o2 = await run(9);
    expect(o1).toEqual(o2);
    expect([...o1].sort((x, y) => x - y)).toEqual([...Array(20).keys()]);
    expect(o1).not.toEqual([...Array(20).keys()]);
  });

  it('reset fails queued and held sends exactly once and closes both ends with the error', async () => {
    const [a, b] = new SimNetwork().pair();
    const ra = recorder();
    const rb = recorder();
    a.setHandlers(ra.handlers);
    b.setHandlers(rb.handlers);
    a.holdCompletions(true);
    const done: (Error | null)[] = [];
    a.send([Buffer.alloc(100)], (e) => done.push(e));
    await waitFor(() => a.heldCompletions === 1, 'held');
    b.pauseReceive();
    a.send([Buffer.alloc(100)], (e) => done.push(e));
    const err = new Error('cable pulled');
    a.reset(err);
    await waitFor(() => done.length === 2 && ra.closes.length === 1 && rb.closes.length === 1, 'reset');
    await a.releaseCompletions();
    await turns(10);
    expect(done).toEqual([err, err]);
    expect(ra.closes).toEqual([err]);
    expect(rb.closes).toEqual([err]);
  });

  it('destroy keeps held completions held until released', async () => {
    const [a, b] = new SimNetwork().pair();
    a.setHandlers(recorder().handlers);
    b.setHandlers(recorder().handlers);
    a.holdCompletions(true);
    const done: (Error | null)[] = [];
    a.send([Buffer.alloc(100)], (e) => done.push(e));
    await waitFor(() => a.heldCompletions === 1, 'held');
    a.destroy();
    await turns(10);
    expect(done).toEqual([]);
    await a.releaseCompletions();
    expect(done).toEqual([null]);
  });

  it('is a NicDriver: listen on port 0, connect, refuse unknown addresses and reused ports', async () => {
    const net = new SimNetwork();
    const accepted: string[] = [];
    const l = await net.listen({ host: '10.0.0.1', port: 0 }, (c) => accepted.push(`${c.remoteAddress}:${c.remotePort}`));
    expect(l.port).toBeGreaterThan(0);
    await expect(net.listen({ host: '10.0.0.1', port: l.port }, () => {})).rejects.toMatchObject({ code: 'NIC_ERR_ADDRESS' });
    const c = await net.connect({ host: '10.0.0.1', port: l.port });
    await waitFor(() => accepted.length === 1, 'accept');
    expect(accepted[0]).toBe(`${c.localAddress}:${c.localPort}`);
    expect(c.remotePort).toBe(l.port);
    await l.close();
    await expect(net.connect({ host: '10.0.0.1', port: l.port })).rejects.toMatchObject({ code: 'NIC_ERR_ADDRESS' });
  });
});
