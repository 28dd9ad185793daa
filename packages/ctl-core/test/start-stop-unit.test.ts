import { describe, expect, it } from 'vitest';
import { ScsiOpcode as Op } from '@iscsi-target/ctl-core';
import { Harness } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood, expectInvalidField } from './helpers/expect.js';

/** NOT READY / LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED (SBC-3 §4.19). */
function expectStopped(r: Parameters<typeof expectGood>[0]): void {
  expectCheck(r, 0x02, 0x04, 0x02);
}

describe('START STOP UNIT (SBC-3 §5.25)', () => {
  it('STOP flushes and stops: medium access and TEST UNIT READY get NOT READY 04h/02h; START makes it ready', async () => {
    const h = new Harness();
    await h.clearUa();
    expectGood(await h.exec(C.startStop(0x00, 0x01))); // STOP, IMMED
    expect(h.lun.submitted.map((s) => s.request)).toEqual([{ op: 'flush', lba: 0, blocks: 0, immed: true }]);
    expectStopped(await h.exec(C.tur()));
    expectStopped(await h.exec(C.rw10(Op.Read10, 0, 1)));
    expectStopped(await h.exec(C.rw10(Op.Write10, 0, 1), { dataOut: Buffer.alloc(512) }));
    expectStopped(await h.exec(C.syncCache10(0, 0)));
    // Nothing reached the backend while stopped.
    expect(h.lun.submitted.length).toBe(1);
    // Commands that do not access the medium still work.
    expectGood(await h.exec(C.inquiry(false, 0, 96)));
    expectGood(await h.exec(C.readCapacity10()));
    expectGood(await h.exec(C.modeSense6(0x3f)));
    expectGood(await h.exec(C.reportLuns(0, 64)));
    // REQUEST SENSE describes the stopped state (GOOD status, sense as data).
    const rs = await h.exec(C.requestSense(false, 18));
    expectGood(rs);
    expect([rs.data[0], rs.data[2], rs.data[12], rs.data[13]]).toEqual([0x70, 0x02, 0x04, 0x02]);
    expectGood(await h.exec(C.startStop(0x01))); // START
    expectGood(await h.exec(C.tur()));
    expectGood(await h.exec(C.rw10(Op.Read10, 0, 1)));
    const ready = await h.exec(C.requestSense(false, 18));
    expect([ready.data[2], ready.data[12], ready.data[13]]).toEqual([0x00, 0x00, 0x00]);
  });

  it('STOP with NO_FLUSH does not flush; the stopped state is shared by all initiators', async () => {
    const h = new Harness();
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.other,i,0x1');
    await h.clearUa();
    await h.clearUa(0, other);
    expectGood(await h.exec(C.startStop(0x04)));
    expect(h.lun.submitted.length).toBe(0);
    expectStopped(await h.exec(C.tur(), { initiator: other }));
    expectGood(await h.exec(C.startStop(0x01), { initiator: other }));
    expectGood(await h.exec(C.tur()));
  });

  it('a pending unit attention is reported before NOT READY', async () => {
    const h = new Harness();
    await h.clearUa();
    expectGood(await h.exec(C.startStop(0x04)));
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.other,i,0x1');
    expectCheck(await h.exec(C.tur(), { initiator: other }), 0x06, 0x29, 0x00);
    expectStopped(await h.exec(C.tur(), { initiator: other }));
  });

  it('LOEJ is an invalid field: the medium is not removable', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(C.startStop(0x02)), 4, 1);
    expectInvalidField(await h.exec(C.startStop(0x03)), 4, 1);
    expectGood(await h.exec(C.tur()));
  });

  it('defined power conditions are accepted without changing readiness; START and LOEJ are then ignored', async () => {
    const h = new Harness();
    await h.clearUa();
    for (const pc of [0x1, 0x2, 0x3, 0x7, 0xa, 0xb]) {
      expectGood(await h.exec(C.startStop((pc << 4) | 0x02))); // LOEJ ignored with PC != 0
      expectGood(await h.exec(C.tur()));
    }
    // IDLE_C and STANDBY_Z modifiers.
    expectGood(await h.exec(Buffer.from([Op.StartStopUnit, 0, 0, 0x02, 0x20, 0])));
    expectGood(await h.exec(Buffer.from([Op.StartStopUnit, 0, 0, 0x01, 0x30, 0])));
    expectGood(await h.exec(Buffer.from([Op.StartStopUnit, 0, 0, 0x02, 0xa0, 0])));
    expectGood(await h.exec(Buffer.from([Op.StartStopUnit, 0, 0, 0x01, 0xb0, 0])));
    expect(h.lun.submitted.length).toBe(0);
  });

  it('reserved power conditions and undefined modifiers are INVALID FIELD IN CDB', async () => {
    const h = new Harness();
    await h.clearUa();
    for (const pc of [0x4, 0x5, 0x6, 0x8, 0x9, 0xc, 0xf]) {
      expectInvalidField(await h.exec(C.startStop(pc << 4)), 4, 7);
    }
    expectInvalidField(await h.exec(Buffer.from([Op.StartStopUnit, 0, 0, 0x01, 0x01, 0])), 3, 3);
    expectInvalidField(await h.exec(Buffer.from([Op.StartStopUnit, 0, 0, 0x03, 0x20, 0])), 3, 3);
    expectInvalidField(await h.exec(Buffer.from([Op.StartStopUnit, 0, 0, 0x02, 0x30, 0])), 3, 3);
    expectInvalidField(await h.exec(Buffer.from([Op.StartStopUnit, 0, 0, 0x03, 0xa0, 0])), 3, 3);
    expectInvalidField(await h.exec(Buffer.from([Op.StartStopUnit, 0, 0, 0x02, 0xb0, 0])), 3, 3);
    expectInvalidField(await h.exec(Buffer.from([Op.StartStopUnit, 0, 0, 0x01, 0x70, 0])), 3, 3);
  });
});
