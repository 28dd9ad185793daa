import { describe, expect, it } from 'vitest';
import { Harness } from './helpers/harness.js';
import { expectGood, expectInvalidField } from './helpers/expect.js';

/** LOG SENSE CDB (SPC-4 §6.8). */
function logSense(page: number, o: { subpage?: number; pc?: number; sp?: boolean; pointer?: number; alloc?: number } = {}): Buffer {
  const c = Buffer.alloc(10);
  c[0] = 0x4d;
  c[1] = o.sp ? 0x01 : 0;
  c[2] = ((o.pc ?? 1) << 6) | page;
  c[3] = o.subpage ?? 0;
  c.writeUInt16BE(o.pointer ?? 0, 5);
  c.writeUInt16BE(o.alloc ?? 1024, 7);
  return c;
}

describe('LOG SENSE (SPC-4 §6.8)', () => {
  it('supported log pages (00h)', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(logSense(0x00));
    expectGood(r);
    expect([...r.data]).toEqual([0x80, 0x00, 0x00, 0x03, 0x00, 0x0d, 0x2f]);
  });

  it('supported log pages and subpages (00h/FFh)', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(logSense(0x00, { subpage: 0xff }));
    expectGood(r);
    expect([...r.data]).toEqual([0xc0, 0xff, 0x00, 0x08, 0x00, 0x00, 0x00, 0xff, 0x0d, 0x00, 0x2f, 0x00]);
  });

  it('temperature (0Dh): both parameters "not available", every page control', async () => {
    const h = new Harness();
    await h.clearUa();
    const want = [0x8d, 0x00, 0x00, 0x0c, 0, 0, 0x23, 2, 0, 0xff, 0, 1, 0x23, 2, 0, 0xff];
    for (const pc of [0, 1, 2, 3]) {
      const r = await h.exec(logSense(0x0d, { pc }));
      expectGood(r);
      expect([...r.data]).toEqual(want);
    }
    // PARAMETER POINTER 0001h: only the reference temperature.
    const p = await h.exec(logSense(0x0d, { pointer: 1 }));
    expect([...p.data]).toEqual([0x8d, 0x00, 0x00, 0x06, 0, 1, 0x23, 2, 0, 0xff]);
  });

  it('informational exceptions (2Fh): no exception, temperature not available', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(logSense(0x2f));
    expectGood(r);
    expect([...r.data]).toEqual([0xaf, 0x00, 0x00, 0x07, 0, 0, 0x23, 3, 0x00, 0x00, 0xff]);
  });

  it('truncates to the allocation length', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(logSense(0x0d, { alloc: 4 }));
    expectGood(r);
    expect([...r.data]).toEqual([0x8d, 0x00, 0x00, 0x0c]);
  });

  it('negative paths: unknown page, unknown subpage, pointer past the last parameter, SP, reserved bits', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(logSense(0x19)), 2, 5);
    expectInvalidField(await h.exec(logSense(0x0d, { subpage: 0x01 })), 3);
    expectInvalidField(await h.exec(logSense(0x0d, { pointer: 2 })), 5);
    expectInvalidField(await h.exec(logSense(0x2f, { pointer: 1 })), 5);
    expectInvalidField(await h.exec(logSense(0x00, { sp: true })), 1, 0);
    const ppc = logSense(0x00);
    ppc[1] = 0x02; // PPC (obsolete)
    expectInvalidField(await h.exec(ppc), 1, 1);
  });
});

describe('READ DEFECT DATA (SBC-3 §5.12, §5.13)', () => {
  it('(10): empty list, PLIST/GLIST and format echoed', async () => {
    const h = new Harness();
    await h.clearUa();
    const c = Buffer.from([0x37, 0, 0x18 | 0x05, 0, 0, 0, 0, 0x00, 0xff, 0]);
    const r = await h.exec(c);
    expectGood(r);
    expect([...r.data]).toEqual([0x00, 0x1d, 0x00, 0x00]);
  });

  it('(12): 8-byte header, generation 0, length 0', async () => {
    const h = new Harness();
    await h.clearUa();
    const c = Buffer.from([0xb7, 0x08 | 0x04, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0, 0]);
    const r = await h.exec(c);
    expectGood(r);
    expect([...r.data]).toEqual([0x00, 0x0c, 0, 0, 0, 0, 0, 0]);
  });

  it('reserved bits are INVALID FIELD IN CDB; a short allocation length truncates', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(Buffer.from([0x37, 0, 0x20, 0, 0, 0, 0, 0, 0xff, 0])), 2, 5);
    expectInvalidField(await h.exec(Buffer.from([0xb7, 0x20, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0])), 1, 5);
    const r = await h.exec(Buffer.from([0x37, 0, 0x08, 0, 0, 0, 0, 0, 2, 0]));
    expect([...r.data]).toEqual([0x00, 0x08]);
  });
});
