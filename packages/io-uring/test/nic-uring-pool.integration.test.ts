// The `uring` NIC driver's receive pool on loopback: recycled (a transfer
// of 128× the pool's memory completes through 8 buffers, none allocated
// beyond them) and capped (a connection whose views are all held stops at
// its per-connection cap, its sender meets backpressure, and another
// connection on the same pool keeps moving data). Skipped, with the
// reason, where io_uring is unavailable.
import { describe, expect, it } from 'vitest';
import { connectedPair, turns, waitFor, type NicConformancePair } from '@iscsi-target/icl-offload-kpi/testing';
import { RecvBufferPool, createUringNicDriver, uringUnavailable } from '@iscsi-target/io-uring';

const why = uringUnavailable();

function pair(pool: RecvBufferPool): Promise<NicConformancePair> {
  return connectedPair(createUringNicDriver({ pool }));
}

const nop = { drain: () => {}, close: () => {} };

describe.skipIf(why !== null)(`uring NIC receive pool${why !== null ? ` (skipped: ${why})` : ''}`, () => {
  it('is recycled: 64 MiB arrive through 8 buffers of 64 KiB, allocation count flat', async () => {
    const pool = new RecvBufferPool({ bufferSize: 64 * 1024, maxBuffers: 8, perConnection: 8 });
    const p = await pair(pool);
    try {
      let got = 0;
      p.a.setHandlers({ data: () => {}, ...nop });
      p.b.setHandlers({ data: (buf) => (got += buf.length), ...nop }); // views dropped at once
      const block = Buffer.alloc(1024 * 1024, 0x3c);
      const total = 64 * block.length;
      let maxAllocated = 0;
      for (let i = 0; i < 64; i++) {
        if (!p.a.send([block], () => {})) await waitFor(() => p.a.sendQueueBytes <= 4 * 1024 * 1024, 'drain', 20_000);
        maxAllocated = Math.max(maxAllocated, pool.stats().allocated);
      }
      await waitFor(() => {
        maxAllocated = Math.max(maxAllocated, pool.stats().allocated);
        return got >= total;
      }, 'all bytes through the small pool', 30_000);
      expect(got).toBe(total);
      expect(maxAllocated).toBeLessThanOrEqual(8);
    } finally {
      await p.dispose();
    }
  });

  it('is capped: a connection holding every view stops at its cap, its sender is held back, another connection keeps working', async () => {
    const pool = new RecvBufferPool({ bufferSize: 64 * 1024, maxBuffers: 64, perConnection: 16 });
    const flood = await pair(pool);
    const other = await pair(pool);
    try {
      const hoard: Buffer[] = [];
      flood.a.setHandlers({ data: () => {}, ...nop });
      flood.b.setHandlers({ data: (buf) => hoard.push(buf), ...nop }); // never lets go
      const block = Buffer.alloc(1024 * 1024, 0x11);
      let refused = false;
      for (let i = 0; i < 256 && !refused; i++) {
        if (!flood.a.send([block], () => {})) refused = true;
        await turns(1);
      }
      await turns(50);
      // At most its 16 pool buffers are held, whatever the sender pushed (reads
      // under 4 KiB are copies, not pool memory: they do not count here).
      expect(pool.stats().inViews).toBeLessThanOrEqual(16);
      expect(pool.stats().inViews).toBeGreaterThan(0);
      expect(pool.stats().inUse).toBeLessThanOrEqual(64);
      expect(refused).toBe(true);
      // The other connection on the same pool still moves 8 MiB.
      let got = 0;
      other.a.setHandlers({ data: () => {}, ...nop });
      other.b.setHandlers({ data: (buf) => (got += buf.length), ...nop });
      for (let i = 0; i < 8; i++) other.a.send([block], () => {});
      await waitFor(() => got >= 8 * block.length, 'the other connection', 20_000);
      expect(got).toBe(8 * block.length);
      expect(hoard.filter((b) => b.length >= 4096).length).toBeLessThanOrEqual(16);
      hoard.length = 0;
    } finally {
      await flood.dispose();
      await other.dispose();
    }
  });
});
