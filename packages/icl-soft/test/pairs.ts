// Test helpers: a SoftConn handed off to one end of a tcp (loopback) or sim
// connection, with the other end as the raw peer.
import { SimNetwork, type NicConn, type SimNicConn } from '@iscsi-target/icl-offload-kpi';
import { tcpNicDriver } from '@iscsi-target/icl-soft';
import { createSoftDriver, type SoftConn, type SoftDriverOptions } from '@iscsi-target/icl-soft';

export interface SoftPair {
  conn: SoftConn;
  peer: NicConn;
  sim?: SimNicConn;
  dispose(): Promise<void>;
}

export async function tcpSoftPair(options: Partial<SoftDriverOptions> = {}): Promise<SoftPair> {
  const driver = createSoftDriver(options);
  let accept!: (c: SoftConn) => void;
  const accepted = new Promise<SoftConn>((resolve) => (accept = resolve));
  const listener = await tcpNicDriver.listen({ host: '127.0.0.1', port: 0 }, (nic) => {
    const conn = driver.newConn({ name: 'tcp-test' });
    conn.handoff(nic);
    accept(conn);
  });
  const peer = await tcpNicDriver.connect({ host: '127.0.0.1', port: listener.port });
  const c = await accepted;
  return {
    conn: c,
    peer,
    async dispose() {
      c.free();
      peer.destroy();
      await listener.close();
    },
  };
}

export function simSoftPair(options: Partial<SoftDriverOptions> = {}, seed = 1): Promise<SoftPair & { sim: SimNicConn }> {
  const driver = createSoftDriver(options);
  const [a, b] = new SimNetwork({ seed }).pair();
  const conn = driver.newConn({ name: 'sim-test' });
  conn.handoff(a);
  return Promise.resolve({
    conn,
    peer: b,
    sim: a,
    dispose() {
      conn.free();
      b.destroy();
      return Promise.resolve();
    },
  });
}
