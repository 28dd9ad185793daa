import { describe, expect, it } from 'vitest';
import { newTaskIo, ScsiOpcode as Op, TaskAction, TaskStatus, type TaskIo } from '@iscsi-target/ctl-core';
import { Harness, type ExecResult } from './helpers/harness.js';
import { RamLun } from './helpers/ram-lun.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood, expectInvalidField } from './helpers/expect.js';

/** The removable LUN's id in these tests (LUN 0 is the harness's ordinary disk). */
const R = 1;

/** A harness with a removable RAM LUN at LUN 1, unit attentions cleared for the default initiator. */
async function removableHarness(): Promise<{ h: Harness; lun: RamLun }> {
  const h = new Harness();
  const lun = new RamLun({ numBlocks: 64 });
  h.ctl.addLun(lun, R, { removable: true });
  await h.clearUa(R);
  return { h, lun };
}

/** PREVENT ALLOW MEDIUM REMOVAL with the PREVENT field (byte 4). */
function preventAllow(prevent: number, b1 = 0): Buffer {
  return Buffer.from([Op.PreventAllowMediumRemoval, b1, 0, 0, prevent, 0]);
}

const EJECT = 0x02; // START STOP UNIT byte 4: LOEJ = 1, START = 0
const LOAD = 0x03; // LOEJ = 1, START = 1

/** NOT READY / MEDIUM NOT PRESENT - TRAY OPEN (FreeBSD ctl_set_lun_ejected). */
function expectNoMedium(r: ExecResult): void {
  expectCheck(r, 0x02, 0x3a, 0x02);
}

/** ILLEGAL REQUEST / MEDIUM REMOVAL PREVENTED (SBC-3 START STOP UNIT). */
function expectRemovalPrevented(r: ExecResult): void {
  expectCheck(r, 0x05, 0x53, 0x02);
}

function tmf(h: Harness, action: TaskAction, lun: number, initiator = h.initiator): Promise<TaskIo> {
  const tio = newTaskIo({
    nexus: { initiatorIndex: initiator, targetPort: h.targetPort, lun },
    taskAction: action,
    tagNum: 1000,
    referencedTag: 0,
  });
  h.ctl.run(tio);
  return h.port.whenDone(tio);
}

describe('removable medium (SBC-3 PREVENT ALLOW MEDIUM REMOVAL, START STOP UNIT LOEJ)', () => {
  it('INQUIRY reports RMB = 1 on the removable LUN only', async () => {
    const { h } = await removableHarness();
    await h.clearUa(0);
    const disk = await h.exec(C.inquiry(false, 0, 96));
    expectGood(disk);
    expect(disk.data[1]).toBe(0x00);
    const rem = await h.exec(C.inquiry(false, 0, 96), { lun: R });
    expectGood(rem);
    expect(rem.data[1]).toBe(0x80);
  });

  it('REPORT SUPPORTED OPERATION CODES lists PREVENT ALLOW MEDIUM REMOVAL on the removable LUN only', async () => {
    const { h } = await removableHarness();
    await h.clearUa(0);
    const one = Buffer.from([0xa3, 0x0c, 0x01, Op.PreventAllowMediumRemoval, 0, 0, 0, 0, 0, 0x20, 0, 0]);
    const rem = await h.exec(one, { lun: R });
    expectGood(rem);
    // SUPPORT = 011b, CDB SIZE 6, usage data: opcode, bytes 1-3 reserved, PREVENT, CONTROL.
    expect([...rem.data]).toEqual([0, 0x03, 0, 6, 0x1e, 0x00, 0x00, 0x00, 0x03, 0xc0]);
    const disk = await h.exec(one, { lun: 0 });
    expectGood(disk);
    expect([...disk.data]).toEqual([0, 0x01, 0, 0]);
    // All-commands format: the removable LUN reports one more 8-byte descriptor, for 1Eh.
    const all = Buffer.from([0xa3, 0x0c, 0x00, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 0]);
    const a = await h.exec(all, { lun: R });
    const b = await h.exec(all, { lun: 0 });
    expect(a.data.readUInt32BE(0) - b.data.readUInt32BE(0)).toBe(8);
    const opcodes = (d: Buffer): number[] => {
      const out: number[] = [];
      for (let off = 4; off < 4 + d.readUInt32BE(0); off += 8) out.push(d[off]!);
      return out;
    };
    expect(opcodes(a.data)).toContain(0x1e);
    expect(opcodes(b.data)).not.toContain(0x1e);
  });

  it('PREVENT blocks the eject (53h/02h) and the medium stays accessible; ALLOW lets it go', async () => {
    const { h, lun } = await removableHarness();
    expectGood(await h.exec(preventAllow(0x01), { lun: R }));
    expectRemovalPrevented(await h.exec(C.startStop(EJECT), { lun: R }));
    expectGood(await h.exec(C.tur(), { lun: R }));
    expect(lun.submitted.length).toBe(0); // the refused eject did not even flush
    expectGood(await h.exec(preventAllow(0x00), { lun: R }));
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
    // NO_FLUSH = 0: the cache was flushed before the medium left.
    expect(lun.submitted.map((s) => s.request)).toEqual([{ op: 'flush', lba: 0, blocks: 0, immed: false }]);
    expectNoMedium(await h.exec(C.tur(), { lun: R }));
  });

  it('without a medium, medium access commands (READ CAPACITY too) get 3Ah/02h and never reach the backend', async () => {
    const { h, lun } = await removableHarness();
    expectGood(await h.exec(C.startStop(EJECT | 0x04), { lun: R })); // NO_FLUSH
    expectNoMedium(await h.exec(C.tur(), { lun: R }));
    expectNoMedium(await h.exec(C.rw10(Op.Read10, 0, 1), { lun: R }));
    expectNoMedium(await h.exec(C.rw16(Op.Write16, 0, 1), { lun: R, dataOut: Buffer.alloc(512) }));
    expectNoMedium(await h.exec(C.syncCache10(0, 0), { lun: R }));
    expectNoMedium(await h.exec(C.readCapacity10(), { lun: R }));
    expectNoMedium(await h.exec(C.readCapacity16(32), { lun: R }));
    expect(lun.submitted.length).toBe(0);
    // Commands that do not need the medium still work.
    expectGood(await h.exec(C.inquiry(false, 0, 96), { lun: R }));
    expectGood(await h.exec(C.modeSense6(0x3f), { lun: R }));
    expectGood(await h.exec(C.reportLuns(0, 64), { lun: R }));
    expectGood(await h.exec(preventAllow(0x01), { lun: R }));
    expectGood(await h.exec(preventAllow(0x00), { lun: R }));
    // REQUEST SENSE describes the missing medium (GOOD status, sense as data).
    const rs = await h.exec(C.requestSense(false, 18), { lun: R });
    expectGood(rs);
    expect([rs.data[0], rs.data[2], rs.data[12], rs.data[13]]).toEqual([0x70, 0x02, 0x3a, 0x02]);
    // The ordinary LUN is unaffected.
    await h.clearUa(0);
    expectGood(await h.exec(C.tur(), { lun: 0 }));
  });

  it('loading is refused while prevented; a load tells the other initiators 28h/00h, not the loader', async () => {
    const { h } = await removableHarness();
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.other,i,0x1');
    await h.clearUa(R, other);
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
    expectGood(await h.exec(preventAllow(0x01), { lun: R }));
    expectRemovalPrevented(await h.exec(C.startStop(LOAD), { lun: R }));
    expectNoMedium(await h.exec(C.tur(), { lun: R }));
    expectGood(await h.exec(preventAllow(0x00), { lun: R }));
    expectGood(await h.exec(C.startStop(LOAD), { lun: R }));
    expectGood(await h.exec(C.tur(), { lun: R }));
    expectCheck(await h.exec(C.tur(), { lun: R, initiator: other }), 0x06, 0x28, 0x00);
    expectGood(await h.exec(C.tur(), { lun: R, initiator: other }));
    // A second load of a present medium changes nothing: no new unit attention.
    expectGood(await h.exec(C.startStop(LOAD), { lun: R }));
    expectGood(await h.exec(C.tur(), { lun: R, initiator: other }));
  });

  it('eject and load never touch the data', async () => {
    const { h, lun } = await removableHarness();
    const pattern = Buffer.alloc(1024);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7 + 3) & 0xff;
    expectGood(await h.exec(C.rw10(Op.Write10, 5, 2), { lun: R, dataOut: pattern }));
    const before = Buffer.from(lun.store);
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
    expectGood(await h.exec(C.startStop(LOAD), { lun: R }));
    expect(lun.store.equals(before)).toBe(true);
    const r = await h.exec(C.rw10(Op.Read10, 5, 2), { lun: R });
    expectGood(r);
    expect(r.data.equals(pattern)).toBe(true);
  });

  it('an eject stops the unit; START without LOEJ leaves the medium out; a load starts the unit', async () => {
    const { h } = await removableHarness();
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
    expectGood(await h.exec(C.startStop(0x01), { lun: R })); // START, LOEJ = 0
    expectNoMedium(await h.exec(C.tur(), { lun: R }));
    expectGood(await h.exec(C.startStop(0x00), { lun: R })); // STOP
    expectGood(await h.exec(C.startStop(LOAD), { lun: R }));
    expectGood(await h.exec(C.tur(), { lun: R })); // loaded and started
    // STOP without LOEJ keeps the medium: NOT READY 04h/02h, not 3Ah.
    expectGood(await h.exec(C.startStop(0x00), { lun: R }));
    expectCheck(await h.exec(C.tur(), { lun: R }), 0x02, 0x04, 0x02);
    expectGood(await h.exec(C.startStop(0x01), { lun: R }));
    expectGood(await h.exec(C.tur(), { lun: R }));
  });

  it('with a POWER CONDITION other than START_VALID, LOEJ is ignored on a removable LUN too', async () => {
    const { h } = await removableHarness();
    for (let pc = 1; pc < 16; pc++) {
      const r = await h.exec(C.startStop((pc << 4) | EJECT), { lun: R });
      if ([0x1, 0x2, 0x3, 0x7, 0xa, 0xb].includes(pc)) expectGood(r);
      else expectInvalidField(r, 4, 7);
      expectGood(await h.exec(C.tur(), { lun: R }));
    }
  });

  it('prevention is per I_T nexus: removal is prevented while any nexus prevents it', async () => {
    const { h } = await removableHarness();
    const b = h.ctl.addInitiator(h.targetPort, 'iqn.b,i,0x1');
    await h.clearUa(R, b);
    expectGood(await h.exec(preventAllow(0x01), { lun: R }));
    expectRemovalPrevented(await h.exec(C.startStop(EJECT), { lun: R, initiator: b }));
    expectGood(await h.exec(preventAllow(0x01), { lun: R, initiator: b }));
    expectGood(await h.exec(preventAllow(0x00), { lun: R }));
    expectRemovalPrevented(await h.exec(C.startStop(EJECT), { lun: R }));
    // ALLOW from a nexus that does not prevent changes nothing for the others.
    expectGood(await h.exec(preventAllow(0x00), { lun: R }));
    expectRemovalPrevented(await h.exec(C.startStop(EJECT), { lun: R }));
    expectGood(await h.exec(preventAllow(0x00), { lun: R, initiator: b }));
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
  });

  it('PREVENT 11b prevents and 10b allows (obsolete values; no medium changer); reserved bits are invalid fields', async () => {
    const { h } = await removableHarness();
    expectGood(await h.exec(preventAllow(0x03), { lun: R }));
    expectRemovalPrevented(await h.exec(C.startStop(EJECT), { lun: R }));
    expectGood(await h.exec(preventAllow(0x02), { lun: R }));
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
    expectInvalidField(await h.exec(preventAllow(0x01, 0x01), { lun: R }), 1, 0);
    expectInvalidField(await h.exec(preventAllow(0x05), { lun: R }), 4, 2);
    // The refused commands changed nothing: removal is still allowed.
    expectGood(await h.exec(C.startStop(LOAD), { lun: R }));
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
  });

  it('LOGICAL UNIT RESET ends every prevention on the LUN; the medium stays where it was', async () => {
    const { h } = await removableHarness();
    const b = h.ctl.addInitiator(h.targetPort, 'iqn.b,i,0x1');
    await h.clearUa(R, b);
    expectGood(await h.exec(preventAllow(0x01), { lun: R }));
    expectGood(await h.exec(preventAllow(0x01), { lun: R, initiator: b }));
    expect((await tmf(h, TaskAction.LogicalUnitReset, R)).taskStatus).toBe(TaskStatus.FunctionComplete);
    expectCheck(await h.exec(C.tur(), { lun: R }), 0x06, 0x29, 0x03);
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
    expectCheck(await h.exec(C.tur(), { lun: R, initiator: b }), 0x06, 0x29, 0x03);
    expectNoMedium(await h.exec(C.tur(), { lun: R, initiator: b }));
  });

  it('a LOGICAL UNIT RESET of another LUN leaves the prevention in force', async () => {
    const { h } = await removableHarness();
    expectGood(await h.exec(preventAllow(0x01), { lun: R }));
    await tmf(h, TaskAction.LogicalUnitReset, 0);
    expectRemovalPrevented(await h.exec(C.startStop(EJECT), { lun: R }));
  });

  it('TARGET RESET (warm and cold reset) ends every prevention', async () => {
    const { h } = await removableHarness();
    const b = h.ctl.addInitiator(h.targetPort, 'iqn.b,i,0x1');
    await h.clearUa(R, b);
    expectGood(await h.exec(preventAllow(0x01), { lun: R, initiator: b }));
    expect((await tmf(h, TaskAction.TargetReset, 0)).taskStatus).toBe(TaskStatus.FunctionComplete);
    expectCheck(await h.exec(C.tur(), { lun: R }), 0x06, 0x29, 0x03);
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
  });

  it('I_T nexus loss ends that nexus prevention only', async () => {
    const { h } = await removableHarness();
    const name = 'iqn.b,i,0x1';
    const b = h.ctl.addInitiator(h.targetPort, name);
    await h.clearUa(R, b);
    const c = h.ctl.addInitiator(h.targetPort, 'iqn.c,i,0x1');
    await h.clearUa(R, c);
    expectGood(await h.exec(preventAllow(0x01), { lun: R, initiator: b }));
    expectGood(await h.exec(preventAllow(0x01), { lun: R, initiator: c }));
    h.ctl.removeInitiator(h.targetPort, b);
    expectRemovalPrevented(await h.exec(C.startStop(EJECT), { lun: R })); // c still prevents
    h.ctl.removeInitiator(h.targetPort, c);
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
    // The reconnecting initiator gets its index back, with nothing prevented.
    expect(h.ctl.addInitiator(h.targetPort, name)).toBe(b);
    expectCheck(await h.exec(C.tur(), { lun: R, initiator: b }), 0x06, 0x29, 0x07);
    expectGood(await h.exec(C.startStop(LOAD), { lun: R, initiator: b }));
  });

  it('I_T NEXUS RESET ends the prevention of that nexus', async () => {
    const { h } = await removableHarness();
    const b = h.ctl.addInitiator(h.targetPort, 'iqn.b,i,0x1');
    await h.clearUa(R, b);
    expectGood(await h.exec(preventAllow(0x01), { lun: R, initiator: b }));
    expectGood(await h.exec(preventAllow(0x01), { lun: R }));
    await tmf(h, TaskAction.ItNexusReset, 0, b);
    expectRemovalPrevented(await h.exec(C.startStop(EJECT), { lun: R })); // the default initiator still prevents
    await tmf(h, TaskAction.ItNexusReset, 0);
    expectCheck(await h.exec(C.tur(), { lun: R }), 0x06, 0x29, 0x07);
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
  });

  it('a pending unit attention is reported before MEDIUM NOT PRESENT', async () => {
    const { h } = await removableHarness();
    expectGood(await h.exec(C.startStop(EJECT), { lun: R }));
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.other,i,0x1');
    expectCheck(await h.exec(C.tur(), { lun: R, initiator: other }), 0x06, 0x29, 0x00);
    expectNoMedium(await h.exec(C.tur(), { lun: R, initiator: other }));
  });
});

describe('non-removable LUN (the default) is unchanged', () => {
  it('PREVENT ALLOW MEDIUM REMOVAL is INVALID COMMAND OPERATION CODE even with reserved bits set', async () => {
    const h = new Harness();
    await h.clearUa();
    expectCheck(await h.exec(preventAllow(0x01)), 0x05, 0x20, 0x00, { field: 0 });
    // A removable LUN would call byte 1 an invalid field; a disk does not offer the command at all.
    expectCheck(await h.exec(preventAllow(0x01, 0x01)), 0x05, 0x20, 0x00, { field: 0 });
    expectInvalidField(await h.exec(C.startStop(EJECT)), 4, 1);
    expectGood(await h.exec(C.tur()));
  });
});
