// The `uring` NIC driver on loopback: the NIC conformance kit unchanged, and
// the zero-copy completion rule (a send's `done` waits for the notification
// CQE, never the send CQE). Skipped, with the reason, where io_uring is
// unavailable.
import { describe, expect, it } from 'vitest';
import { connectedPair, runNicDriverConformance, waitFor, type NicConformancePair } from '@iscsi-target/icl-offload-kpi/testing';
import { CqeFlag, Ring, RecvBufferPool, createUringNicDriver, uringNicStats, uringUnavailable, type CqeHandler } from '@iscsi-target/io-uring';

const why = uringUnavailable();

function pair(options: Parameters<typeof createUringNicDriver>[0] = {}): Promise<NicConformancePair> {
  return connectedPair(createUringNicDriver(options));
}

/** A ring that records, in order, the CQEs of every send it carries. */
const events: string[] = [];
function tracingRing(): Ring {
  const ring = new Ring();
  const sendmsg = ring.sendmsg.bind(ring);
  ring.sendmsg = (fd: number, bufs: readonly Buffer[], zeroCopy: boolean, handler: CqeHandler): number =>
    sendmsg(fd, bufs, zeroCopy, (res, flags) => {
      events.push((flags & CqeFlag.Notif) !== 0 ? 'notif' : zeroCopy ? 'send-zc' : 'send');
      handler(res, flags);
    });
  return ring;
}

if (why !== null) {
  describe.skip(`uring NIC driver (skipped: ${why})`, () => {
    it('runs the NIC conformance kit', () => {});
  });
} else {
  // The default driver (zero-copy off, see UringNicOptions.zeroCopyThreshold).
  runNicDriverConformance('uring (IPv4 loopback)', () => pair());

  describe('uring NIC driver: zero-copy completion', () => {
    it("fires a zero-copy send's done on the notification CQE, not on the send CQE, and then switches to plain send (loopback copies)", async () => {
      events.length = 0;
      const ring = tracingRing();
      const p = await pair({ ring, zeroCopyThreshold: 1024, pool: new RecvBufferPool({ maxBuffers: 64 }) });
      try {
        let got = 0;
        p.a.setHandlers({ data: () => {}, drain: () => {}, close: () => {} });
        p.b.setHandlers({ data: (b) => (got += b.length), drain: () => {}, close: () => {} });
        const before = uringNicStats().kernelCopiedBytes;
        let doneAt = -1;
        p.a.send([Buffer.alloc(64 * 1024, 1)], () => (doneAt = events.length));
        await waitFor(() => doneAt >= 0, 'zero-copy completion');
        expect(events.slice(0, 2)).toEqual(['send-zc', 'notif']);
        // done ran inside the notification's handling, after it was recorded.
        expect(doneAt).toBe(2);
        expect(uringNicStats().kernelCopiedBytes - before).toBe(64 * 1024);
        let done2 = false;
        p.a.send([Buffer.alloc(64 * 1024, 2)], () => (done2 = true));
        await waitFor(() => done2 && got === 128 * 1024, 'plain send');
        expect(events[2]).toBe('send');
      } finally {
        await p.dispose();
        await waitFor(() => ring.inflight === 0, 'ring idle');
        await ring.close();
      }
    });
  });
}
