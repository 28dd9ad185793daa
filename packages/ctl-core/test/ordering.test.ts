import { describe, expect, it } from 'vitest';
import { IoStatus, ScsiOpcode as Op, TagType } from '@iscsi-target/ctl-core';
import { Harness, result, settle } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood } from './helpers/expect.js';

async function held(): Promise<Harness> {
  const h = new Harness();
  await h.clearUa();
  h.lun.hold = true;
  return h;
}

const ops = (h: Harness): string[] => h.lun.submitted.map((s) => `${s.request.op}@${s.request.lba}`);

describe('ordering on a LUN (OOA list, FreeBSD §6.5)', () => {
  it('a READ overlapping an outstanding WRITE waits for it and sees its data', async () => {
    const h = await held();
    const w = h.start(C.rw10(Op.Write10, 4, 4), { dataOut: Buffer.alloc(2048, 0x5a) });
    const r = h.start(C.rw10(Op.Read10, 6, 4));
    await settle();
    expect(ops(h)).toEqual(['write@4']);
    h.lun.release();
    await h.port.whenDone(w);
    await settle();
    expect(ops(h)).toEqual(['write@4', 'read@6']);
    h.lun.release();
    await h.port.whenDone(r);
    const data = result(r, h.port).data;
    expect(data.subarray(0, 1024)).toEqual(Buffer.alloc(1024, 0x5a));
    expect(data.subarray(1024)).toEqual(Buffer.alloc(1024, 0));
  });

  it('non-overlapping commands and READ/READ pairs run concurrently', async () => {
    const h = await held();
    h.start(C.rw10(Op.Write10, 0, 4), { dataOut: Buffer.alloc(2048) });
    h.start(C.rw10(Op.Read10, 4, 4));
    h.start(C.rw10(Op.Write10, 100, 1), { dataOut: Buffer.alloc(512) });
    h.start(C.rw10(Op.Read10, 200, 1));
    h.start(C.rw10(Op.Read10, 200, 1));
    await settle();
    expect(ops(h)).toEqual(['write@0', 'read@4', 'write@100', 'read@200', 'read@200']);
    h.lun.release();
  });

  it('a WRITE overlapping an outstanding READ waits for it', async () => {
    const h = await held();
    const r = h.start(C.rw10(Op.Read10, 0, 4));
    h.start(C.rw10(Op.Read10, 40, 4));
    const w = h.start(C.rw10(Op.Write10, 2, 1), { dataOut: Buffer.alloc(512, 7) });
    await settle();
    expect(ops(h)).toEqual(['read@0', 'read@40']);
    h.lun.release(1);
    await h.port.whenDone(r);
    expect(result(r, h.port).data).toEqual(Buffer.alloc(2048));
    await settle();
    expect(ops(h)).toEqual(['read@0', 'read@40', 'write@2']);
    h.lun.release();
    await h.port.whenDone(w);
  });

  it('the tag of an aborted command may be reused at once', async () => {
    const h = await held();
    const first = h.start(C.rw10(Op.Read10, 0, 1), { tag: 77 });
    await settle();
    h.ctl.removeInitiator(h.targetPort, h.initiator);
    h.ctl.addInitiator(h.targetPort, 'iqn.1994-05.com.redhat:host1,i,0x023d00000001');
    const again = await h.exec(C.inquiry(false, 0, 36), { tag: 77 });
    expectGood(again);
    h.lun.release();
    await h.port.whenDone(first);
    expect(first.status).toBe(IoStatus.Aborted);
  });

  it('overlapping WRITEs complete in arrival order', async () => {
    const h = await held();
    const w1 = h.start(C.rw10(Op.Write10, 0, 1), { dataOut: Buffer.alloc(512, 1) });
    const w2 = h.start(C.rw16(Op.Write16, 0, 2), { dataOut: Buffer.alloc(1024, 2) });
    const w3 = h.start(C.rw12(Op.Write12, 1, 1), { dataOut: Buffer.alloc(512, 3) });
    await settle();
    expect(ops(h)).toEqual(['write@0']);
    h.lun.release();
    await h.port.whenDone(w1);
    await settle();
    expect(ops(h)).toEqual(['write@0', 'write@0']);
    h.lun.release();
    await h.port.whenDone(w2);
    await settle();
    h.lun.release();
    await h.port.whenDone(w3);
    expect(h.lun.store[0]).toBe(2);
    expect(h.lun.store[512]).toBe(3);
  });

  it('ORDERED waits for every older command; SIMPLE waits for an older ORDERED', async () => {
    const h = await held();
    const a = h.start(C.rw10(Op.Read10, 0, 1));
    const o = h.start(C.rw10(Op.Read10, 50, 1), { tagType: TagType.Ordered });
    const s = h.start(C.rw10(Op.Read10, 90, 1));
    await settle();
    expect(ops(h)).toEqual(['read@0']);
    h.lun.release();
    await h.port.whenDone(a);
    await settle();
    expect(ops(h)).toEqual(['read@0', 'read@50']);
    h.lun.release();
    await h.port.whenDone(o);
    await settle();
    expect(ops(h)).toEqual(['read@0', 'read@50', 'read@90']);
    h.lun.release();
    await h.port.whenDone(s);
  });

  it('HEAD OF QUEUE runs at once, even overlapping', async () => {
    const h = await held();
    h.start(C.rw10(Op.Write10, 0, 1), { dataOut: Buffer.alloc(512) });
    h.start(C.rw10(Op.Read10, 0, 1), { tagType: TagType.Ordered });
    h.start(C.rw10(Op.Read10, 0, 1), { tagType: TagType.HeadOfQueue });
    await settle();
    expect(ops(h)).toEqual(['write@0', 'read@0']);
    expect(h.lun.submitted[1]?.io.tagType).toBe(TagType.HeadOfQueue);
    h.lun.release();
  });

  it('SYNCHRONIZE CACHE waits for older WRITEs, not for READs', async () => {
    const h = await held();
    h.start(C.rw10(Op.Read10, 10, 1));
    const w = h.start(C.rw10(Op.Write10, 500, 1), { dataOut: Buffer.alloc(512) });
    const f = h.start(C.syncCache10(0, 0));
    await settle();
    expect(ops(h)).toEqual(['read@10', 'write@500']);
    h.lun.release();
    await h.port.whenDone(w);
    await settle();
    expect(ops(h)).toEqual(['read@10', 'write@500', 'flush@0']);
    h.lun.release();
    await h.port.whenDone(f);
  });

  it('MODE SELECT is a barrier for later commands', async () => {
    const h = await held();
    h.port.auto = false;
    const page = Buffer.from([0, 0, 0, 0, 0x0a, 0x0a, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const ms = h.start(C.modeSelect6(page.length), { dataOut: page });
    const r = h.start(C.rw10(Op.Read10, 0, 1));
    await settle();
    expect(h.lun.submitted.length).toBe(0);
    h.port.finishMove(ms);
    await h.port.whenDone(ms);
    expectGood(result(ms, h.port));
    await settle();
    expect(ops(h)).toEqual(['read@0']);
    h.lun.release();
    await settle();
    h.port.finishMove(r);
    await h.port.whenDone(r);
    expect(r.status).toBe(IoStatus.Success);
  });

  it('two untagged commands on one nexus: OVERLAPPED COMMANDS ATTEMPTED', async () => {
    const h = await held();
    h.start(C.rw10(Op.Read10, 0, 1), { tagType: TagType.Untagged });
    const second = await h.exec(C.rw10(Op.Read10, 9, 1), { tagType: TagType.Untagged });
    expectCheck(second, 0x0b, 0x4e, 0x00);
    h.lun.release();
  });

  it('a reused tag on one nexus: TAGGED OVERLAPPED COMMANDS with the tag in ASCQ', async () => {
    const h = await held();
    h.start(C.rw10(Op.Read10, 0, 1), { tag: 0x1234 });
    expectCheck(await h.exec(C.rw10(Op.Read10, 9, 1), { tag: 0x1234 }), 0x0b, 0x4d, 0x34);
    // Another initiator may use the same tag.
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.b,i,0x2');
    await h.clearUa(0, other);
    h.lun.hold = false;
    expectGood(await h.exec(C.rw10(Op.Read10, 9, 1), { tag: 0x1234, initiator: other }));
    h.lun.release();
  });

  it('the ACA task attribute is refused (no ACA support)', async () => {
    const h = await held();
    expectCheck(await h.exec(C.tur(), { tagType: TagType.Aca }), 0x05, 0x49, 0x00);
  });
});
