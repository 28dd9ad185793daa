import { describe, expect, it } from 'vitest';
import { BeIo, BufferPool, RefCountError, freeBeIo, kernDataRef } from '../src/index.js';

describe('BeIo / kernDataRef', () => {
  it('returns the segments to the pool only when the last reference is dropped', async () => {
    const pool = new BufferPool({ segmentSize: 1024, maxBytes: 8192, poison: true });
    const segs = await pool.acquire(2);
    segs[0]!.fill(0x11);
    const beio = new BeIo(pool, segs);
    expect(beio.refcnt).toBe(1);
    kernDataRef(beio, +1);
    kernDataRef(beio, +1);
    freeBeIo(beio); // backend's own reference
    expect(beio.refcnt).toBe(2);
    expect(pool.stats.inUse).toBe(2);
    expect(segs[0]!.every((b) => b === 0x11)).toBe(true);
    kernDataRef(beio, -1);
    expect(pool.stats.inUse).toBe(2);
    kernDataRef(beio, -1);
    expect(beio.refcnt).toBe(0);
    expect(beio.segments).toEqual([]);
    expect(pool.stats).toMatchObject({ inUse: 0, free: 2 });
    expect(segs[0]!.every((b) => b === 0xdb)).toBe(true);
  });

  it('throws on a negative count, on use after release and on a foreign argument', async () => {
    const pool = new BufferPool({ segmentSize: 1024, maxBytes: 8192 });
    const beio = new BeIo(pool, await pool.acquire(1));
    expect(() => kernDataRef(beio, -2)).toThrow(RefCountError);
    expect(beio.refcnt).toBe(1);
    expect(() => kernDataRef(beio, 0.5)).toThrow(RefCountError);
    kernDataRef(beio, -1);
    expect(() => kernDataRef(beio, -1)).toThrowError(expect.objectContaining({ code: 'CTL_BLOCK_ERR_REFCOUNT' }));
    expect(() => kernDataRef(beio, +1)).toThrow(RefCountError);
    expect(() => kernDataRef({}, -1)).toThrow(RefCountError);
    expect(pool.stats.inUse).toBe(0);
  });
});
