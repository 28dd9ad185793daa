import { describe, expect, it } from 'vitest';
import { encodeLbaStatus, ProvisioningStatus } from '@iscsi-target/ctl-core';
import { Harness } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood, expectInvalidField } from './helpers/expect.js';
import { thinLun } from './helpers/thin-lun.js';

function descriptor(lba: number, blocks: number, status: number): number[] {
  const d = Buffer.alloc(16);
  d.writeBigUInt64BE(BigInt(lba), 0);
  d.writeUInt32BE(blocks, 8);
  d[12] = status;
  return [...d];
}

describe('GET LBA STATUS (SBC-3 §5.16)', () => {
  it('encodeLbaStatus: PARAMETER DATA LENGTH then 16-byte descriptors', () => {
    const data = encodeLbaStatus([
      { lba: 0x1_0000_0002, blocks: 7, status: ProvisioningStatus.Deallocated },
      { lba: 0x1_0000_0009, blocks: 1, status: ProvisioningStatus.Mapped },
    ]);
    expect([...data]).toEqual([
      0, 0, 0, 36, 0, 0, 0, 0,
      ...descriptor(0x1_0000_0002, 7, 1),
      ...descriptor(0x1_0000_0009, 1, 0),
    ]);
  });

  it('a fully provisioned LUN reports one mapped extent through the last LBA', async () => {
    const h = new Harness({ lun: { numBlocks: 2048 } });
    await h.clearUa();
    const r = await h.exec(C.getLbaStatus(100, 64));
    expectGood(r);
    expect([...r.data]).toEqual([0, 0, 0, 20, 0, 0, 0, 0, ...descriptor(100, 1948, 0)]);
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('a thin LUN asks the backend and reports deallocated extents after UNMAP', async () => {
    const h = new Harness({ lun: thinLun() });
    await h.clearUa();
    const list = C.unmapList([{ lba: 10, blocks: 10 }]);
    expectGood(await h.exec(C.unmap(list.length), { dataOut: list }));
    const r = await h.exec(C.getLbaStatus(0, 8 + 3 * 16));
    expectGood(r);
    expect(h.lun.submitted.at(-1)?.request).toEqual({ op: 'getLbaStatus', lba: 0, blocks: 2048, allocationLength: 56 });
    expect([...r.data]).toEqual([
      0, 0, 0, 52, 0, 0, 0, 0,
      ...descriptor(0, 10, 0),
      ...descriptor(10, 10, 1),
      ...descriptor(20, 2028, 0),
    ]);
    // From inside the hole; allocation length for one descriptor.
    const one = await h.exec(C.getLbaStatus(15, 24));
    expect([...one.data]).toEqual([0, 0, 0, 20, 0, 0, 0, 0, ...descriptor(15, 5, 1)]);
    // A shorter allocation length truncates.
    expect((await h.exec(C.getLbaStatus(15, 12))).data.length).toBe(12);
  });

  it('a STARTING LBA beyond the last LBA is LBA OUT OF RANGE', async () => {
    const h = new Harness({ lun: thinLun() });
    await h.clearUa();
    for (const lba of [2048, 2049, 0x8000000000000000n, 0xffffffffffffffffn]) {
      expectCheck(await h.exec(C.getLbaStatus(lba, 24)), 0x05, 0x21, 0x00);
    }
    expectGood(await h.exec(C.getLbaStatus(2047, 24)));
  });

  it('the reserved byte 14 is INVALID FIELD IN CDB', async () => {
    const h = new Harness({ lun: thinLun() });
    await h.clearUa();
    const cdb = C.getLbaStatus(0, 24);
    cdb[14] = 0x01;
    expectInvalidField(await h.exec(cdb), 14, 0);
  });
});

describe('provisioning in READ CAPACITY(16) and VPD pages', () => {
  it('a thin, unmapping LUN: LBPME | LBPRZ, VPD 0xB2 LBPU LBPWS LBPWS10 LBPRZ, thin', async () => {
    const h = new Harness({ lun: thinLun() });
    await h.clearUa();
    expect((await h.exec(C.readCapacity16(32))).data[14]).toBe(0xc0);
    expect([...(await h.exec(C.inquiry(true, 0xb2, 255))).data]).toEqual([0, 0xb2, 0, 4, 0, 0xe4, 0x02, 0]);
    const bl = (await h.exec(C.inquiry(true, 0xb0, 255))).data;
    expect(bl.length).toBe(64);
    expect(bl[4]).toBe(0); // WSNZ = 0
    expect(bl.readUInt32BE(20)).toBe(1024); // MAXIMUM UNMAP LBA COUNT
    expect(bl.readUInt32BE(24)).toBe(4); // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
    expect(bl.readUInt32BE(28)).toBe(8); // OPTIMAL UNMAP GRANULARITY
    expect(bl.readUInt32BE(32)).toBe(0x80000000); // UGAVALID, alignment 0
    expect(bl.readBigUInt64BE(36)).toBe(512n); // MAXIMUM WRITE SAME LENGTH
  });

  it('thin without LBPRZ, and a thin LUN whose backend does not unmap', async () => {
    const noRz = new Harness({ lun: thinLun({ provisioning: { ...thinLun().provisioning!, lbprz: false } }) });
    await noRz.clearUa();
    expect((await noRz.exec(C.readCapacity16(32))).data[14]).toBe(0x80);
    expect([...(await noRz.exec(C.inquiry(true, 0xb2, 255))).data]).toEqual([0, 0xb2, 0, 4, 0, 0xe0, 0x02, 0]);
    const noUnmap = new Harness({ lun: thinLun({ provisioning: { ...thinLun().provisioning!, unmap: false } }) });
    await noUnmap.clearUa();
    expect([...(await noUnmap.exec(C.inquiry(true, 0xb2, 255))).data]).toEqual([0, 0xb2, 0, 4, 0, 0x04, 0x02, 0]);
    const bl = (await noUnmap.exec(C.inquiry(true, 0xb0, 255))).data;
    expect(bl.subarray(20, 36)).toEqual(Buffer.alloc(16)); // no UNMAP limits when LBPU = 0
    expect(bl.readBigUInt64BE(36)).toBe(512n);
  });

  it('a fully provisioned LUN with provisioning support reports no LBPME / LBPRZ / LBPU', async () => {
    const h = new Harness({ lun: thinLun({ thinProvisioned: false }) });
    await h.clearUa();
    expect((await h.exec(C.readCapacity16(32))).data[14]).toBe(0x00);
    expect([...(await h.exec(C.inquiry(true, 0xb2, 255))).data]).toEqual([0, 0xb2, 0, 4, 0, 0, 0x00, 0]);
  });
});
