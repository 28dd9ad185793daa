// Per-LUN metering at the backend boundary: counts, bytes and latency by
// kind; everything else of the backend (getters that change, methods using
// #private state, optional methods) forwarded untouched.
import { describe, expect, it } from 'vitest';
import type { BackendLun, BlockRequest, CtlBackendServices, ScsiIo } from '@iscsi-target/ctl-core';
import { emptyStats, meterBackend, rates } from '../src/lun-stats.js';

class FakeBackend {
  readonly blockSize = 512;
  #blocks = 100;
  readonly submitted: BlockRequest[] = [];
  pendingDone: Array<() => void> = [];
  get numBlocks(): number {
    return this.#blocks;
  }
  resize(bytes: number): Promise<number> {
    this.#blocks = bytes / this.blockSize;
    return Promise.resolve(this.#blocks);
  }
  submit(io: ScsiIo, request: BlockRequest, ctl: CtlBackendServices): void {
    this.submitted.push(request);
    ctl.setSuccess(io);
    this.pendingDone.push(() => ctl.dataSubmitDone(io));
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

class FakeCtl {
  readonly #done: ScsiIo[] = [];
  readonly #ok: ScsiIo[] = [];
  get done(): ScsiIo[] {
    return this.#done;
  }
  get ok(): ScsiIo[] {
    return this.#ok;
  }
  dataSubmitDone(io: ScsiIo): void {
    this.#done.push(io);
  }
  setSuccess(io: ScsiIo): void {
    this.#ok.push(io);
  }
}

const io = (): ScsiIo => ({}) as ScsiIo;

describe('meterBackend', () => {
  it('counts reads, writes and others with bytes and latency, completing through the real services', async () => {
    const inner = new FakeBackend();
    const be = meterBackend(inner as unknown as BackendLun);
    const ctl = new FakeCtl();
    const services = ctl as unknown as CtlBackendServices;
    const [a, b, c] = [io(), io(), io()];
    be.submit(a, { op: 'read', lba: 0, blocks: 8 }, services);
    be.submit(b, { op: 'write', lba: 0, blocks: 2, fua: false }, services);
    be.submit(c, { op: 'flush', lba: 0, blocks: 0, immed: false }, services);
    expect(be.stats.inFlight).toBe(3);
    expect(be.stats.reads).toBe(0);
    await new Promise((r) => setTimeout(r, 5));
    for (const d of inner.pendingDone.splice(0)) d();
    expect(ctl.done).toEqual([a, b, c]);
    expect(ctl.ok).toEqual([a, b, c]);
    expect(be.stats).toMatchObject({ reads: 1, writes: 1, others: 1, bytesRead: 4096, bytesWritten: 1024, inFlight: 0 });
    expect(be.stats.readNs).toBeGreaterThanOrEqual(4_000_000);
    expect(be.stats.writeNs).toBeGreaterThan(0);
    // A second dataSubmitDone for the same I/O is forwarded but not counted twice.
    (ctl as unknown as CtlBackendServices).dataSubmitDone(a);
    expect(be.stats.reads).toBe(1);
  });

  it('forwards getters and methods of the backend (resize changes numBlocks)', async () => {
    const inner = new FakeBackend();
    const be = meterBackend(inner as unknown as BackendLun);
    expect(be.numBlocks).toBe(100);
    await (be as unknown as FakeBackend).resize(512 * 300);
    expect(be.numBlocks).toBe(300);
    expect(be.inner).toBe(inner);
    expect('stats' in be).toBe(true);
  });
});

describe('rates', () => {
  it('per second over the interval, latency as a mean in ms', () => {
    const a = emptyStats();
    const b = { ...emptyStats(), reads: 10, bytesRead: 2_000_000, readNs: 10 * 2_000_000, writes: 0 };
    expect(rates(a, b, 2)).toEqual({ readOps: 5, writeOps: 0, otherOps: 0, readMBps: 1, writeMBps: 0, readMs: 2, writeMs: 0, otherMs: 0 });
  });
});
