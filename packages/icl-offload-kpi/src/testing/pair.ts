/**
 * A connected pair of `NicConn`s over any NIC driver: listen on an
 * ephemeral port, connect to it, take the accepted end — the factory the NIC
 * conformance suite wants, and what drivers' own tests need for one-off
 * exchanges.
 *
 * What it does not do: set any handlers (both ends come back untouched, as
 * `NicConformancePair` requires), or retry a failed connect.
 */
import type { NicConn, NicDriver } from '@iscsi-target/icl-core/kpi';
import type { NicConformancePair } from './nic-conformance.js';

/** `a` is the accepted end, `b` the connecting one; `dispose()` destroys both and closes the listener. */
export async function connectedPair(driver: NicDriver, host = '127.0.0.1'): Promise<NicConformancePair> {
  let onConnection!: (c: NicConn) => void;
  const accepted = new Promise<NicConn>((resolve) => (onConnection = resolve));
  const listener = await driver.listen({ host, port: 0 }, onConnection);
  const b = await driver.connect({ host, port: listener.port });
  const a = await accepted;
  return {
    a,
    b,
    async dispose() {
      a.destroy();
      b.destroy();
      await listener.close();
    },
  };
}
