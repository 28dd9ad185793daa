import { describe, expect, it } from 'vitest';
import {
  AluaState,
  buildReportTargetPortGroups,
  validatePortAlua,
  type AluaState as AluaStateT,
  type PortAlua,
} from '@iscsi-target/ctl-core';
import { Harness } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood, expectInvalidField } from './helpers/expect.js';

/** REPORT TARGET PORT GROUPS CDB (MAINTENANCE IN, service action 0Ah). */
function rtpg(alloc: number, extended = false): Buffer {
  const c = Buffer.alloc(12);
  c[0] = 0xa3;
  c[1] = 0x0a | (extended ? 0x20 : 0);
  c.writeUInt32BE(alloc, 6);
  return c;
}

const GROUPS = [
  { id: 1, relativeTargetPorts: [1] },
  { id: 2, relativeTargetPorts: [2] },
];

/** Two "gateways": separate cores, same target name, their own port and group, the same topology. */
function gateways(stateOf?: (g: number) => AluaStateT): [Harness, Harness] {
  const a: PortAlua = { relativeTargetPort: 1, targetPortGroup: 1, groups: GROUPS };
  const b: PortAlua = { relativeTargetPort: 2, targetPortGroup: 2, groups: [...GROUPS].reverse() };
  const lunAlua = stateOf ? { accessState: stateOf } : undefined;
  return [
    new Harness({ alua: a, ...(lunAlua ? { lunAlua } : {}) }),
    new Harness({ alua: b, portName: 'iqn.2026-01.org.example:disk0,t,0x0002', ...(lunAlua ? { lunAlua } : {}) }),
  ];
}

/** The designators of VPD 83h: [type, association, value]. */
function designators(page: Buffer): [number, number, Buffer][] {
  const out: [number, number, Buffer][] = [];
  const end = 4 + page.readUInt16BE(2);
  for (let off = 4; off < end; ) {
    const len = page[off + 3]!;
    out.push([page[off + 1]! & 0x0f, (page[off + 1]! >> 4) & 0x03, page.subarray(off + 4, off + 4 + len)]);
    off += 4 + len;
  }
  return out;
}

describe('ALUA (alua.ts)', () => {
  it('standard INQUIRY reports TPGS = 01b (implicit ALUA)', async () => {
    const [a] = gateways();
    const r = await a.exec(C.inquiry(false, 0, 96));
    expectGood(r);
    expect((r.data[5]! >> 4) & 0x03).toBe(1);
  });

  it('VPD 83h carries the relative target port and the target port group of each gateway', async () => {
    const [a, b] = gateways();
    for (const [h, rtp, tpg] of [
      [a, 1, 1],
      [b, 2, 2],
    ] as const) {
      const r = await h.exec(C.inquiry(true, 0x83, 512));
      expectGood(r);
      const ds = designators(r.data);
      const rel = ds.find(([t, assoc]) => t === 0x4 && assoc === 1);
      const grp = ds.find(([t, assoc]) => t === 0x5 && assoc === 1);
      expect(rel?.[2].readUInt16BE(2)).toBe(rtp);
      expect(grp?.[2].readUInt16BE(2)).toBe(tpg);
    }
  });

  it('REPORT TARGET PORT GROUPS is byte-identical on both gateways and lists both groups', async () => {
    const owner = (g: number): AluaStateT => (g === 1 ? AluaState.ActiveOptimized : AluaState.ActiveNonOptimized);
    const [a, b] = gateways(owner);
    await a.clearUa();
    await b.clearUa();
    for (const ext of [false, true]) {
      const ra = await a.exec(rtpg(1024, ext));
      const rb = await b.exec(rtpg(1024, ext));
      expectGood(ra);
      expectGood(rb);
      expect(ra.data.equals(rb.data)).toBe(true);
      const off = ext ? 8 : 4;
      expect(ra.data.readUInt32BE(0)).toBe(ra.data.length - 4);
      if (ext) expect(ra.data[4]).toBe(0x10);
      // group 1: Active/Optimized, port 1; group 2: Active/Non-optimized, port 2
      expect(ra.data[off]! & 0x0f).toBe(AluaState.ActiveOptimized);
      expect(ra.data.readUInt16BE(off + 2)).toBe(1);
      expect(ra.data[off + 7]).toBe(1);
      expect(ra.data.readUInt16BE(off + 10)).toBe(1);
      expect(ra.data[off + 12]! & 0x0f).toBe(AluaState.ActiveNonOptimized);
      expect(ra.data.readUInt16BE(off + 14)).toBe(2);
      expect(ra.data.readUInt16BE(off + 22)).toBe(2);
    }
  });

  it('truncates to the allocation length and refuses a reserved PARAMETER DATA FORMAT', async () => {
    const [a] = gateways();
    await a.clearUa();
    const r = await a.exec(rtpg(6));
    expectGood(r);
    expect(r.data.length).toBe(6);
    const c = rtpg(64);
    c[1] = 0x0a | 0x40;
    expectInvalidField(await a.exec(c), 1, 7);
  });

  it('without a configured topology every port of the target is in group 1, Active/Optimized', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(rtpg(64));
    expectGood(r);
    expect(r.data).toEqual(buildReportTargetPortGroups([{ id: 1, relativeTargetPorts: [1] }], () => AluaState.ActiveOptimized, false));
  });

  it('validatePortAlua checks ranges, duplicates and membership', () => {
    expect(validatePortAlua({ relativeTargetPort: 1, targetPortGroup: 1, groups: GROUPS })).toBeNull();
    expect(validatePortAlua({ relativeTargetPort: 0, targetPortGroup: 1, groups: GROUPS })).toMatch(/outside/);
    expect(validatePortAlua({ relativeTargetPort: 1, targetPortGroup: 2, groups: GROUPS })).toMatch(/not in 2/);
    expect(validatePortAlua({ relativeTargetPort: 3, targetPortGroup: 1, groups: GROUPS })).toMatch(/no group/);
    expect(
      validatePortAlua({ relativeTargetPort: 1, targetPortGroup: 1, groups: [...GROUPS, { id: 3, relativeTargetPorts: [2] }] }),
    ).toMatch(/twice/);
  });

  it('implicit transition: I/O at the non-owner gets ASYMMETRIC ACCESS STATE TRANSITION, then UA 2Ah/06h and service', async () => {
    // One owner group for the LUN, shared by both "gateways" as the RBD lock would be.
    let owner = 1;
    const requested: [number, boolean][] = [];
    const lunAlua = {
      accessState: (g: number): AluaStateT => (g === owner ? AluaState.ActiveOptimized : AluaState.ActiveNonOptimized),
      accessRequested: (g: number, writes: boolean): boolean => {
        requested.push([g, writes]);
        return true;
      },
    };
    const [a, b] = [
      new Harness({ alua: { relativeTargetPort: 1, targetPortGroup: 1, groups: GROUPS }, lunAlua }),
      new Harness({ alua: { relativeTargetPort: 2, targetPortGroup: 2, groups: GROUPS }, lunAlua, portName: 'iqn.2026-01.org.example:disk0,t,0x0002' }),
    ];
    await a.clearUa();
    await b.clearUa();
    const read = C.rw10(0x28, 0, 1);
    expectGood(await a.exec(read));
    expectCheck(await b.exec(read), 0x02, 0x04, 0x0a);
    expectCheck(await b.exec(C.rw10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) }), 0x02, 0x04, 0x0a);
    expect(requested).toEqual([
      [2, false],
      [2, true],
    ]);
    // INQUIRY and REPORT TARGET PORT GROUPS still run through the non-owner.
    expectGood(await b.exec(C.inquiry(false, 0, 96)));
    const before = (await b.exec(rtpg(64))).data;
    expect(before.equals((await a.exec(rtpg(64))).data)).toBe(true);
    // The owner moves to group 2; both gateways announce it.
    owner = 2;
    a.ctl.aluaStateChanged(a.lunId);
    b.ctl.aluaStateChanged(b.lunId);
    expectCheck(await b.exec(read), 0x06, 0x2a, 0x06);
    expectGood(await b.exec(read));
    expectCheck(await a.exec(C.tur()), 0x06, 0x2a, 0x06);
    const after = (await a.exec(rtpg(64))).data;
    expect(after.equals((await b.exec(rtpg(64))).data)).toBe(true);
    expect(after[4]! & 0x0f).toBe(AluaState.ActiveNonOptimized);
    expect(after[16]! & 0x0f).toBe(AluaState.ActiveOptimized);
  });

  it('Standby and Unavailable groups refuse medium access with NOT READY 04h/0Bh and 04h/0Ch', async () => {
    let st: AluaStateT = AluaState.Standby;
    const h = new Harness({ alua: { relativeTargetPort: 1, targetPortGroup: 1, groups: GROUPS }, lunAlua: { accessState: () => st } });
    await h.clearUa();
    expectCheck(await h.exec(C.rw10(0x28, 0, 1)), 0x02, 0x04, 0x0b);
    st = AluaState.Unavailable;
    expectCheck(await h.exec(C.rw10(0x28, 0, 1)), 0x02, 0x04, 0x0c);
    expectGood(await h.exec(C.inquiry(true, 0x83, 255)));
  });
});
