import { describe, expect, it } from 'vitest';
import { ScsiOpcode as Op, type CtlBackendServices, type ScsiIo } from '@iscsi-target/ctl-core';
import { Harness } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectCheck } from './helpers/expect.js';

function failWith(h: Harness, fn: (ctl: CtlBackendServices, io: ScsiIo) => void): void {
  h.lun.submit = (io, _req, ctl) => {
    queueMicrotask(() => {
      fn(ctl, io);
      ctl.dataSubmitDone(io);
    });
  };
}

describe('backend error helpers', () => {
  it.each([
    ['setMediumError(write)', (c: CtlBackendServices, io: ScsiIo) => c.setMediumError(io, false), [0x03, 0x0c, 0x00]],
    ['setInternalFailure', (c: CtlBackendServices, io: ScsiIo) => c.setInternalFailure(io), [0x04, 0x44, 0x00]],
    ['setWriteProtected', (c: CtlBackendServices, io: ScsiIo) => c.setWriteProtected(io), [0x07, 0x27, 0x00]],
    ['setSpaceAllocationFailed', (c: CtlBackendServices, io: ScsiIo) => c.setSpaceAllocationFailed(io), [0x07, 0x27, 0x07]],
    ['setSense', (c: CtlBackendServices, io: ScsiIo) => c.setSense(io, 0x02, 0x04, 0x00), [0x02, 0x04, 0x00]],
  ] as const)('%s', async (_name, fn, [key, asc, ascq]) => {
    const h = new Harness();
    await h.clearUa();
    failWith(h, fn);
    expectCheck(await h.exec(C.rw10(Op.Write10, 0, 1), { edtl: 512 }), key, asc, ascq);
  });

  it('a backend completing without a status completes GOOD', async () => {
    const h = new Harness();
    await h.clearUa();
    h.lun.submit = (io, _req, ctl) => queueMicrotask(() => ctl.dataSubmitDone(io));
    const r = await h.exec(C.syncCache10(0, 0));
    expect(r.status).toBe(1);
  });

  it('a second dataSubmitDone is ignored (done exactly once)', async () => {
    const h = new Harness();
    await h.clearUa();
    h.lun.submit = (io, _req, ctl) =>
      queueMicrotask(() => {
        ctl.setSuccess(io);
        ctl.dataSubmitDone(io);
        ctl.dataSubmitDone(io);
      });
    const r = await h.exec(C.syncCache10(0, 0));
    await new Promise((resolve) => setImmediate(resolve));
    expect(h.port.doneCount(r.io)).toBe(1);
  });
});

describe('MODE SENSE block descriptor beyond 32 bits', () => {
  it('short descriptor saturates at FFFFFFFFh', async () => {
    const h = new Harness();
    h.lun.numBlocks = 0x2_0000_0000;
    await h.clearUa();
    const r = await h.exec(C.modeSense6(0x08));
    expect(r.data.readUInt32BE(4)).toBe(0xffffffff);
  });
});
