import { describe, expect, it } from 'vitest';
import { Ctl, CtlError, IoStatus, newScsiIo, ScsiOpcode as Op, TagType } from '@iscsi-target/ctl-core';
import { FakePort } from './helpers/fake-port.js';
import { Harness, settle } from './helpers/harness.js';
import { RamLun } from './helpers/ram-lun.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood } from './helpers/expect.js';

describe('LUNs', () => {
  it('commands to a missing LUN other than INQUIRY/REPORT LUNS/REQUEST SENSE: LOGICAL UNIT NOT SUPPORTED', async () => {
    const h = new Harness();
    expectCheck(await h.exec(C.tur(), { lun: 3 }), 0x05, 0x25, 0x00);
    expectCheck(await h.exec(C.rw10(Op.Read10, 0, 1), { lun: 3 }), 0x05, 0x25, 0x00);
    expectCheck(await h.exec(Buffer.from([0xc7, 0, 0, 0, 0, 0]), { lun: 3 }), 0x05, 0x25, 0x00);
    expect(h.lun.submitted.length).toBe(0);
  });

  it('addLun validates ids and backends; luns() lists them', () => {
    const ctl = new Ctl({ maxLunId: 10 });
    expect(ctl.addLun(new RamLun())).toBe(0);
    expect(ctl.addLun(new RamLun())).toBe(1);
    expect(ctl.addLun(new RamLun(), 7)).toBe(7);
    expect(() => ctl.addLun(new RamLun(), 7)).toThrow(expect.objectContaining({ code: 'CTL_ERR_LUN_EXISTS' }));
    expect(() => ctl.addLun(new RamLun(), 11)).toThrow(expect.objectContaining({ code: 'CTL_ERR_INVALID_LUN_ID' }));
    expect(() => ctl.addLun(new RamLun({ naa: Buffer.alloc(3) }))).toThrow(CtlError);
    expect(() => ctl.addLun(new RamLun({ blockSize: 0, numBlocks: 1 }))).toThrow(
      expect.objectContaining({ code: 'CTL_ERR_INVALID_BACKEND' }),
    );
    expect(ctl.luns().map((l) => l.lunId)).toEqual([0, 1, 7]);
    expect(ctl.luns()[0]?.outstanding).toBe(0);
  });

  it('removeLun fails new commands at once, drains outstanding ones, then shuts the backend down', async () => {
    const h = new Harness();
    await h.clearUa();
    h.lun.hold = true;
    const inflight = h.start(C.rw10(Op.Read10, 0, 1));
    await settle();
    let removed = false;
    const p = h.ctl.removeLun(h.lunId).then(() => (removed = true));
    expectCheck(await h.exec(C.tur()), 0x05, 0x25, 0x00);
    const inq = await h.exec(C.inquiry(false, 0, 36));
    expect(inq.data[0]).toBe(0x7f);
    await settle();
    expect(removed).toBe(false);
    expect(h.lun.shutdownCalls).toBe(0);
    h.lun.release();
    await p;
    expect(inflight.status).toBe(IoStatus.Success);
    expect(h.lun.shutdownCalls).toBe(1);
    expect(h.ctl.luns()).toEqual([]);
    await expect(h.ctl.removeLun(h.lunId)).rejects.toMatchObject({ code: 'CTL_ERR_NO_SUCH_LUN' });
  });
});

describe('ports and initiators', () => {
  it('run on an unknown port throws; an I/O cannot be run twice at once', async () => {
    const h = new Harness();
    const io = newScsiIo({
      nexus: { initiatorIndex: 0, targetPort: 9, lun: 0 },
      tagNum: 1,
      tagType: TagType.Simple,
      cdb: C.tur(),
      expectedDataTransferLength: 0,
    });
    expect(() => h.ctl.run(io)).toThrow(expect.objectContaining({ code: 'CTL_ERR_NO_SUCH_PORT' }));
    await h.clearUa();
    const again = h.start(C.tur());
    expect(() => h.ctl.run(again)).toThrow(expect.objectContaining({ code: 'CTL_ERR_IO_BUSY' }));
    await h.port.whenDone(again);
    expect(() => h.ctl.addInitiator(42, 'x')).toThrow(expect.objectContaining({ code: 'CTL_ERR_NO_SUCH_PORT' }));
  });

  it('same name on the same port gets the same index; other names and ports get others', () => {
    const ctl = new Ctl();
    const p0 = ctl.registerPort(new FakePort());
    const p1 = ctl.registerPort(new FakePort());
    expect([p0, p1]).toEqual([0, 1]);
    const a = ctl.addInitiator(p0, 'iqn.a,i,0x1');
    expect(ctl.addInitiator(p0, 'iqn.a,i,0x1')).toBe(a);
    const b = ctl.addInitiator(p0, 'iqn.a,i,0x2');
    const c = ctl.addInitiator(p1, 'iqn.a,i,0x1');
    expect(new Set([a, b, c]).size).toBe(3);
  });

  it('forgets the least recently used idle initiator beyond maxInitiatorsPerPort', async () => {
    const h = new Harness({ ctl: { maxInitiatorsPerPort: 2 } });
    await h.clearUa();
    h.ctl.removeInitiator(h.targetPort, h.initiator);
    const b = h.ctl.addInitiator(h.targetPort, 'iqn.b,i,0x1');
    h.ctl.addInitiator(h.targetPort, 'iqn.c,i,0x1'); // evicts the idle host1
    const back = h.ctl.addInitiator(h.targetPort, 'iqn.1994-05.com.redhat:host1,i,0x023d00000001');
    expect(back).not.toBe(h.initiator);
    expect(back).not.toBe(b);
    // A fresh index: POWER ON again.
    expectCheck(await h.exec(C.tur(), { initiator: back }), 0x06, 0x29, 0x00);
  });

  it('deregisterPort aborts its commands, which still complete to the old port', async () => {
    const h = new Harness();
    await h.clearUa();
    h.lun.hold = true;
    const io = h.start(C.rw10(Op.Read10, 0, 1));
    await settle();
    h.ctl.deregisterPort(h.targetPort);
    h.lun.release();
    await h.port.whenDone(io);
    expect(io.status).toBe(IoStatus.Aborted);
    expect(() => h.start(C.tur())).toThrow(expect.objectContaining({ code: 'CTL_ERR_NO_SUCH_PORT' }));
    h.ctl.deregisterPort(h.targetPort); // idempotent
  });
});

describe('the port contract', () => {
  it('never calls the port synchronously inside run or datamoveDone', async () => {
    const h = new Harness();
    const io = h.start(C.inquiry(false, 0, 36));
    expect(h.port.moves.length).toBe(0);
    expect(h.port.doneCount(io)).toBe(0);
    await h.port.whenDone(io);
    await h.clearUa();
    await h.exec(C.rw10(Op.Write10, 0, 2), { dataOut: Buffer.alloc(1024) });
    await h.exec(C.rw10(Op.Read10, 0, 2));
    await h.exec(C.tur(), { lun: 7 });
    expect(h.port.reentrant).toEqual([]);
    for (const done of h.port.completed) expect(h.port.doneCount(done)).toBe(1);
  });

  it('a failed Data-In transfer becomes HARDWARE ERROR / INTERNAL TARGET FAILURE', async () => {
    const h = new Harness();
    await h.clearUa();
    h.port.auto = false;
    const io = h.start(C.rw10(Op.Read10, 0, 1));
    await settle();
    h.port.finishMove(io, 1);
    await h.port.whenDone(io);
    expect(io.status).toBe(IoStatus.ScsiError);
    expect([io.senseData?.[2], io.senseData?.[12], io.senseData?.[13]]).toEqual([0x04, 0x44, 0x00]);
  });

  it('short Data-Out is INVALID FIELD IN COMMAND INFORMATION UNIT and nothing is written', async () => {
    const h = new Harness();
    await h.clearUa();
    h.port.auto = false;
    const io = h.start(C.rw10(Op.Write10, 0, 2), { dataOut: Buffer.alloc(1024, 0xee) });
    await settle();
    h.port.finishMove(io, 0, 512);
    await h.port.whenDone(io);
    expect([io.senseData?.[2], io.senseData?.[12], io.senseData?.[13]]).toEqual([0x0b, 0x0e, 0x03]);
    expect(h.lun.store[0]).toBe(0);
  });

  it('backend errors use the LUN sense format (fixed, or descriptor with D_SENSE)', async () => {
    const h = new Harness();
    await h.clearUa();
    const lun = h.lun;
    lun.submit = (io, req, ctl) => {
      queueMicrotask(() => {
        ctl.setMediumError(io, req.op === 'read');
        ctl.dataSubmitDone(io);
      });
    };
    expectCheck(await h.exec(C.rw10(Op.Read10, 0, 1)), 0x03, 0x11, 0x00);
    const page = Buffer.from([0, 0, 0, 0, 0x0a, 0x0a, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expectGood(await h.exec(C.modeSelect6(page.length), { dataOut: page }));
    const r = await h.exec(C.rw10(Op.Write10, 0, 1), { edtl: 512 });
    expect([...(r.senseData ?? [])]).toEqual([0x72, 0x03, 0x0c, 0x00, 0, 0, 0, 0]);
  });

  it('a backend that throws in submit fails the command instead of hanging it', async () => {
    const h = new Harness();
    await h.clearUa();
    h.lun.submit = () => {
      throw new Error('boom');
    };
    expectCheck(await h.exec(C.rw10(Op.Read10, 0, 1)), 0x04, 0x44, 0x00);
  });
});

describe('CDB validation', () => {
  it('unknown opcode: INVALID COMMAND OPERATION CODE with the field pointer on byte 0', async () => {
    const h = new Harness();
    await h.clearUa();
    expectCheck(await h.exec(Buffer.from([0xc7, 0, 0, 0, 0, 0])), 0x05, 0x20, 0x00, { field: 0 });
  });

  it('a pending unit attention is reported before an invalid opcode', async () => {
    const h = new Harness();
    expectCheck(await h.exec(Buffer.from([0xc7, 0, 0, 0, 0, 0])), 0x06, 0x29, 0x00);
  });

  it('reserved bits anywhere, and a truncated CDB, are INVALID FIELD IN CDB', async () => {
    const h = new Harness();
    await h.clearUa();
    expectCheck(await h.exec(Buffer.from([0x00, 0, 0x01, 0, 0, 0])), 0x05, 0x24, 0x00, { field: 2, bit: 0 });
    expectCheck(await h.exec(Buffer.from([0x00, 0, 0, 0, 0, 0x01])), 0x05, 0x24, 0x00, { field: 5, bit: 0 });
    const rc = C.readCapacity10();
    rc[8] = 0x81;
    expectCheck(await h.exec(rc), 0x05, 0x24, 0x00, { field: 8, bit: 7 });
    expectCheck(await h.exec(Buffer.from([0x28, 0, 0, 0])), 0x05, 0x24, 0x00, { field: 4 });
    // Vendor-specific CONTROL bits are allowed.
    expectGood(await h.exec(Buffer.from([0x00, 0, 0, 0, 0, 0xc0])));
  });
});
