import { describe, expect, it } from 'vitest';
import { Harness } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectGood, expectInvalidField } from './helpers/expect.js';

describe('standard INQUIRY (SPC-4 §6.4.2)', () => {
  it('returns SPC-4 data with HiSup, CmdQue and padded identity', async () => {
    const h = new Harness({ lun: { vendor: 'ACME', product: 'Disk', revision: '7' } });
    const r = await h.exec(C.inquiry(false, 0, 255));
    expectGood(r);
    const d = r.data;
    expect(d.length).toBe(96);
    expect(d[0]).toBe(0x00); // qualifier 000b, direct access block device
    expect(d[1]).toBe(0x00);
    expect(d[2]).toBe(0x06); // SPC-4
    expect(d[3]).toBe(0x12); // HISUP | response data format 2
    expect(d[4]).toBe(91);
    expect(d[7]).toBe(0x02); // CMDQUE
    expect(d.toString('latin1', 8, 16)).toBe('ACME    ');
    expect(d.toString('latin1', 16, 32)).toBe('Disk            ');
    expect(d.toString('latin1', 32, 36)).toBe('7   ');
    expect(d.readUInt16BE(58)).toBe(0x00a0);
    expect(d.readUInt16BE(60)).toBe(0x0460);
    expect(d.readUInt16BE(62)).toBe(0x04c0);
    expect(d.readUInt16BE(64)).toBe(0x0960);
    expect(r.io.kernTotalLen).toBe(96);
  });

  it('truncates to the allocation length and counts what was sent', async () => {
    const h = new Harness();
    const r = await h.exec(C.inquiry(false, 0, 36));
    expectGood(r);
    expect(r.data.length).toBe(36);
    expect(r.io.kernTotalLen).toBe(36);
    expect(h.port.moves.length).toBe(1);
    expect(r.io.kernSgList.length).toBe(1);
  });

  it('sends nothing for allocation length 0', async () => {
    const h = new Harness();
    const r = await h.exec(C.inquiry(false, 0, 0));
    expectGood(r);
    expect(h.port.moves.length).toBe(0);
  });

  it('rejects a page code with EVPD=0', async () => {
    const h = new Harness();
    expectInvalidField(await h.exec(C.inquiry(false, 0x80, 255)), 2);
  });

  it('rejects the obsolete CMDDT bit', async () => {
    const h = new Harness();
    const cdb = C.inquiry(false, 0, 255);
    cdb[1] = 0x02;
    expectInvalidField(await h.exec(cdb), 1, 1);
  });

  it('answers for an unmapped LUN with qualifier 011b / type 1Fh', async () => {
    const h = new Harness({ ctl: { inquiryVendor: 'NOLUN' } });
    const r = await h.exec(C.inquiry(false, 0, 96), { lun: 5 });
    expectGood(r);
    expect(r.data[0]).toBe(0x7f);
    expect(r.data.toString('latin1', 8, 16)).toBe('NOLUN   ');
    const v = await h.exec(C.inquiry(true, 0x00, 255), { lun: 5 });
    expectGood(v);
    expect([...v.data]).toEqual([0x7f, 0x00, 0x00, 0x01, 0x00]);
    expectInvalidField(await h.exec(C.inquiry(true, 0x83, 255), { lun: 5 }), 2);
  });
});

describe('VPD pages', () => {
  it('0x00 lists the supported pages', async () => {
    const h = new Harness();
    const r = await h.exec(C.inquiry(true, 0x00, 255));
    expectGood(r);
    expect([...r.data]).toEqual([0x00, 0x00, 0x00, 0x07, 0x00, 0x80, 0x83, 0x8f, 0xb0, 0xb1, 0xb2]);
  });

  it('0x80 returns the unit serial number', async () => {
    const h = new Harness({ lun: { serialNumber: 'ABC-42' } });
    const r = await h.exec(C.inquiry(true, 0x80, 255));
    expect([...r.data.subarray(0, 4)]).toEqual([0x00, 0x80, 0x00, 0x06]);
    expect(r.data.toString('latin1', 4)).toBe('ABC-42');
  });

  it('0x83 carries NAA, T10 vendor id, relative port, target port group and SCSI name designators', async () => {
    const naa = Buffer.from([0x60, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10]);
    const h = new Harness({ lun: { naa, vendor: 'ACME', deviceId: 'dev1' } });
    const r = await h.exec(C.inquiry(true, 0x83, 1024));
    expectGood(r);
    const d = r.data;
    expect(d[1]).toBe(0x83);
    expect(d.readUInt16BE(2)).toBe(d.length - 4);
    let off = 4;
    const desc: Buffer[] = [];
    while (off < d.length) {
      const len = d[off + 3] ?? 0;
      desc.push(d.subarray(off, off + 4 + len));
      off += 4 + len;
    }
    expect(off).toBe(d.length);
    expect(desc.length).toBe(6);
    const [n, t10, rel, tpg, portName, target] = desc as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer];
    // Target port group (SPC-4 §7.8.6.8): group 1 by default.
    expect([...tpg]).toEqual([0x51, 0x95, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01]);
    expect([...n.subarray(0, 4)]).toEqual([0x01, 0x03, 0x00, 0x08]);
    expect(n.subarray(4)).toEqual(naa);
    expect([...t10.subarray(0, 4)]).toEqual([0x02, 0x01, 0x00, 12]);
    expect(t10.toString('latin1', 4)).toBe('ACME    dev1');
    expect([...rel]).toEqual([0x51, 0x94, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01]);
    // Target port name: "iqn...:disk0,t,0x0001" (35 chars) + NUL, padded to 36.
    const pn = 'iqn.2026-01.org.example:disk0,t,0x0001';
    expect([...portName.subarray(0, 3)]).toEqual([0x53, 0x98, 0x00]);
    expect(portName[3] ?? 0).toBe((pn.length + 4) & ~3);
    expect(portName.toString('utf8', 4, 4 + pn.length)).toBe(pn);
    expect(portName[4 + pn.length]).toBe(0);
    // Target device name (association 10b), UTF-8, multiple of 4 with a NUL.
    const tn = 'iqn.2026-01.org.example:disk0';
    expect([...target.subarray(0, 3)]).toEqual([0x53, 0xa8, 0x00]);
    expect(target[3]).toBe(32);
    expect(target.toString('utf8', 4, 4 + tn.length)).toBe(tn);
    expect([...target.subarray(4 + tn.length)]).toEqual([0, 0, 0]);
  });

  it('0xB0 reports transfer limits and no UNMAP', async () => {
    const h = new Harness({ lun: { maxTransferBlocks: 2048, optimalTransferBlocks: 256, physicalBlockExponent: 3 } });
    const d = (await h.exec(C.inquiry(true, 0xb0, 255))).data;
    expect(d.length).toBe(64);
    expect(d.readUInt16BE(2)).toBe(0x3c);
    expect(d.readUInt16BE(6)).toBe(8);
    expect(d.readUInt32BE(8)).toBe(2048);
    expect(d.readUInt32BE(12)).toBe(256);
    expect(d.subarray(20, 44)).toEqual(Buffer.alloc(24));
  });

  it('0xB1 reports the rotation rate', async () => {
    const h = new Harness({ lun: { rotationRate: 1 } });
    const d = (await h.exec(C.inquiry(true, 0xb1, 255))).data;
    expect(d.length).toBe(64);
    expect(d.readUInt16BE(4)).toBe(1);
    expect(d[7]).toBe(0);
  });

  it('0xB2 reflects thin provisioning without UNMAP', async () => {
    const thin = new Harness({ lun: { thinProvisioned: true } });
    expect([...(await thin.exec(C.inquiry(true, 0xb2, 255))).data]).toEqual([0, 0xb2, 0, 4, 0, 0, 0x02, 0]);
    const full = new Harness();
    expect([...(await full.exec(C.inquiry(true, 0xb2, 255))).data]).toEqual([0, 0xb2, 0, 4, 0, 0, 0x00, 0]);
  });

  it('rejects an unsupported page with field pointer 2', async () => {
    const h = new Harness();
    expectInvalidField(await h.exec(C.inquiry(true, 0x86, 255)), 2);
  });
});
