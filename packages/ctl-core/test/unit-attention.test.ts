import { describe, expect, it } from 'vitest';
import { newTaskIo, TaskAction, TaskStatus } from '@iscsi-target/ctl-core';
import { Harness } from './helpers/harness.js';
import { RamLun } from './helpers/ram-lun.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood } from './helpers/expect.js';

describe('unit attentions (SAM-5 §5.14)', () => {
  it('POWER ON on the first command of a new initiator, then cleared', async () => {
    const h = new Harness();
    expectCheck(await h.exec(C.tur()), 0x06, 0x29, 0x00);
    expectGood(await h.exec(C.tur()));
    // A second initiator gets its own.
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.b,i,0x2');
    expectCheck(await h.exec(C.rw10(0x28, 0, 1), { initiator: other }), 0x06, 0x29, 0x00);
    expectGood(await h.exec(C.tur(), { initiator: other }));
  });

  it('INQUIRY, REPORT LUNS and REQUEST SENSE bypass the UA', async () => {
    const h = new Harness();
    expectGood(await h.exec(C.inquiry(false, 0, 36)));
    expectGood(await h.exec(C.reportLuns(0, 16)));
    const rs = await h.exec(C.requestSense(false, 252));
    expectGood(rs);
    // REQUEST SENSE reported (and cleared) the POWER ON.
    expect([...rs.data]).toEqual([0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0x00, 0, 0, 0, 0]);
    expectGood(await h.exec(C.tur()));
  });

  it('REQUEST SENSE returns NO SENSE when nothing is pending, descriptor format with DESC', async () => {
    const h = new Harness();
    await h.clearUa();
    const fixed = await h.exec(C.requestSense(false, 18));
    expect([...fixed.data]).toEqual([0x70, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    h.ctl.lunCapacityChanged(h.lunId);
    const desc = await h.exec(C.requestSense(true, 252));
    expectGood(desc);
    expect([...desc.data]).toEqual([0x72, 0x06, 0x2a, 0x09, 0, 0, 0, 0]);
    expectGood(await h.exec(C.tur()));
  });

  it('REQUEST SENSE to a missing LUN returns LOGICAL UNIT NOT SUPPORTED with GOOD status', async () => {
    const h = new Harness();
    const r = await h.exec(C.requestSense(false, 18), { lun: 42 });
    expectGood(r);
    expect([r.data[2], r.data[12], r.data[13]]).toEqual([0x05, 0x25, 0x00]);
  });

  it('CAPACITY DATA HAS CHANGED for every initiator that talked to the LUN', async () => {
    const h = new Harness();
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.b,i,0x2');
    await h.clearUa();
    await h.clearUa(0, other);
    h.ctl.lunCapacityChanged(h.lunId);
    expectCheck(await h.exec(C.readCapacity10()), 0x06, 0x2a, 0x09);
    expectGood(await h.exec(C.readCapacity10()));
    expectCheck(await h.exec(C.tur(), { initiator: other }), 0x06, 0x2a, 0x09);
    expect(() => h.ctl.lunCapacityChanged(77)).toThrow(expect.objectContaining({ code: 'CTL_ERR_NO_SUCH_LUN' }));
  });

  it('a reset UA supersedes lower-priority ones', async () => {
    const h = new Harness();
    await h.clearUa();
    h.ctl.lunCapacityChanged(h.lunId);
    const tio = newTaskIo({
      nexus: { initiatorIndex: h.initiator, targetPort: h.targetPort, lun: 0 },
      taskAction: TaskAction.LogicalUnitReset,
      tagNum: 99,
    });
    h.ctl.run(tio);
    await h.port.whenDone(tio);
    expect(tio.taskStatus).toBe(TaskStatus.FunctionComplete);
    expectCheck(await h.exec(C.tur()), 0x06, 0x29, 0x03);
    expectGood(await h.exec(C.tur()));
  });

  it('I_T nexus loss: the reconnecting initiator gets the same index and I_T NEXUS LOSS OCCURRED', async () => {
    const h = new Harness();
    await h.clearUa();
    h.ctl.removeInitiator(h.targetPort, h.initiator);
    const again = h.ctl.addInitiator(h.targetPort, 'iqn.1994-05.com.redhat:host1,i,0x023d00000001');
    expect(again).toBe(h.initiator);
    expectCheck(await h.exec(C.tur()), 0x06, 0x29, 0x07);
    expectGood(await h.exec(C.tur()));
  });

  it('LUN inventory changes raise REPORTED LUNS DATA HAS CHANGED, cleared by REPORT LUNS', async () => {
    const h = new Harness();
    await h.clearUa();
    h.ctl.addLun(new RamLun(), 1);
    const r = await h.exec(C.reportLuns(0, 64));
    expectGood(r);
    expect(r.data.readUInt32BE(0)).toBe(16);
    // Reported by REPORT LUNS: no UA left on LUN 0.
    expectGood(await h.exec(C.tur()));
    // New LUN: POWER ON for its first command.
    expectCheck(await h.exec(C.tur(), { lun: 1 }), 0x06, 0x29, 0x00);
    await h.ctl.removeLun(1);
    expectCheck(await h.exec(C.tur()), 0x06, 0x3f, 0x0e);
    expectGood(await h.exec(C.tur()));
  });
});
