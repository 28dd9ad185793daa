import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cmd-table.js';

/**
 * The commands a default (non-removable) LUN offers: every entry but the
 * per-LUN ones (CmdEntry.offered), i.e. PREVENT ALLOW MEDIUM REMOVAL.
 */
const DISK_COMMANDS = COMMANDS.filter((e) => e.offered === undefined);
import { Harness } from './helpers/harness.js';
import { expectGood, expectInvalidField } from './helpers/expect.js';

/** REPORT SUPPORTED OPERATION CODES CDB (SPC-4 §6.35). */
function rsoc(options: number, opcode = 0, sa = 0, alloc = 65535, rctd = false): Buffer {
  const c = Buffer.alloc(12);
  c[0] = 0xa3;
  c[1] = 0x0c;
  c[2] = (rctd ? 0x80 : 0) | options;
  c[3] = opcode;
  c.writeUInt16BE(sa, 4);
  c.writeUInt32BE(alloc, 6);
  return c;
}

/** REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS CDB (SPC-4 §6.36). */
function rstmf(alloc: number, repd = false): Buffer {
  const c = Buffer.alloc(12);
  c[0] = 0xa3;
  c[1] = 0x0d;
  c[2] = repd ? 0x80 : 0;
  c.writeUInt32BE(alloc, 6);
  return c;
}

interface Descriptor {
  opcode: number;
  sa: number;
  flags: number;
  cdbLength: number;
}

function parseAll(d: Buffer, rctd: boolean): Descriptor[] {
  const len = d.readUInt32BE(0);
  expect(d.length).toBe(4 + len);
  const out: Descriptor[] = [];
  const each = rctd ? 20 : 8;
  for (let off = 4; off < d.length; off += each) {
    out.push({ opcode: d[off]!, sa: d.readUInt16BE(off + 2), flags: d[off + 5]!, cdbLength: d.readUInt16BE(off + 6) });
    if (rctd) {
      // SPC-4 §6.35.4: DESCRIPTOR LENGTH 0Ah, timeouts "not specified".
      expect([...d.subarray(off + 8, off + 20)]).toEqual([0, 0x0a, ...new Array<number>(10).fill(0)]);
    }
  }
  return out;
}

describe('REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35)', () => {
  it('all commands: exactly the command table, sorted, with SERVACTV and CDB LENGTH', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(rsoc(0));
    expectGood(r);
    const got = parseAll(r.data, false);
    const want = [...DISK_COMMANDS]
      .sort((a, b) => a.opcode - b.opcode || (a.serviceAction ?? 0) - (b.serviceAction ?? 0))
      .map((e) => ({
        opcode: e.opcode,
        sa: e.serviceAction ?? 0,
        flags: e.serviceAction === null ? 0 : 1,
        cdbLength: e.cdbLength,
      }));
    expect(got).toEqual(want);
    // The command reports itself and READ CAPACITY(16) as service actions.
    expect(got).toContainEqual({ opcode: 0xa3, sa: 0x0c, flags: 1, cdbLength: 12 });
    expect(got).toContainEqual({ opcode: 0x9e, sa: 0x10, flags: 1, cdbLength: 16 });
    expect(got).toContainEqual({ opcode: 0x28, sa: 0, flags: 0, cdbLength: 10 });
  });

  it('RCTD adds a command timeouts descriptor to each command (CTDP)', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(rsoc(0, 0, 0, 65535, true));
    expectGood(r);
    const got = parseAll(r.data, true);
    expect(got.length).toBe(DISK_COMMANDS.length);
    for (const d of got) expect(d.flags & 0x02).toBe(0x02);
  });

  it('one command (001b): SUPPORT 011b and the CDB usage data from the table', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(rsoc(1, 0x28));
    expectGood(r);
    expect([...r.data]).toEqual([0, 0x03, 0, 10, 0x28, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0xc0]);
    // Not in the table: SUPPORT 001b, no CDB usage data.
    const none = await h.exec(rsoc(1, 0x3b));
    expectGood(none);
    expect([...none.data]).toEqual([0, 0x01, 0, 0]);
  });

  it('UNMAP and WRITE SAME are reported only on a LUN whose backend executes them', async () => {
    const thin = new Harness({
      lun: {
        thinProvisioned: true,
        provisioning: { unmap: true, lbprz: true, maxUnmapBlocks: 0xffffffff, maxUnmapDescriptors: 1024, unmapGranularity: 8, maxWriteSameBlocks: 0 },
      },
    });
    await thin.clearUa();
    const all = parseAll((await thin.exec(rsoc(0))).data, false).map((d) => d.opcode);
    expect(all).toEqual(expect.arrayContaining([0x41, 0x42, 0x93]));
    const unmap = await thin.exec(rsoc(1, 0x42));
    expect(unmap.data[1]! & 0x07).toBe(0x03); // SUPPORT 011b
    // A backend without provisioning support: not in the list, SUPPORT 001b, and UNMAP itself is
    // INVALID COMMAND OPERATION CODE, exactly like a command the table does not have.
    const plain = new Harness();
    await plain.clearUa();
    const list = parseAll((await plain.exec(rsoc(0))).data, false).map((d) => d.opcode);
    for (const op of [0x41, 0x42, 0x93]) expect(list).not.toContain(op);
    for (const op of [0x41, 0x42, 0x93]) expect([...(await plain.exec(rsoc(1, op))).data]).toEqual([0, 0x01, 0, 0]);
    const r = await plain.exec(Buffer.from([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0]));
    expect(r.senseData?.subarray(0, 18)).toEqual(Buffer.from([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0x00, 0, 0xc0, 0, 0]));
  });

  it('one command with RCTD: CTDP and a timeouts descriptor after the usage data', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(rsoc(1, 0x00, 0, 65535, true));
    expectGood(r);
    expect([...r.data]).toEqual([0, 0x83, 0, 6, 0x00, 0, 0, 0, 0, 0xc0, 0, 0x0a, ...new Array<number>(10).fill(0)]);
  });

  it('opcode + service action (010b): usage data carries the service action in byte 1', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(rsoc(2, 0x9e, 0x10));
    expectGood(r);
    expect([...r.data.subarray(0, 4)]).toEqual([0, 0x03, 0, 16]);
    expect([...r.data.subarray(4, 6)]).toEqual([0x9e, 0x10]);
    expect(r.data[4 + 15]).toBe(0xc0);
    // A service action the table lacks: not supported.
    expect([...(await h.exec(rsoc(2, 0xa3, 0x1f))).data]).toEqual([0, 0x01, 0, 0]);
    // Out of the 5-bit range.
    expect([...(await h.exec(rsoc(2, 0xa3, 0x100))).data]).toEqual([0, 0x01, 0, 0]);
  });

  it('001b for a command with service actions and 010b for one without are INVALID FIELD IN CDB', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(rsoc(1, 0x9e)), 2, 2);
    expectInvalidField(await h.exec(rsoc(1, 0xa3)), 2, 2);
    expectInvalidField(await h.exec(rsoc(2, 0x28)), 2, 2);
  });

  it('011b reports with or without service actions; a service action on a plain opcode is not supported', async () => {
    const h = new Harness();
    await h.clearUa();
    const a = await h.exec(rsoc(3, 0x28, 0));
    expectGood(a);
    expect([...a.data.subarray(0, 5)]).toEqual([0, 0x03, 0, 10, 0x28]);
    expect([...(await h.exec(rsoc(3, 0x28, 1))).data]).toEqual([0, 0x01, 0, 0]);
    const b = await h.exec(rsoc(3, 0xa3, 0x0d));
    expectGood(b);
    expect([...b.data]).toEqual([0, 0x03, 0, 12, 0xa3, 0x0d, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0xc0]);
  });

  it('reserved REPORTING OPTIONS and reserved CDB bits are INVALID FIELD IN CDB', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(rsoc(4)), 2, 2);
    expectInvalidField(await h.exec(rsoc(7)), 2, 2);
    const c = rsoc(0);
    c[2] = 0x08; // reserved bit 3
    expectInvalidField(await h.exec(c), 2, 3);
  });

  it('truncates to the allocation length, COMMAND DATA LENGTH unchanged', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(rsoc(0, 0, 0, 6));
    expectGood(r);
    expect(r.data.length).toBe(6);
    expect(r.data.readUInt32BE(0)).toBe(DISK_COMMANDS.length * 8);
  });

  it('an unknown MAINTENANCE IN service action is INVALID FIELD IN CDB at the SERVICE ACTION', async () => {
    const h = new Harness();
    await h.clearUa();
    const c = rsoc(0);
    c[1] = 0x1f; // no such MAINTENANCE IN service action
    expectInvalidField(await h.exec(c), 1, 4);
  });
});

describe('REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 §6.36)', () => {
  it('basic format: ATS ATSS CTSS LURS QTS TRS, QTSS ITNRS', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(rstmf(4));
    expectGood(r);
    expect([...r.data]).toEqual([0xde, 0x03, 0x00, 0x00]);
  });

  it('REPD: extended format, ADDITIONAL DATA LENGTH 0Ch, no timeouts', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(rstmf(16, true));
    expectGood(r);
    expect([...r.data]).toEqual([0xde, 0x03, 0x00, 0x0c, ...new Array<number>(12).fill(0)]);
  });

  it('an ALLOCATION LENGTH below 4 is INVALID FIELD IN CDB (byte 6)', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(rstmf(3)), 6);
  });
});
