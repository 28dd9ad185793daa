// The `tcp` NIC driver on real loopback sockets (port 0): the NIC
// conformance suite over IPv4, plus listener/connect specifics (IPv6,
// bound address, refused connections, close of the listener).
import { afterEach, describe, expect, it } from 'vitest';
import type { NicConn, NicListener } from '@iscsi-target/icl-offload-kpi';
import { createTcpNicDriver, tcpNicDriver } from '@iscsi-target/icl-soft';
import { connectedPair, runNicDriverConformance, waitFor, type NicConformancePair } from '@iscsi-target/icl-offload-kpi/testing';

/** Connects a client to a fresh listener; returns both ends and a disposer. */
/** A promise of the first connection a listener accepts, and its callback. */
function acceptOne(): { accepted: Promise<NicConn>; onConnection: (c: NicConn) => void } {
  let onConnection!: (c: NicConn) => void;
  const accepted = new Promise<NicConn>((resolve) => (onConnection = resolve));
  return { accepted, onConnection };
}

function tcpPair(host: string): Promise<NicConformancePair> {
  return connectedPair(tcpNicDriver, host);
}

runNicDriverConformance('tcp (IPv4 loopback)', () => tcpPair('127.0.0.1'));

describe('tcp NIC driver specifics', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });

  it('listens on port 0 and exposes the bound address and port', async () => {
    const l = await tcpNicDriver.listen({ host: '127.0.0.1', port: 0 }, () => {});
    open.push(l);
    expect(l.address).toBe('127.0.0.1');
    expect(l.port).toBeGreaterThan(0);
  });

  it('works over IPv6 loopback and reports the addresses of both ends', async () => {
    const p = await tcpPair('::1');
    open.push({ close: () => p.dispose() });
    expect(p.a.localAddress).toBe('::1');
    expect(p.a.remoteAddress).toBe('::1');
    expect(p.b.remotePort).toBe(p.a.localPort);
    expect(p.a.remotePort).toBe(p.b.localPort);
    const got: Buffer[] = [];
    p.a.setHandlers({ data: (b) => got.push(b), drain: () => {}, close: () => {} });
    p.b.setHandlers({ data: () => {}, drain: () => {}, close: () => {} });
    p.b.send([Buffer.from('hello '), Buffer.from('v6')], () => {});
    await waitFor(() => Buffer.concat(got).toString() === 'hello v6', 'data over IPv6');
  });

  it('rejects a connect nobody listens to, and a listen on a port in use', async () => {
    const l = await tcpNicDriver.listen({ host: '127.0.0.1', port: 0 }, () => {});
    const port = l.port;
    await expect(tcpNicDriver.listen({ host: '127.0.0.1', port }, () => {})).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await l.close();
    await expect(tcpNicDriver.connect({ host: '127.0.0.1', port })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('honours a custom send high-water mark', async () => {
    const driver = createTcpNicDriver({ sendHighWater: 1000 });
    const { accepted, onConnection } = acceptOne();
    const l: NicListener = await driver.listen({ host: '127.0.0.1', port: 0 }, onConnection);
    open.push(l);
    const b = await driver.connect({ host: '127.0.0.1', port: l.port });
    const a = await accepted;
    let drains = 0;
    a.setHandlers({ data: () => {}, drain: () => drains++, close: () => {} });
    b.setHandlers({ data: () => {}, drain: () => {}, close: () => {} });
    expect(b.send([Buffer.alloc(500)], () => {})).toBe(true);
    let done = false;
    const bigOk = a.send([Buffer.alloc(5000)], () => {
      done = true;
    });
    expect(bigOk).toBe(false);
    await waitFor(() => done && drains === 1, 'completion and drain');
    a.destroy();
    b.destroy();
  });

  it('close() destroys the socket after the close timeout if the peer never closes', async () => {
    const driver = createTcpNicDriver({ closeTimeoutMs: 50 });
    const { accepted, onConnection } = acceptOne();
    const l = await driver.listen({ host: '127.0.0.1', port: 0 }, onConnection);
    open.push(l);
    // A peer that never reads: it will not see our FIN, so it never closes.
    const b = await driver.connect({ host: '127.0.0.1', port: l.port });
    const a = await accepted;
    let closes = 0;
    a.setHandlers({ data: () => {}, drain: () => {}, close: () => closes++ });
    a.close();
    await waitFor(() => closes === 1, 'close after the timeout', 2000);
    b.destroy();
  });
});
