import { describe, expect, it } from 'vitest';
import {
  IoStatus,
  newTaskIo,
  PORT_STATUS_ABORTED,
  ScsiOpcode as Op,
  ScsiStatus,
  TaskAction,
  TaskStatus,
  type TaskIo,
} from '@iscsi-target/ctl-core';
import { Harness, settle } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood } from './helpers/expect.js';

function tmf(h: Harness, action: TaskAction, referencedTag = 0, lun = 0, initiator = h.initiator): TaskIo {
  const tio = newTaskIo({
    nexus: { initiatorIndex: initiator, targetPort: h.targetPort, lun },
    taskAction: action,
    tagNum: 1000,
    referencedTag,
  });
  h.ctl.run(tio);
  return tio;
}

describe('task management', () => {
  it('ABORT TASK on a command not yet started: it never reaches the backend', async () => {
    const h = new Harness();
    await h.clearUa();
    const io = h.start(C.rw10(Op.Read10, 0, 1), { tag: 7 });
    const tio = tmf(h, TaskAction.AbortTask, 7);
    await h.port.whenDone(tio);
    expect(tio.taskStatus).toBe(TaskStatus.FunctionComplete);
    expect(h.port.doneCount(io)).toBe(1);
    expect(io.aborted).toBe(true);
    expect(io.status).toBe(IoStatus.Aborted);
    expect(io.scsiStatus).toBe(ScsiStatus.TaskAborted);
    // The aborted command was reported before the TMF.
    expect(h.port.completed.indexOf(io)).toBeLessThan(h.port.completed.indexOf(tio));
    await settle();
    expect(h.lun.submitted.length).toBe(0);
    expect(h.port.doneCount(io)).toBe(1);
  });

  it('ABORT TASK during a datamove completes when the frontend fails the datamove', async () => {
    const h = new Harness();
    await h.clearUa();
    h.port.auto = false;
    const io = h.start(C.rw10(Op.Write10, 0, 1), { tag: 8, dataOut: Buffer.alloc(512, 0xaa) });
    await settle();
    expect(h.port.pendingMoves).toEqual([io]);
    const tio = tmf(h, TaskAction.AbortTask, 8);
    await settle();
    // Neither completes while the datamove is with the frontend.
    expect(h.port.doneCount(io)).toBe(0);
    expect(h.port.doneCount(tio)).toBe(0);
    h.port.finishMove(io, 1);
    await h.port.whenDone(tio);
    expect(io.status).toBe(IoStatus.Aborted);
    expect(h.port.doneCount(io)).toBe(1);
    expect(h.lun.store[0]).toBe(0); // nothing written
  });

  it('ABORT TASK of an unknown tag is FUNCTION COMPLETE; on a missing LUN, LUN DOES NOT EXIST', async () => {
    const h = new Harness();
    const a = tmf(h, TaskAction.AbortTask, 4242);
    await h.port.whenDone(a);
    expect(a.taskStatus).toBe(TaskStatus.FunctionComplete);
    const b = tmf(h, TaskAction.AbortTask, 1, 9);
    await h.port.whenDone(b);
    expect(b.taskStatus).toBe(TaskStatus.LunDoesNotExist);
  });

  it('the backend sees io.aborted and the data phase is skipped for an aborted read', async () => {
    const h = new Harness({ lun: { hold: true } });
    await h.clearUa();
    const io = h.start(C.rw10(Op.Read10, 0, 1), { tag: 9 });
    await settle();
    expect(h.lun.parked).toBe(1);
    const tio = tmf(h, TaskAction.AbortTask, 9);
    await settle();
    expect(h.port.doneCount(tio)).toBe(0);
    h.lun.release();
    await h.port.whenDone(tio);
    expect(h.port.moves.length).toBe(0); // datamove of an aborted command is not passed on
    expect(io.portStatus).toBe(PORT_STATUS_ABORTED);
    expect(io.status).toBe(IoStatus.Aborted);
    expect(h.port.doneCount(io)).toBe(1);
  });

  it('ABORT TASK SET aborts only the nexus; CLEAR TASK SET aborts all and tells the others', async () => {
    const h = new Harness({ lun: { hold: true } });
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.b,i,0x2');
    await h.clearUa();
    await h.clearUa(0, other);
    h.lun.hold = true;
    const mine = h.start(C.rw10(Op.Read10, 0, 1));
    const theirs = h.start(C.rw10(Op.Read10, 0, 1), { initiator: other });
    const ats = tmf(h, TaskAction.AbortTaskSet);
    await h.port.whenDone(mine).then(() => undefined);
    h.lun.release();
    await h.port.whenDone(ats);
    expect(mine.status).toBe(IoStatus.Aborted);
    await h.port.whenDone(theirs);
    expect(theirs.status).toBe(IoStatus.Success);

    h.lun.hold = true;
    const mine2 = h.start(C.rw10(Op.Read10, 0, 1));
    const theirs2 = h.start(C.rw10(Op.Read10, 0, 1), { initiator: other });
    await settle();
    const cts = tmf(h, TaskAction.ClearTaskSet);
    h.lun.release();
    await h.port.whenDone(cts);
    expect(mine2.status).toBe(IoStatus.Aborted);
    expect(theirs2.status).toBe(IoStatus.Aborted);
    expectCheck(await h.exec(C.tur(), { initiator: other }), 0x06, 0x2f, 0x00);
    h.lun.hold = false;
    expectGood(await h.exec(C.tur()));
  });

  it('LOGICAL UNIT RESET and TARGET RESET abort everything and raise reset UAs', async () => {
    const h = new Harness({ lun: { hold: true } });
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.b,i,0x2');
    await h.clearUa();
    await h.clearUa(0, other);
    const a = h.start(C.rw10(Op.Read10, 0, 1), { initiator: other });
    await settle();
    const reset = tmf(h, TaskAction.LogicalUnitReset);
    h.lun.release();
    await h.port.whenDone(reset);
    expect(a.status).toBe(IoStatus.Aborted);
    h.lun.hold = false;
    expectCheck(await h.exec(C.tur(), { initiator: other }), 0x06, 0x29, 0x03);
    expectCheck(await h.exec(C.tur()), 0x06, 0x29, 0x03);

    const tr = tmf(h, TaskAction.TargetReset, 0, 12345);
    await h.port.whenDone(tr);
    expect(tr.taskStatus).toBe(TaskStatus.FunctionComplete);
    expectCheck(await h.exec(C.tur()), 0x06, 0x29, 0x03);
  });

  it('I_T NEXUS RESET aborts the nexus tasks on every LUN and raises I_T NEXUS LOSS', async () => {
    const h = new Harness();
    await h.clearUa();
    h.port.auto = false;
    const io = h.start(C.inquiry(false, 0, 36));
    await settle();
    const r = tmf(h, TaskAction.ItNexusReset);
    h.port.finishMove(io, 1);
    await h.port.whenDone(r);
    expect(io.status).toBe(IoStatus.Aborted);
    h.port.auto = true;
    expectCheck(await h.exec(C.tur()), 0x06, 0x29, 0x07);
  });

  it('QUERY TASK and QUERY TASK SET', async () => {
    const h = new Harness({ lun: { hold: true } });
    await h.clearUa();
    h.lun.hold = true;
    const io = h.start(C.rw10(Op.Read10, 0, 1), { tag: 55 });
    const q = tmf(h, TaskAction.QueryTask, 55);
    const q2 = tmf(h, TaskAction.QueryTask, 56);
    const qs = tmf(h, TaskAction.QueryTaskSet);
    await h.port.whenDone(qs);
    expect(q.taskStatus).toBe(TaskStatus.FunctionSucceeded);
    expect(q2.taskStatus).toBe(TaskStatus.FunctionComplete);
    expect(qs.taskStatus).toBe(TaskStatus.FunctionSucceeded);
    h.lun.release();
    await h.port.whenDone(io);
    expect(io.status).toBe(IoStatus.Success);
    const qs2 = tmf(h, TaskAction.QueryTaskSet);
    await h.port.whenDone(qs2);
    expect(qs2.taskStatus).toBe(TaskStatus.FunctionComplete);
  });

  it('unsupported functions are FUNCTION NOT SUPPORTED', async () => {
    const h = new Harness();
    for (const action of [TaskAction.ClearAca, TaskAction.QueryAsyncEvent]) {
      const t = tmf(h, action);
      await h.port.whenDone(t);
      expect(t.taskStatus).toBe(TaskStatus.FunctionNotSupported);
    }
  });

  it('removeInitiator aborts the nexus; done still arrives exactly once', async () => {
    const h = new Harness({ lun: { hold: true } });
    await h.clearUa();
    h.lun.hold = true;
    const running = h.start(C.rw10(Op.Read10, 0, 1));
    await settle();
    const blocked = h.start(C.rw10(Op.Write10, 0, 1), { dataOut: Buffer.alloc(512) });
    h.ctl.removeInitiator(h.targetPort, h.initiator);
    await h.port.whenDone(blocked);
    expect(blocked.status).toBe(IoStatus.Aborted);
    h.lun.release();
    await h.port.whenDone(running);
    expect(running.status).toBe(IoStatus.Aborted);
    await settle();
    expect(h.lun.submitted.length).toBe(1);
    expect(h.port.doneCount(running)).toBe(1);
    expect(h.port.doneCount(blocked)).toBe(1);
  });
});
