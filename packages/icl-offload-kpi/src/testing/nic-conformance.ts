/**
 * Conformance suite for NIC drivers (the `NicConn` contract in icl-core
 * `nic.ts`): every send completes exactly once and never synchronously,
 * bytes arrive intact and in order, `sendQueueBytes` is truthful,
 * backpressure and `drain` work, receive pause holds data back, and close /
 * destroy end both sides exactly once.
 *
 * What it does: defines vitest `describe`/`it` blocks; call it at the top
 * level of a test file with a factory of connected pairs.
 *
 * What it does not do: performance, or anything above the byte stream.
 */
import { describe, expect, it } from 'vitest';
import type { NicConn, NicHandlers } from '@iscsi-target/icl-core/kpi';
import { Prng } from '../prng.js';
import { nextTurn, turns, waitFor } from './wait.js';

/** A connected pair from the driver under test. */
export interface NicConformancePair {
  /** One end; its handlers are not set yet. */
  a: NicConn;
  /** The other end; its handlers are not set yet. */
  b: NicConn;
  /** Closes everything the factory opened (listeners included). */
  dispose(): Promise<void>;
}

/** Records the upcalls of one end. */
class Recorder {
  readonly chunks: Buffer[] = [];
  bytes = 0;
  dataUpcalls = 0;
  drains = 0;
  closes = 0;
  closeError: Error | null = null;

  handlers(): NicHandlers {
    return {
      data: (buf) => {
        this.dataUpcalls++;
        this.bytes += buf.length;
        this.chunks.push(buf);
      },
      drain: () => {
        this.drains++;
      },
      close: (err) => {
        this.closes++;
        this.closeError = err;
      },
    };
  }

  /** Counts only (for bulk transfers). */
  countingHandlers(): NicHandlers {
    const h = this.handlers();
    return {
      ...h,
      data: (buf) => {
        this.dataUpcalls++;
        this.bytes += buf.length;
      },
    };
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** A send that records its completions. */
interface Tracked {
  calls: number;
  error: Error | null;
  sync: boolean;
}

function trackedSend(nic: NicConn, bufs: readonly Buffer[]): { t: Tracked; ok: boolean } {
  const t: Tracked = { calls: 0, error: null, sync: false };
  let inSend = true;
  const ok = nic.send(bufs, (err) => {
    t.calls++;
    t.error = err;
    if (inSend) t.sync = true;
  });
  inSend = false;
  return { t, ok };
}

/**
 * Defines the NIC conformance suite for the driver `name`. `makePair` is
 * called once per test and must return two connected ends without handlers.
 */
export function runNicDriverConformance(name: string, makePair: () => Promise<NicConformancePair>): void {
  async function withPair(fn: (p: NicConformancePair) => Promise<void>): Promise<void> {
    const p = await makePair();
    try {
      await fn(p);
    } finally {
      await p.dispose();
    }
  }

  describe(`NIC driver conformance: ${name}`, () => {
    it('completes each send exactly once, never synchronously, and delivers bytes intact and in order', async () => {
      await withPair(async ({ a, b }) => {
        const ra = new Recorder();
        const rb = new Recorder();
        a.setHandlers(ra.handlers());
        b.setHandlers(rb.handlers());
        const prng = new Prng(7);
        const expected: Buffer[] = [];
        const sends: Tracked[] = [];
        let total = 0;
        for (let i = 0; i < 200; i++) {
          const parts: Buffer[] = [];
          const nParts = prng.int(5); // 0..4 buffers, some empty
          for (let j = 0; j < nParts; j++) {
            const len = prng.int(4) === 0 ? 0 : 1 + prng.int(20_000);
            const buf = Buffer.alloc(len);
            for (let k = 0; k < len; k += 997) buf[k] = (i * 31 + j * 7 + k) & 0xff;
            parts.push(buf);
            expected.push(buf);
            total += len;
          }
          const { t } = trackedSend(a, parts);
          expect(t.calls).toBe(0);
          sends.push(t);
        }
        expect(a.sendQueueBytes).toBeGreaterThan(0);
        await waitFor(() => sends.every((t) => t.calls > 0), 'every send completion');
        await waitFor(() => rb.bytes >= total, 'all bytes at the peer');
        await turns(5);
        for (const t of sends) {
          expect(t.calls).toBe(1);
          expect(t.sync).toBe(false);
          expect(t.error).toBeNull();
        }
        expect(a.sendQueueBytes).toBe(0);
        expect(rb.bytes).toBe(total);
        expect(rb.received().equals(Buffer.concat(expected))).toBe(true);
        expect(ra.closes + rb.closes).toBe(0);
      });
    });

    it('counts bytes in sendQueueBytes until their send completes', async () => {
      await withPair(async ({ a, b }) => {
        a.setHandlers(new Recorder().handlers());
        b.setHandlers(new Recorder().handlers());
        expect(a.sendQueueBytes).toBe(0);
        const { t } = trackedSend(a, [Buffer.alloc(1000), Buffer.alloc(24)]);
        expect(a.sendQueueBytes).toBe(1024);
        await waitFor(() => t.calls === 1, 'completion');
        expect(a.sendQueueBytes).toBe(0);
      });
    });

    it('holds data that arrives before setHandlers and delivers it afterwards', async () => {
      await withPair(async ({ a, b }) => {
        a.setHandlers(new Recorder().handlers());
        const payload = Buffer.alloc(10_000, 0x5a);
        // The send may or may not complete before the peer reads (a kernel
        // buffer absorbs it, a simulated wire does not): do not wait for it.
        const { t } = trackedSend(a, [payload]);
        await turns(20);
        const rb = new Recorder();
        b.setHandlers(rb.handlers());
        await waitFor(() => rb.bytes >= payload.length && t.calls === 1, 'held data and completion');
        expect(rb.received().equals(payload)).toBe(true);
        expect(t.error).toBeNull();
      });
    });

    it('pauseReceive stops data upcalls and resumeReceive restarts them', async () => {
      await withPair(async ({ a, b }) => {
        a.setHandlers(new Recorder().handlers());
        const rb = new Recorder();
        b.setHandlers(rb.handlers());
        b.pauseReceive();
        const payload = Buffer.alloc(256 * 1024, 0x33);
        trackedSend(a, [payload]);
        await turns(30);
        expect(rb.dataUpcalls).toBe(0);
        b.resumeReceive();
        await waitFor(() => rb.bytes >= payload.length, 'data after resume');
        expect(rb.bytes).toBe(payload.length);
      });
    });

    it('returns false above the high-water mark and emits drain once the queue empties', async () => {
      await withPair(async ({ a, b }) => {
        const ra = new Recorder();
        const rb = new Recorder();
        a.setHandlers(ra.handlers());
        b.setHandlers(rb.countingHandlers());
        b.pauseReceive();
        const block = Buffer.alloc(1024 * 1024, 0x77);
        const sends: Tracked[] = [];
        let sent = 0;
        let refused = false;
        // Fill the peer's receive path, the kernel's buffers and our queue.
        for (let i = 0; i < 512 && !refused; i++) {
          const { t, ok } = trackedSend(a, [block]);
          sends.push(t);
          sent += block.length;
          if (!ok) refused = true;
          else if (i % 8 === 7) await turns(2);
        }
        expect(refused).toBe(true);
        expect(a.sendQueueBytes).toBeGreaterThan(0);
        expect(ra.drains).toBe(0);
        b.resumeReceive();
        await waitFor(() => ra.drains > 0, 'drain', 20_000);
        await waitFor(() => sends.every((t) => t.calls === 1), 'every completion', 20_000);
        await waitFor(() => rb.bytes >= sent, 'all bytes', 20_000);
        expect(rb.bytes).toBe(sent);
        expect(sends.every((t) => t.error === null)).toBe(true);
        expect(a.sendQueueBytes).toBe(0);
      });
    });

    it('close() flushes queued data, then both ends see close(null) exactly once', async () => {
      await withPair(async ({ a, b }) => {
        const ra = new Recorder();
        const rb = new Recorder();
        a.setHandlers(ra.handlers());
        b.setHandlers(rb.countingHandlers());
        const payload = Buffer.alloc(2 * 1024 * 1024, 0x42);
        const { t } = trackedSend(a, [payload]);
        a.close();
        await waitFor(() => ra.closes > 0 && rb.closes > 0, 'close on both ends', 10_000);
        await turns(10);
        expect(t.calls).toBe(1);
        expect(t.error).toBeNull();
        expect(rb.bytes).toBe(payload.length);
        expect(ra.closes).toBe(1);
        expect(rb.closes).toBe(1);
        expect(ra.closeError).toBeNull();
        expect(rb.closeError).toBeNull();
      });
    });

    it('completes a send after close() with an error, asynchronously, exactly once', async () => {
      await withPair(async ({ a, b }) => {
        a.setHandlers(new Recorder().handlers());
        b.setHandlers(new Recorder().handlers());
        a.close();
        const { t } = trackedSend(a, [Buffer.alloc(100)]);
        expect(t.calls).toBe(0);
        await waitFor(() => t.calls > 0, 'completion');
        await turns(5);
        expect(t.calls).toBe(1);
        expect(t.sync).toBe(false);
        expect(t.error).toBeInstanceOf(Error);
      });
    });

    it('destroy(err) fails unsent data, completes every send once and closes both ends once', async () => {
      await withPair(async ({ a, b }) => {
        const ra = new Recorder();
        const rb = new Recorder();
        a.setHandlers(ra.handlers());
        b.setHandlers(rb.countingHandlers());
        b.pauseReceive();
        const block = Buffer.alloc(1024 * 1024, 0x11);
        const sends: Tracked[] = [];
        for (let i = 0; i < 64; i++) sends.push(trackedSend(a, [block]).t);
        await nextTurn();
        const boom = new Error('boom');
        a.destroy(boom);
        await waitFor(() => sends.every((t) => t.calls > 0), 'every completion');
        await waitFor(() => ra.closes > 0, 'local close');
        b.resumeReceive();
        await waitFor(() => rb.closes > 0, 'peer close', 10_000);
        await turns(10);
        for (const t of sends) {
          expect(t.calls).toBe(1);
          expect(t.sync).toBe(false);
        }
        // 64 MiB cannot all have left while the peer was not reading.
        expect(sends.some((t) => t.error !== null)).toBe(true);
        expect(a.sendQueueBytes).toBe(0);
        expect(ra.closes).toBe(1);
        expect(ra.closeError).toBe(boom);
        expect(rb.closes).toBe(1);
      });
    });

    it('a send after destroy completes with an error and close is not repeated', async () => {
      await withPair(async ({ a, b }) => {
        const ra = new Recorder();
        a.setHandlers(ra.handlers());
        b.setHandlers(new Recorder().handlers());
        a.destroy();
        a.destroy();
        const { t } = trackedSend(a, [Buffer.alloc(10)]);
        await waitFor(() => t.calls > 0 && ra.closes > 0, 'completion and close');
        await turns(10);
        expect(t.calls).toBe(1);
        expect(t.error).toBeInstanceOf(Error);
        expect(ra.closes).toBe(1);
      });
    });
  });
}
