import { describe, expect, it } from 'vitest';
import { BufferPool, PoolReleaseError, PoolRequestTooLargeError, InvalidOptionError } from '../src/index.js';

const flush = () => new Promise((r) => setImmediate(r));

describe('BufferPool', () => {
  it('lends fixed-size segments that own their memory (not the shared slab)', async () => {
    const pool = new BufferPool({ segmentSize: 4096, maxBytes: 4096 * 4 });
    const segs = await pool.acquire(3);
    expect(segs).toHaveLength(3);
    for (const s of segs) {
      expect(s.length).toBe(4096);
      expect(s.byteOffset).toBe(0);
      expect(s.buffer.byteLength).toBe(4096);
    }
    expect(new Set(segs.map((s) => s.buffer)).size).toBe(3);
    expect(pool.stats).toMatchObject({ inUse: 3, allocated: 3, free: 0, available: 1, highWater: 3 });
  });

  it('never allocates beyond the cap and makes acquirers wait', async () => {
    const pool = new BufferPool({ segmentSize: 1024, maxBytes: 1024 * 4 });
    const a = await pool.acquire(4);
    let got: Buffer[] | null = null;
    void pool.acquire(2).then((s) => (got = s));
    await flush();
    expect(got).toBeNull();
    expect(pool.stats).toMatchObject({ waiters: 1, allocated: 4, inUse: 4 });
    expect(pool.tryAcquire(1)).toBeNull();
    pool.release(a.slice(0, 1));
    await flush();
    expect(got).toBeNull(); // one free segment is not enough for two
    pool.release(a.slice(1, 2));
    await flush();
    expect(got).toHaveLength(2);
    expect(pool.stats).toMatchObject({ waiters: 0, allocated: 4, inUse: 4 });
    // Reused, not reallocated.
    expect(got!.every((s) => a.includes(s))).toBe(true);
  });

  it('serves waiters in FIFO order, without letting small requests overtake a large one', async () => {
    const pool = new BufferPool({ segmentSize: 512, maxBytes: 512 * 4 });
    const held = await pool.acquire(4);
    const order: string[] = [];
    const big = pool.acquire(3).then((s) => (order.push('big'), s));
    const small1 = pool.acquire(1).then((s) => (order.push('small1'), s));
    const small2 = pool.acquire(1).then((s) => (order.push('small2'), s));
    pool.release([held[0]!]);
    await flush();
    // One segment is free, but the head of the queue needs three: nobody is served.
    expect(order).toEqual([]);
    expect(pool.tryAcquire(1)).toBeNull();
    pool.release(held.slice(1, 3));
    await flush();
    expect(order).toEqual(['big']);
    pool.release([held[3]!]);
    await flush();
    expect(order).toEqual(['big', 'small1']);
    pool.release(await big);
    await flush();
    expect(order).toEqual(['big', 'small1', 'small2']);
    pool.release(await small1);
    pool.release(await small2);
    expect(pool.stats).toMatchObject({ inUse: 0, waiters: 0, free: 4 });
  });

  it('rejects requests larger than the whole pool instead of waiting forever', async () => {
    const pool = new BufferPool({ segmentSize: 1024, maxBytes: 2048 });
    await expect(pool.acquire(3)).rejects.toBeInstanceOf(PoolRequestTooLargeError);
    await expect(pool.acquire(3)).rejects.toMatchObject({ code: 'CTL_BLOCK_ERR_POOL_TOO_LARGE' });
    expect(() => pool.tryAcquire(3)).toThrow(PoolRequestTooLargeError);
    expect(await pool.acquire(0)).toEqual([]);
  });

  it('refuses double, foreign and view releases, atomically', async () => {
    const pool = new BufferPool({ segmentSize: 1024, maxBytes: 8192 });
    const segs = await pool.acquire(2);
    expect(() => pool.release([segs[0]!.subarray(0, 10)])).toThrow(PoolReleaseError);
    expect(() => pool.release([Buffer.alloc(1024)])).toThrow(PoolReleaseError);
    // A bad element later in the list leaves the earlier ones lent.
    expect(() => pool.release([segs[0]!, Buffer.alloc(1024)])).toThrow(PoolReleaseError);
    expect(pool.stats.inUse).toBe(2);
    pool.release(segs);
    expect(() => pool.release([segs[1]!])).toThrowError(expect.objectContaining({ code: 'CTL_BLOCK_ERR_POOL_RELEASE' }));
    expect(pool.stats).toMatchObject({ inUse: 0, free: 2 });
  });

  it('poisons released segments so a use-after-release is visible', async () => {
    const pool = new BufferPool({ segmentSize: 1024, maxBytes: 4096, poison: true });
    const [seg] = await pool.acquire(1);
    const view = seg!.subarray(100, 200);
    view.fill(0x42);
    pool.release([seg!]);
    expect(view.every((b) => b === 0xdb)).toBe(true);
    const custom = new BufferPool({ segmentSize: 64, maxBytes: 64, poison: 0x5a });
    const [c] = await custom.acquire(1);
    c!.fill(1);
    custom.release([c!]);
    expect(c!.every((b) => b === 0x5a)).toBe(true);
    // Without poison, released memory is left alone.
    const plain = new BufferPool({ segmentSize: 64, maxBytes: 64 });
    const [p] = await plain.acquire(1);
    p!.fill(7);
    plain.release([p!]);
    expect(p!.every((b) => b === 7)).toBe(true);
  });

  it('tracks the high-water mark and trims idle segments', async () => {
    const pool = new BufferPool({ segmentSize: 1024, maxBytes: 8192 });
    const a = await pool.acquire(5);
    pool.release(a.slice(0, 3));
    expect(pool.stats).toMatchObject({ inUse: 2, free: 3, highWater: 5, allocated: 5 });
    expect(pool.trim()).toBe(3);
    expect(pool.stats).toMatchObject({ inUse: 2, free: 0, allocated: 2, available: 6 });
    pool.release(a.slice(3));
  });

  it('validates options', () => {
    expect(() => new BufferPool({ segmentSize: 0 })).toThrow(InvalidOptionError);
    expect(() => new BufferPool({ segmentSize: 4096, maxBytes: 1000 })).toThrow(InvalidOptionError);
    expect(() => new BufferPool({ poison: 300 })).toThrow(InvalidOptionError);
    expect(new BufferPool({ segmentSize: 1000, maxBytes: 3500 }).maxSegments).toBe(3);
    expect(new BufferPool().segmentsFor(1024 * 1024)).toBe(8);
  });
});
