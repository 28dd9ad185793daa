import { describe, expect, it } from 'vitest';
import { IoStatus, newTaskIo, ScsiOpcode as Op, TagType, TaskAction, TaskStatus, type TaskIo } from '@iscsi-target/ctl-core';
import { Harness, settle } from './helpers/harness.js';
import * as C from './helpers/cdb.js';

function tmf(h: Harness, action: TaskAction, initiator = h.initiator, referencedTag = 0): TaskIo {
  const tio = newTaskIo({
    nexus: { initiatorIndex: initiator, targetPort: h.targetPort, lun: 0 },
    taskAction: action,
    tagNum: 5000,
    referencedTag,
  });
  h.ctl.run(tio);
  return tio;
}

/** Blocks written by the backend, as a string of fill bytes per block 0..3. */
function blocks(h: Harness): number[] {
  return [0, 1, 2, 3].map((b) => h.lun.store[b * 512] ?? -1);
}

/**
 * SAM-5 task management: a task aborted by a TMF never reaches the medium
 * once the TMF response is delivered. A write already running in the backend
 * is waited for (the response comes after it); writes blocked behind it on
 * the OOA list never start.
 */
describe('aborted commands never reach storage after the TMF response', () => {
  for (const [name, action] of [
    ['ABORT TASK SET', TaskAction.AbortTaskSet],
    ['CLEAR TASK SET', TaskAction.ClearTaskSet],
    ['LOGICAL UNIT RESET', TaskAction.LogicalUnitReset],
    ['TARGET RESET', TaskAction.TargetReset],
    ['I_T NEXUS RESET', TaskAction.ItNexusReset],
  ] as const) {
    it(`${name}: the running write is waited for, the blocked ones never start`, async () => {
      const h = new Harness({ lun: { hold: true } });
      await h.clearUa();
      h.lun.hold = true;
      // W1 runs (parked in the backend); W2 overlaps it; W3 is ORDERED behind both.
      const w1 = h.start(C.rw10(Op.Write10, 0, 2), { tag: 1, dataOut: Buffer.alloc(1024, 0x11) });
      const w2 = h.start(C.rw10(Op.Write10, 1, 2), { tag: 2, dataOut: Buffer.alloc(1024, 0x22) });
      const w3 = h.start(C.rw10(Op.Write10, 3, 1), { tag: 3, tagType: TagType.Ordered, dataOut: Buffer.alloc(512, 0x33) });
      await settle();
      expect(h.lun.submitted.map((s) => s.io)).toEqual([w1]);
      const tio = tmf(h, action);
      await settle();
      // The TMF waits for W1, which is still in the backend.
      expect(h.port.doneCount(tio)).toBe(0);
      h.lun.hold = false;
      h.lun.release();
      await h.port.whenDone(tio);
      expect(tio.taskStatus).toBe(TaskStatus.FunctionComplete);
      for (const io of [w1, w2, w3]) expect(io.status).toBe(IoStatus.Aborted);
      await settle();
      // Only W1 was ever handed to the backend; it saw `aborted` and wrote nothing.
      expect(h.lun.submitted.map((s) => s.io)).toEqual([w1]);
      expect(blocks(h)).toEqual([0, 0, 0, 0]);
      for (const io of [w1, w2, w3]) expect(h.port.doneCount(io)).toBe(1);
    });
  }

  it('I_T nexus loss (removeInitiator) aborts blocked writes the same way', async () => {
    const h = new Harness({ lun: { hold: true } });
    await h.clearUa();
    const w1 = h.start(C.rw10(Op.Write10, 0, 1), { tag: 1, dataOut: Buffer.alloc(512, 0x11) });
    const w2 = h.start(C.rw10(Op.Write10, 0, 1), { tag: 2, dataOut: Buffer.alloc(512, 0x22) });
    await settle();
    h.ctl.removeInitiator(h.targetPort, h.initiator);
    h.lun.hold = false;
    h.lun.release();
    await h.port.whenDone(w1);
    await h.port.whenDone(w2);
    await settle();
    expect(h.lun.submitted.map((s) => s.io)).toEqual([w1]);
    expect(w2.status).toBe(IoStatus.Aborted);
    expect(blocks(h)).toEqual([0, 0, 0, 0]);
  });

  it("ABORT TASK SET leaves the other initiator's writes alone", async () => {
    const h = new Harness({ lun: { hold: true } });
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.other,i,0x1');
    await h.clearUa();
    await h.clearUa(0, other);
    h.lun.hold = true;
    const mine = h.start(C.rw10(Op.Write10, 0, 1), { tag: 1, dataOut: Buffer.alloc(512, 0x11) });
    const theirs = h.start(C.rw10(Op.Write10, 2, 1), { tag: 1, initiator: other, dataOut: Buffer.alloc(512, 0x44) });
    await settle();
    const tio = tmf(h, TaskAction.AbortTaskSet);
    h.lun.hold = false;
    h.lun.release();
    await h.port.whenDone(tio);
    await h.port.whenDone(theirs);
    expect(mine.status).toBe(IoStatus.Aborted);
    expect(theirs.status).toBe(IoStatus.Success);
    expect(blocks(h)).toEqual([0, 0, 0x44, 0]);
  });
});
