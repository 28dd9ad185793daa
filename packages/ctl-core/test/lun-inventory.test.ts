// REPORTED LUNS DATA HAS CHANGED scoped to the ports whose inventory changed
// (`addLun`/`removeLun` with `inventoryUa: false`, then
// `lunInventoryChanged(port)`), next to the global default.
import { describe, expect, it } from 'vitest';
import { newScsiIo, TagType } from '@iscsi-target/ctl-core';
import { FakePort } from './helpers/fake-port.js';
import { Harness, result, type ExecResult } from './helpers/harness.js';
import { RamLun } from './helpers/ram-lun.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood } from './helpers/expect.js';

/** A second port (its own LUN map and initiator) on the harness's Ctl. */
function secondPort(h: Harness, lunMap: Map<number, number>): { exec: (cdb: Buffer, lun?: number) => Promise<ExecResult>; targetPort: number } {
  const port = new FakePort({ name: 'iqn.b,t,0x0002', targetName: 'iqn.b', lunMap });
  port.ctl = h.ctl;
  const targetPort = h.ctl.registerPort(port);
  const initiator = h.ctl.addInitiator(targetPort, 'iqn.other,i,0x1');
  let tag = 1000;
  return {
    targetPort,
    exec: async (cdb, lun = 0) => {
      const io = newScsiIo({ nexus: { initiatorIndex: initiator, targetPort, lun }, tagNum: tag++, tagType: TagType.Simple, cdb, expectedDataTransferLength: 0 });
      port.call(() => h.ctl.run(io));
      await port.whenDone(io);
      return result(io, port);
    },
  };
}

async function clear(exec: (cdb: Buffer) => Promise<ExecResult>): Promise<void> {
  for (let i = 0; i < 8; i++) if ((await exec(C.tur())).sense?.senseKey !== 6) return;
}

describe('LUN inventory unit attention per port', () => {
  it('addLun without inventoryUa reports nothing; lunInventoryChanged reports to that port only', async () => {
    const map = new Map([[0, 0]]);
    const h = new Harness({ lunMap: new Map([[0, 0]]) });
    const b = secondPort(h, map);
    await h.clearUa();
    await clear((cdb) => b.exec(cdb));

    const id = h.ctl.addLun(new RamLun({}), undefined, { inventoryUa: false });
    expectGood(await h.exec(C.tur()));
    expectGood(await b.exec(C.tur()));

    map.set(1, id);
    h.ctl.lunInventoryChanged(b.targetPort);
    // SPC-4 §6.33: 06h/3Fh/0Eh for the I_T nexus whose inventory changed.
    expectCheck(await b.exec(C.tur()), 0x06, 0x3f, 0x0e);
    expectGood(await b.exec(C.tur()));
    // The new LUN itself starts with POWER ON for the initiator.
    expectCheck(await b.exec(C.tur(), 1), 0x06, 0x29, 0x00);
    // The other port saw nothing.
    expectGood(await h.exec(C.tur()));

    map.delete(1);
    await h.ctl.removeLun(id, { inventoryUa: false });
    expectGood(await h.exec(C.tur()));
    expectGood(await b.exec(C.tur()));
    expect(() => h.ctl.lunInventoryChanged(999)).toThrow(expect.objectContaining({ code: 'CTL_ERR_NO_SUCH_PORT' }));
  });

  it('by default addLun and removeLun still report to every initiator', async () => {
    const h = new Harness({ lunMap: new Map([[0, 0]]) });
    const b = secondPort(h, new Map([[0, 0]]));
    await h.clearUa();
    await clear((cdb) => b.exec(cdb));
    const id = h.ctl.addLun(new RamLun({}));
    expectCheck(await h.exec(C.tur()), 0x06, 0x3f, 0x0e);
    expectCheck(await b.exec(C.tur()), 0x06, 0x3f, 0x0e);
    await h.ctl.removeLun(id);
    expectCheck(await h.exec(C.tur()), 0x06, 0x3f, 0x0e);
    expectCheck(await b.exec(C.tur()), 0x06, 0x3f, 0x0e);
  });
});
