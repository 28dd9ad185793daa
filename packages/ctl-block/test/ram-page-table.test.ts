import { describe, expect, it } from 'vitest';
import { RamPageTable, RamSpaceError, ramKernDataRef } from '../src/ram-page-table.js';
import { RefCountError } from '../src/index.js';

const PS = 4096;

describe('RamPageTable', () => {
  it('reads unwritten space as zeros from one shared page, allocating nothing', () => {
    const t = new RamPageTable(PS, 16);
    const a = t.read(100, 3 * PS);
    const b = new RamPageTable(PS, 16).read(0, PS);
    expect(Buffer.concat(a.sgList).equals(Buffer.alloc(3 * PS))).toBe(true);
    expect(new Set([...a.sgList, ...b.sgList].map((v) => v.buffer)).size).toBe(1);
    expect(t.allocatedPages).toBe(0);
    ramKernDataRef(a.pin, -1);
  });

  it('stores partial and whole-page writes, zeroing the rest of a fresh page', () => {
    const t = new RamPageTable(PS, 16);
    t.write([Buffer.from('hello'), Buffer.from(' world')], PS - 5);
    expect(t.allocatedPages).toBe(2);
    const { sgList, pin } = t.read(PS - 10, 20);
    expect(Buffer.concat(sgList).toString('latin1')).toBe('\0'.repeat(5) + 'hello world' + '\0'.repeat(4));
    ramKernDataRef(pin, -1);
    t.write([Buffer.alloc(PS, 7)], 2 * PS);
    expect(t.allocatedPages).toBe(3);
    expect(t.cowCopies).toBe(0);
  });

  it('hands out views (no copy) and copies-on-write pinned pages only', () => {
    const t = new RamPageTable(PS, 16);
    t.write([Buffer.alloc(2 * PS, 1)], 0);
    const r = t.read(0, 2 * PS);
    expect(r.sgList).toHaveLength(2);
    // Pinned: a partial write goes to a copy; the reader's view keeps the old bytes.
    t.write([Buffer.alloc(10, 2)], 5);
    expect(t.cowCopies).toBe(1);
    expect(r.sgList[0]!.every((b) => b === 1)).toBe(true);
    const after = t.read(0, 16);
    expect([...after.sgList[0]!]).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1]);
    ramKernDataRef(after.pin, -1);
    // The new page has no pins: writing again is in place.
    t.write([Buffer.alloc(1, 3)], 0);
    expect(t.cowCopies).toBe(1);
    // Second page still pinned by r until its last reference goes.
    ramKernDataRef(r.pin, +1);
    ramKernDataRef(r.pin, -1);
    t.write([Buffer.alloc(1, 4)], PS);
    expect(t.cowCopies).toBe(2);
    ramKernDataRef(r.pin, -1);
    expect(r.pin.refcnt).toBe(0);
    expect(r.sgList[1]!.every((b) => b === 1)).toBe(true);
    t.write([Buffer.alloc(1, 5)], PS + 1);
    expect(t.cowCopies).toBe(2);
    expect(() => ramKernDataRef(r.pin, -1)).toThrow(RefCountError);
    expect(() => ramKernDataRef({}, 1)).toThrow(RefCountError);
  });

  it('fails a write that needs more pages than allowed before writing anything', () => {
    const t = new RamPageTable(PS, 2);
    t.write([Buffer.alloc(PS, 1)], 0);
    t.write([Buffer.alloc(2 * PS, 9)], 0); // pages 0 (exists) and 1 (new): fits
    expect(() => t.write([Buffer.alloc(2 * PS, 8)], PS)).toThrow(RamSpaceError);
    expect(() => t.write([Buffer.alloc(2 * PS, 8)], PS)).toThrowError(expect.objectContaining({ code: 'ENOSPC' }));
    expect(t.allocatedPages).toBe(2);
    const r = t.read(0, 2 * PS);
    expect(Buffer.concat(r.sgList).every((b) => b === 9)).toBe(true);
  });

  it('truncates: pages beyond the end go, the tail of the last page is zeroed', () => {
    const t = new RamPageTable(PS, 16);
    t.write([Buffer.alloc(3 * PS, 6)], 0);
    const pinned = t.read(PS, PS);
    t.truncate(PS + 100);
    expect(t.allocatedPages).toBe(2);
    const r = t.read(0, 3 * PS);
    const all = Buffer.concat(r.sgList);
    expect(all.subarray(0, PS + 100).every((b) => b === 6)).toBe(true);
    expect(all.subarray(PS + 100).every((b) => b === 0)).toBe(true);
    // The pinned reader still sees the old page.
    expect(pinned.sgList[0]!.every((b) => b === 6)).toBe(true);
  });
});
