import { describe, expect, it } from 'vitest';
import { Harness } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood, expectInvalidField } from './helpers/expect.js';

const RWER = [0x01, 0x0a, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const CACHING_WCE = [0x08, 0x12, 0x04, ...new Array<number>(17).fill(0)];
const CONTROL = [0x0a, 0x0a, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const IEC = [0x1c, 0x0a, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0];

describe('MODE SENSE (SPC-4 §6.11/6.12)', () => {
  it('MODE SENSE(6) all pages with a block descriptor', async () => {
    const h = new Harness({ lun: { numBlocks: 2048, blockSize: 512 } });
    await h.clearUa();
    const r = await h.exec(C.modeSense6(0x3f));
    expectGood(r);
    const d = r.data;
    expect(d.length).toBe(4 + 8 + 12 + 20 + 12 + 12);
    expect([...d.subarray(0, 4)]).toEqual([d.length - 1, 0x00, 0x10, 0x08]);
    expect([...d.subarray(4, 12)]).toEqual([0, 0, 0x08, 0x00, 0, 0, 0x02, 0x00]);
    expect([...d.subarray(12, 24)]).toEqual(RWER);
    expect([...d.subarray(24, 44)]).toEqual(CACHING_WCE);
    expect([...d.subarray(44, 56)]).toEqual(CONTROL);
    expect([...d.subarray(56, 68)]).toEqual(IEC);
  });

  it('MODE SENSE(10) with DBD, one page, and WP on a read-only LUN', async () => {
    const h = new Harness({ lun: { readOnly: true, writeCache: false } });
    await h.clearUa();
    const r = await h.exec(C.modeSense10(0x08, { dbd: true }));
    expectGood(r);
    expect([...r.data.subarray(0, 8)]).toEqual([0, 8 + 20 - 2, 0, 0x90, 0, 0, 0, 0]);
    expect([...r.data.subarray(8)]).toEqual([0x08, 0x12, ...new Array<number>(18).fill(0)]);
  });

  it('MODE SENSE(10) LLBAA gives a 16-byte block descriptor', async () => {
    const h = new Harness({ lun: { numBlocks: 64, blockSize: 4096 } });
    await h.clearUa();
    const r = await h.exec(C.modeSense10(0x0a, { llbaa: true }));
    expect([...r.data.subarray(0, 8)]).toEqual([0, 8 + 16 + 12 - 2, 0, 0x10, 0x01, 0, 0, 16]);
    expect(r.data.readBigUInt64BE(8)).toBe(64n);
    expect(r.data.readUInt32BE(20)).toBe(4096);
    expect([...r.data.subarray(24)]).toEqual(CONTROL);
  });

  it('changeable values show WCE, D_SENSE and SWP only', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(C.modeSense6(0x3f, { pc: 1, dbd: true }));
    const d = r.data.subarray(4);
    expect([...d.subarray(0, 12)]).toEqual([0x01, 0x0a, ...new Array<number>(10).fill(0)]);
    expect([...d.subarray(12, 32)]).toEqual([0x08, 0x12, 0x04, ...new Array<number>(17).fill(0)]);
    expect([...d.subarray(32, 44)]).toEqual([0x0a, 0x0a, 0x04, 0, 0x08, ...new Array<number>(7).fill(0)]);
    expect([...d.subarray(44, 56)]).toEqual([0x1c, 0x0a, ...new Array<number>(10).fill(0)]);
  });

  it('saved values are SAVING PARAMETERS NOT SUPPORTED', async () => {
    const h = new Harness();
    await h.clearUa();
    expectCheck(await h.exec(C.modeSense6(0x08, { pc: 3 })), 0x05, 0x39, 0x00);
  });

  it('unsupported page or subpage is INVALID FIELD IN CDB', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(C.modeSense6(0x19)), 2, 5);
    expectInvalidField(await h.exec(C.modeSense10(0x08, { subpage: 1 })), 3);
    expectGood(await h.exec(C.modeSense10(0x3f, { subpage: 0xff })));
    // SPC-4 §6.11.1: subpage FFh of a page without subpages returns the page alone.
    const r = await h.exec(C.modeSense10(0x0a, { subpage: 0xff, dbd: true }));
    expectGood(r);
    expect([...r.data.subarray(8)]).toEqual(CONTROL);
  });

  it('truncates to the allocation length, MODE DATA LENGTH unchanged', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(C.modeSense6(0x3f, { alloc: 4 }));
    expect([...r.data]).toEqual([67, 0, 0x10, 8]);
  });
});

function modeSelect6Data(page: number[]): Buffer {
  return Buffer.from([0, 0, 0, 0, ...page]);
}

describe('MODE SELECT (SPC-4 §6.9/6.10)', () => {
  it('clears WCE and sets D_SENSE; other initiators get MODE PARAMETERS CHANGED', async () => {
    const h = new Harness();
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.other,i,0x1');
    await h.clearUa();
    await h.clearUa(0, other);
    const caching = [0x08, 0x12, ...new Array<number>(18).fill(0)];
    const data = Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]), Buffer.from(caching), Buffer.from([0x0a, 0x0a, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0])]);
    expectGood(await h.exec(C.modeSelect10(data.length), { dataOut: data }));
    const r = await h.exec(C.modeSense6(0x08, { dbd: true }));
    expect(r.data[6]).toBe(0x00);
    // The selecting initiator sees no UA; the other one does, in descriptor format now.
    expectGood(await h.exec(C.tur()));
    const ua = await h.exec(C.tur(), { initiator: other });
    expect([...(ua.senseData ?? [])]).toEqual([0x72, 0x06, 0x2a, 0x01, 0, 0, 0, 0]);
  });

  it('a non-changeable field is INVALID FIELD IN PARAMETER LIST with C/D = 0', async () => {
    const h = new Harness();
    await h.clearUa();
    const control = [0x0a, 0x0a, 0x02, 0x10, 0, 0, 0, 0, 0, 0, 0, 0]; // QAM = 1
    const r = await h.exec(C.modeSelect6(16), { dataOut: modeSelect6Data(control) });
    expectCheck(r, 0x05, 0x26, 0x00, { field: 4 + 3, bit: 4, cd: false });
    // Nothing applied.
    expect((await h.exec(C.modeSense6(0x0a, { dbd: true }))).data[4 + 3]).toBe(0);
  });

  it('rejects a wrong page length, an unknown page and a bad block length', async () => {
    const h = new Harness();
    await h.clearUa();
    expectCheck(await h.exec(C.modeSelect6(8), { dataOut: modeSelect6Data([0x0a, 0x02, 0, 0]) }), 0x05, 0x26, 0x00, {
      field: 5,
      cd: false,
    });
    expectCheck(await h.exec(C.modeSelect6(8), { dataOut: modeSelect6Data([0x19, 0x02, 0, 0]) }), 0x05, 0x26, 0x00, {
      field: 4,
      bit: 5,
      cd: false,
    });
    const bd = Buffer.from([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x10, 0x00]);
    expectCheck(await h.exec(C.modeSelect6(12), { dataOut: bd }), 0x05, 0x26, 0x00, { field: 9, cd: false });
    const ok = Buffer.from([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x02, 0x00]);
    expectGood(await h.exec(C.modeSelect6(12), { dataOut: ok }));
  });

  it('truncated parameter lists are PARAMETER LIST LENGTH ERROR', async () => {
    const h = new Harness();
    await h.clearUa();
    expectCheck(await h.exec(C.modeSelect6(3)), 0x05, 0x1a, 0x00);
    const trunc = modeSelect6Data([0x08, 0x12, 0x04]);
    expectCheck(await h.exec(C.modeSelect6(trunc.length), { dataOut: trunc }), 0x05, 0x1a, 0x00);
  });

  it('SP = 1 is INVALID FIELD IN CDB (byte 1, bit 0); length 0 is GOOD', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(C.modeSelect6(4, 0x11)), 1, 0);
    expectGood(await h.exec(C.modeSelect6(0)));
    expect(h.port.moves.length).toBe(0);
  });
});

/** MODE SELECT(6) data carrying a Control page with the given byte 2 and byte 4. */
function controlPage(b2: number, b4: number): Buffer {
  return modeSelect6Data([0x0a, 0x0a, b2, 0, b4, 0, 0, 0, 0, 0, 0, 0]);
}

describe('Control mode page SWP (SPC-4 §7.5.8)', () => {
  it('SWP = 1 write protects the LUN: writes get DATA PROTECT / WRITE PROTECTED, reads work, WP is reported', async () => {
    const h = new Harness();
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.other,i,0x1');
    await h.clearUa();
    await h.clearUa(0, other);
    expectGood(await h.exec(C.modeSelect6(16), { dataOut: controlPage(0x02, 0x08) }));
    const ms = await h.exec(C.modeSense6(0x0a, { dbd: true }));
    expect(ms.data[2]).toBe(0x90); // WP | DPOFUA
    expect(ms.data[4 + 4]).toBe(0x08); // SWP
    // Default values keep SWP = 0.
    expect((await h.exec(C.modeSense6(0x0a, { dbd: true, pc: 2 }))).data[4 + 4]).toBe(0);
    expectGood(await h.exec(C.rw10(0x28, 0, 1)));
    expectCheck(await h.exec(C.rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) }), 0x07, 0x27, 0x00);
    // The other initiator learns of the change, then is write protected too.
    expectCheck(await h.exec(C.tur(), { initiator: other }), 0x06, 0x2a, 0x01);
    expectCheck(await h.exec(C.rw16(0x8a, 0, 1), { initiator: other, dataOut: Buffer.alloc(512) }), 0x07, 0x27, 0x00);
    // Setting SWP flushed the cache once; no write reached the backend.
    expect(h.lun.submitted.map((s) => s.request)).toEqual([
      { op: 'flush', lba: 0, blocks: 0, immed: false },
      { op: 'read', lba: 0, blocks: 1 },
    ]);
    // SWP = 0 lifts it.
    expectGood(await h.exec(C.modeSelect6(16), { dataOut: controlPage(0x02, 0x00) }));
    expect((await h.exec(C.modeSense6(0x0a, { dbd: true }))).data[2]).toBe(0x10);
    expectGood(await h.exec(C.rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) }));
  });

  it('D_SENSE = 1 switches CHECK CONDITION sense to descriptor format', async () => {
    const h = new Harness();
    await h.clearUa();
    expectGood(await h.exec(C.modeSelect6(16), { dataOut: controlPage(0x06, 0x00) }));
    const r = await h.exec(C.rw10(0x28, 5000, 1));
    expect([...(r.senseData ?? [])]).toEqual([0x72, 0x05, 0x21, 0x00, 0, 0, 0, 0]);
  });
});

describe('Caching mode page WCE (SBC-3)', () => {
  it('WCE = 0 makes every write force unit access on a write-back backend; WCE = 1 restores it', async () => {
    const h = new Harness({ lun: { writeCache: true } });
    await h.clearUa();
    const caching = (wce: boolean): Buffer =>
      modeSelect6Data([0x08, 0x12, wce ? 0x04 : 0x00, ...new Array<number>(17).fill(0)]);
    expectGood(await h.exec(C.rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) }));
    expectGood(await h.exec(C.modeSelect6(24), { dataOut: caching(false) }));
    expectGood(await h.exec(C.rw10(0x2a, 1, 1), { dataOut: Buffer.alloc(512) }));
    expectGood(await h.exec(C.modeSelect6(24), { dataOut: caching(true) }));
    expectGood(await h.exec(C.rw10(0x2a, 2, 1), { dataOut: Buffer.alloc(512) }));
    expect(h.lun.submitted.map((s) => s.request)).toEqual([
      { op: 'write', lba: 0, blocks: 1, fua: false },
      // Clearing WCE flushes what the cache held before GOOD.
      { op: 'flush', lba: 0, blocks: 0, immed: false },
      { op: 'write', lba: 1, blocks: 1, fua: true },
      { op: 'write', lba: 2, blocks: 1, fua: false },
    ]);
  });

  it('WCE is not changeable on a backend without a write cache; SWP then needs no flush', async () => {
    const h = new Harness({ lun: { writeCache: false } });
    await h.clearUa();
    expectGood(await h.exec(C.modeSelect6(16), { dataOut: controlPage(0x02, 0x08) }));
    expect(h.lun.submitted.length).toBe(0);
    const on = modeSelect6Data([0x08, 0x12, 0x04, ...new Array<number>(17).fill(0)]);
    expectCheck(await h.exec(C.modeSelect6(24), { dataOut: on }), 0x05, 0x26, 0x00, { field: 6, bit: 2, cd: false });
  });
});

describe('Informational Exceptions Control mode page (SPC-4 §7.5.9)', () => {
  it('reports DEXCPT = 1, MRIE = 0; nothing is changeable', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(C.modeSense10(0x1c, { dbd: true }));
    expectGood(r);
    expect([...r.data.subarray(8)]).toEqual(IEC);
    // Echoing the current page is accepted; enabling exceptions (DEXCPT = 0) or TEST is not.
    expectGood(await h.exec(C.modeSelect6(16), { dataOut: modeSelect6Data(IEC) }));
    const enable = [...IEC];
    enable[2] = 0x00;
    expectCheck(await h.exec(C.modeSelect6(16), { dataOut: modeSelect6Data(enable) }), 0x05, 0x26, 0x00, {
      field: 6,
      bit: 3,
      cd: false,
    });
    const mrie = [...IEC];
    mrie[3] = 0x06;
    expectCheck(await h.exec(C.modeSelect6(16), { dataOut: modeSelect6Data(mrie) }), 0x05, 0x26, 0x00, {
      field: 7,
      bit: 2,
      cd: false,
    });
  });
});
