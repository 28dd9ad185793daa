import { describe, expect, it } from 'vitest';
import { Ctl, decodeLun, encodeLun, newScsiIo, TagType } from '@iscsi-target/ctl-core';
import { FakePort } from './helpers/fake-port.js';
import { Harness, result } from './helpers/harness.js';
import { RamLun } from './helpers/ram-lun.js';
import * as C from './helpers/cdb.js';
import { expectGood, expectInvalidField } from './helpers/expect.js';

describe('LUN encoding (SAM-5 §4.7)', () => {
  it('uses peripheral addressing below 256 and flat space above', () => {
    const b = Buffer.alloc(8);
    encodeLun(b, 0, 5);
    expect([...b]).toEqual([0, 5, 0, 0, 0, 0, 0, 0]);
    encodeLun(b, 0, 300);
    expect([...b]).toEqual([0x41, 0x2c, 0, 0, 0, 0, 0, 0]);
    encodeLun(b, 0, 16383);
    expect([...b]).toEqual([0x7f, 0xff, 0, 0, 0, 0, 0, 0]);
    expect(decodeLun(b)).toBe(16383);
    expect(() => encodeLun(b, 0, 16384)).toThrow(RangeError);
  });
});

describe('REPORT LUNS (SPC-4 §6.33)', () => {
  it('lists every LUN, ascending, without a LUN at 0 required', async () => {
    const h = new Harness();
    h.ctl.addLun(new RamLun(), 300);
    h.ctl.addLun(new RamLun(), 7);
    const r = await h.exec(C.reportLuns(0, 1024));
    expectGood(r);
    expect(r.data.readUInt32BE(0)).toBe(24);
    expect(r.data.subarray(4, 8)).toEqual(Buffer.alloc(4));
    expect([...r.data.subarray(8)]).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0,
      0, 7, 0, 0, 0, 0, 0, 0,
      0x41, 0x2c, 0, 0, 0, 0, 0, 0,
    ]);
    // Same for SELECT REPORT 02h, and it works addressed to a missing LUN.
    const r2 = await h.exec(C.reportLuns(2, 1024), { lun: 99 });
    expectGood(r2);
    expect(r2.data).toEqual(r.data);
  });

  it('SELECT REPORT 01h (well known LUNs) is empty; others are invalid', async () => {
    const h = new Harness();
    const r = await h.exec(C.reportLuns(1, 16));
    expectGood(r);
    expect([...r.data]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expectInvalidField(await h.exec(C.reportLuns(0x10, 16)), 2);
  });

  it('an allocation length below 16 is INVALID FIELD IN CDB (byte 6)', async () => {
    const h = new Harness();
    expectInvalidField(await h.exec(C.reportLuns(0, 15)), 6);
  });

  it('truncates to the allocation length but keeps the full LUN LIST LENGTH', async () => {
    const h = new Harness();
    h.ctl.addLun(new RamLun(), 1);
    h.ctl.addLun(new RamLun(), 2);
    const r = await h.exec(C.reportLuns(0, 16));
    expect(r.data.length).toBe(16);
    expect(r.data.readUInt32BE(0)).toBe(24);
  });

  it('follows the port LUN map', async () => {
    const ctl = new Ctl();
    const a = ctl.addLun(new RamLun(), 10);
    ctl.addLun(new RamLun(), 11);
    const port = new FakePort({ lunMap: new Map([[0, a], [3, 11], [4, 99]]) });
    port.ctl = ctl;
    const tp = ctl.registerPort(port);
    const ini = ctl.addInitiator(tp, 'iqn.x,i,0x1');
    const io = newScsiIo({
      nexus: { initiatorIndex: ini, targetPort: tp, lun: 0 },
      tagNum: 1,
      tagType: TagType.Simple,
      cdb: C.reportLuns(0, 64),
      expectedDataTransferLength: 64,
    });
    ctl.run(io);
    await port.whenDone(io);
    const r = result(io, port);
    expect(r.data.readUInt32BE(0)).toBe(16);
    expect([...r.data.subarray(8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0]);
  });
});
