import { describe, expect, it } from 'vitest';
import { SgReader, sgEquals, sgFill, sgLength, sgView } from '../src/sg-list.js';

const list = () => [Buffer.from('abc'), Buffer.from(''), Buffer.from('defgh'), Buffer.from('ij')];

describe('scatter/gather helpers', () => {
  it('measures and views across chunk boundaries without copying', () => {
    const l = list();
    expect(sgLength(l)).toBe(10);
    const v = sgView(l, 2, 6);
    expect(Buffer.concat(v).toString()).toBe('cdefgh');
    expect(v[0]!.buffer).toBe(l[0]!.buffer);
    v[1]![0] = 0x44; // 'D'
    expect(l[2]!.toString()).toBe('Defgh');
    expect(sgView(l, 3, 5)[0]).toBe(l[2]); // whole chunk reused as is
    expect(() => sgView(l, 8, 3)).toThrow(RangeError);
    expect(sgView(l, 10, 0)).toEqual([]);
  });

  it('fills from an offset to the end', () => {
    const l = list();
    sgFill(l, 4, 0x2e);
    expect(Buffer.concat(l).toString()).toBe('abcd......');
  });

  it('compares lists chunked differently', () => {
    expect(sgEquals([Buffer.from('hello world')], [Buffer.from('hel'), Buffer.from('lo wo'), Buffer.from('rld')])).toBe(true);
    expect(sgEquals([Buffer.from('hello world')], [Buffer.from('hel'), Buffer.from('lo wo'), Buffer.from('rlD')])).toBe(false);
    expect(sgEquals([Buffer.from('abc')], [Buffer.from('ab')])).toBe(false);
  });

  it('reads sequentially into destinations', () => {
    const r = new SgReader(list());
    const dst = Buffer.alloc(12, 0x2d);
    r.copyTo(dst, 1, 4);
    r.copyTo(dst, 6, 6);
    expect(dst.toString()).toBe('-abcd-efghij');
    expect(() => r.copyTo(dst, 0, 1)).toThrow(RangeError);
  });
});
