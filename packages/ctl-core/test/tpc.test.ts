import { describe, expect, it } from 'vitest';
import {
  newCtlCopyCounters,
  DataDirection,
  DataOutMode,
  IoStatus,
  newTaskIo,
  ScsiStatus,
  TagType,
  type BlockRequest,
  type CtlBackendServices,
  type ScsiIo,
  TaskAction,
  type TaskIo,
} from '@iscsi-target/ctl-core';
import { Harness, settle } from './helpers/harness.js';
import { RamLun } from './helpers/ram-lun.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood, expectInvalidField } from './helpers/expect.js';

const NAA0 = Buffer.from([0x60, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]);
const NAA1 = Buffer.from([0x60, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10]);

function xcopyCdb(len: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = 0x83;
  c.writeUInt32BE(len, 10);
  return c;
}

function rcrCdb(sa: number, listId: number, alloc: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = 0x84;
  c[1] = sa;
  c[2] = listId;
  c.writeUInt32BE(alloc, 10);
  return c;
}

interface CscdOpts {
  type?: number;
  b1?: number;
  codeSet?: number;
  desType?: number;
  assoc?: number;
  blockLength?: number;
  designatorLength?: number;
}

/** Identification CSCD descriptor naming a LU by its NAA designator (SPC-4 §6.4.6.2). */
function cscd(naa: Buffer, o: CscdOpts = {}): Buffer {
  const d = Buffer.alloc(32);
  d[0] = o.type ?? 0xe4;
  d[1] = o.b1 ?? 0;
  d[4] = o.codeSet ?? 0x01;
  d[5] = ((o.assoc ?? 0) << 4) | (o.desType ?? 0x03);
  d[7] = o.designatorLength ?? naa.length;
  naa.copy(d, 8);
  d.writeUIntBE(o.blockLength ?? 512, 29, 3);
  return d;
}

/** Block to block segment descriptor (SPC-4 §6.4.7.5). */
function b2b(src: number, dst: number, blocks: number, srcLba: number, dstLba: number, flags = 0): Buffer {
  const d = Buffer.alloc(28);
  d[0] = 0x02;
  d[1] = flags;
  d.writeUInt16BE(0x18, 2);
  d.writeUInt16BE(src, 4);
  d.writeUInt16BE(dst, 6);
  d.writeUInt16BE(blocks, 10);
  d.writeBigUInt64BE(BigInt(srcLba), 12);
  d.writeBigUInt64BE(BigInt(dstLba), 20);
  return d;
}

/** Parameter list: header + CSCDs + segments (SPC-4 §6.4.3). */
function plist(listId: number, usage: number, cscds: Buffer[], segs: Buffer[], b1extra = 0): Buffer {
  const c = Buffer.concat(cscds);
  const s = Buffer.concat(segs);
  const h = Buffer.alloc(16);
  h[0] = listId;
  h[1] = (usage << 3) | b1extra;
  h.writeUInt16BE(c.length, 2);
  h.writeUInt32BE(s.length, 8);
  return Buffer.concat([h, c, s]);
}

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
}

async function twoLuns(opts: { dst?: ConstructorParameters<typeof RamLun>[0] } = {}): Promise<{ h: Harness; dst: RamLun }> {
  const h = new Harness({ lun: { numBlocks: 4096 } });
  const dst = new RamLun({ naa: NAA1, numBlocks: 4096, deviceId: 'ramdisk-1', ...opts.dst });
  h.ctl.addLun(dst, 1);
  await h.clearUa(0);
  await h.clearUa(1);
  return { h, dst };
}

function xcopy(h: Harness, list: Buffer, lun = 0, tag?: number): ReturnType<Harness['exec']> {
  const o: { dataOut: Buffer; lun: number; tag?: number } = { dataOut: list, lun };
  if (tag !== undefined) o.tag = tag;
  return h.exec(xcopyCdb(list.length), o);
}

describe('EXTENDED COPY (LID1): copies', () => {
  it('copies between two LUNs through internal READ/WRITE, data verified', async () => {
    const { h, dst } = await twoLuns();
    const data = pattern(300 * 512, 5);
    data.copy(h.lun.store, 100 * 512);
    const r = await xcopy(h, plist(1, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 300, 100, 2000)]));
    expectGood(r);
    expect(dst.store.subarray(2000 * 512, 2300 * 512)).toEqual(data);
    // The copy ran as internal READ/WRITE commands through the core.
    expect(h.lun.submitted.map((s) => s.request)).toEqual([{ op: 'read', lba: 100, blocks: 300 }]);
    expect(dst.submitted.map((s) => s.request)).toEqual([{ op: 'write', lba: 2000, blocks: 300, fua: false }]);
  });

  it('copies within one LUN, large segments in pieces of at most maxIoBytes', async () => {
    const h = new Harness({ lun: { numBlocks: 4096 }, ctl: { tpc: { maxIoBytes: 64 * 1024 } } });
    await h.clearUa();
    const data = pattern(1000 * 512, 9);
    data.copy(h.lun.store, 0);
    expectGood(await xcopy(h, plist(0, 3, [cscd(NAA0)], [b2b(0, 0, 1000, 0, 3000)])));
    expect(h.lun.store.subarray(3000 * 512, 4000 * 512)).toEqual(data);
    const reads = h.lun.submitted.filter((s) => s.request.op === 'read').map((s) => s.request.blocks);
    expect(reads).toEqual([128, 128, 128, 128, 128, 128, 128, 104]);
  });

  it('copies an overlapping range upwards back to front (every block read before overwritten)', async () => {
    const h = new Harness({ ctl: { tpc: { maxIoBytes: 512 * 4 } } });
    await h.clearUa();
    const data = pattern(10 * 512, 1);
    data.copy(h.lun.store, 0);
    expectGood(await xcopy(h, plist(0, 3, [cscd(NAA0)], [b2b(0, 0, 10, 0, 3)])));
    expect(h.lun.store.subarray(3 * 512, 13 * 512)).toEqual(data);
  });

  it('CSCD ID FFFFh names the LUN that received the command; several segments run in order', async () => {
    const { h, dst } = await twoLuns({ dst: { dataOutMode: DataOutMode.Copy } });
    const a = pattern(4 * 512, 2);
    a.copy(h.lun.store, 0);
    const r = await xcopy(h, plist(0, 3, [cscd(NAA1)], [b2b(0xffff, 0, 4, 0, 10), b2b(0, 0xffff, 4, 10, 50)]));
    expectGood(r);
    expect(dst.store.subarray(10 * 512, 14 * 512)).toEqual(a);
    expect(h.lun.store.subarray(50 * 512, 54 * 512)).toEqual(a);
  });

  it('a PARAMETER LIST LENGTH of zero is GOOD and moves nothing', async () => {
    const h = new Harness();
    await h.clearUa();
    expectGood(await h.exec(xcopyCdb(0)));
    expect(h.lun.submitted).toEqual([]);
  });

  it('a zero-block segment is GOOD and moves nothing', async () => {
    const h = new Harness();
    await h.clearUa();
    expectGood(await xcopy(h, plist(0, 3, [cscd(NAA0)], [b2b(0, 0, 0, 0, 10)])));
    expect(h.lun.submitted).toEqual([]);
  });
});

/** A RAM LUN whose reads lend their buffers with a reference count (like ctl-block's pools). */
class LendingLun extends RamLun {
  refs = 0;
  maxRefs = 0;
  override submit(io: ScsiIo, request: BlockRequest, ctl: CtlBackendServices): void {
    if (request.op !== 'read') return super.submit(io, request, ctl);
    this.submitted.push({ io, request });
    queueMicrotask(() => {
      const off = request.lba * this.blockSize;
      const len = request.blocks * this.blockSize;
      io.dataDirection = DataDirection.In;
      io.kernSgList = [this.store.subarray(off, off + len / 2), this.store.subarray(off + len / 2, off + len)];
      io.kernDataLen = len;
      io.kernRelOffset = 0;
      io.kernDataRef = (_arg, diff) => {
        this.refs += diff;
        this.maxRefs = Math.max(this.maxRefs, this.refs);
      };
      io.kernDataArg = null;
      io.beMoveDone = (done) => ctl.dataSubmitDone(done);
      ctl.setSuccess(io);
      ctl.datamove(io);
    });
  }
}

describe('EXTENDED COPY (LID1): buffers', () => {
  it('borrows the source backend buffers and hands them to a Views-mode WRITE: no copy', async () => {
    const counters = newCtlCopyCounters();
    const h2 = new Harness({ ctl: { counters } });
    const lend = new LendingLun({ numBlocks: 256, naa: NAA1, deviceId: 'lend' });
    h2.ctl.addLun(lend, 1);
    await h2.clearUa(0);
    await h2.clearUa(1);
    const data = pattern(16 * 512, 4);
    data.copy(lend.store, 0);
    const r = await xcopy(h2, plist(1, 0, [cscd(NAA1), cscd(NAA0)], [b2b(0, 1, 16, 0, 100)]));
    expectGood(r);
    expect(h2.lun.store.subarray(100 * 512, 116 * 512)).toEqual(data);
    expect(counters.copiedIn + counters.copiedOut).toBe(0);
    expect(counters.referencedOut).toBe(16 * 512);
    expect(counters.referencedIn).toBe(16 * 512);
    expect(lend.maxRefs).toBe(1);
    expect(lend.refs).toBe(0); // released once the WRITE completed
  });

  it('copies (and counts) when the source lends nothing or the destination wants Copy mode', async () => {
    const counters = newCtlCopyCounters();
    const h = new Harness({ ctl: { counters } });
    h.ctl.addLun(new RamLun({ naa: NAA1, dataOutMode: DataOutMode.Copy }), 1);
    await h.clearUa(0);
    await h.clearUa(1);
    expectGood(await xcopy(h, plist(1, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 4, 0, 0)])));
    expect(counters.copiedOut).toBe(4 * 512);
    expect(counters.copiedIn).toBe(4 * 512);
  });
});

describe('EXTENDED COPY (LID1): parameter list errors (exact sense)', () => {
  it('CDB: PARAMETER LIST LENGTH shorter than the header or beyond the limit, and reserved bits', async () => {
    const h = new Harness();
    await h.clearUa();
    expectCheck(await h.exec(xcopyCdb(8), { dataOut: Buffer.alloc(8) }), 0x05, 0x1a, 0x00);
    expectCheck(await h.exec(xcopyCdb(16 + 32 * 32 + 32 * 28 + 1)), 0x05, 0x1a, 0x00);
    const c = xcopyCdb(0);
    c[5] = 0x01;
    expectInvalidField(await h.exec(c), 5, 0);
    const lid4 = xcopyCdb(0);
    lid4[1] = 0x01; // LID4 is not implemented
    expectInvalidField(await h.exec(lid4), 1, 4);
  });

  it('descriptor lists that do not fit the parameter list: PARAMETER LIST LENGTH ERROR', async () => {
    const h = new Harness();
    await h.clearUa();
    const full = plist(1, 0, [cscd(NAA0)], [b2b(0, 0, 1, 0, 1)]);
    expectCheck(await xcopy(h, full.subarray(0, 16 + 31)), 0x05, 0x1a, 0x00);
    expectCheck(await xcopy(h, full.subarray(0, full.length - 1)), 0x05, 0x1a, 0x00);
    const inline = Buffer.from(full);
    inline.writeUInt32BE(4, 12); // INLINE DATA LENGTH: not supported (maximum 0)
    expectCheck(await xcopy(h, inline), 0x05, 0x1a, 0x00);
    expect(h.lun.submitted).toEqual([]);
  });

  it('too many CSCD / segment descriptors, descriptor lists beyond the maximum length', async () => {
    const h = new Harness({ ctl: { tpc: { maxCscdDescriptors: 4, maxSegmentDescriptors: 4 } } });
    await h.clearUa();
    const seg = b2b(0, 0, 1, 0, 1);
    const c = cscd(NAA0);
    expectCheck(await xcopy(h, plist(1, 0, [c, c, c, c, c], [seg])), 0x05, 0x26, 0x06);
    expectCheck(await xcopy(h, plist(2, 0, [c], [seg, seg, seg, seg, seg])), 0x05, 0x26, 0x08);
    // 5 + 5 descriptors exceed MAXIMUM DESCRIPTOR LIST LENGTH (4 * 32 + 4 * 28).
    const big = plist(3, 0, [c, c, c, c, c], [seg, seg, seg, seg, seg]);
    expectCheck(await xcopy(h, big), 0x05, 0x1a, 0x00);
    // The same lists are accepted at the limits.
    expectGood(await xcopy(h, plist(4, 0, [c, c, c, c], [seg, seg, seg, seg])));
    h.lun.submitted.length = 0;
    expect(h.lun.submitted).toEqual([]);
  });

  it('unsupported CSCD and segment descriptor type codes, with field pointers', async () => {
    const h = new Harness();
    await h.clearUa();
    const fc = cscd(NAA0, { type: 0xe0 });
    expectCheck(await xcopy(h, plist(1, 0, [cscd(NAA0), fc], [b2b(0, 0, 1, 0, 1)])), 0x05, 0x26, 0x07, {
      field: 48,
      cd: false,
    });
    const s2s = Buffer.alloc(20);
    s2s[0] = 0x03;
    s2s.writeUInt16BE(16, 2);
    expectCheck(await xcopy(h, plist(1, 0, [cscd(NAA0)], [s2s])), 0x05, 0x26, 0x09, { field: 48, cd: false });
  });

  it('invalid header and descriptor fields: INVALID FIELD IN PARAMETER LIST at the field', async () => {
    const h = new Harness();
    await h.clearUa();
    const ok = (): Buffer => plist(1, 0, [cscd(NAA0)], [b2b(0, 0, 1, 0, 1)]);
    const fp = async (list: Buffer, field: number, bit?: number): Promise<void> => {
      const e: { field: number; cd: boolean; bit?: number } = { field, cd: false };
      if (bit !== undefined) e.bit = bit;
      expectCheck(await xcopy(h, list), 0x05, 0x26, 0x00, e);
    };
    await fp(plist(1, 1, [cscd(NAA0)], [b2b(0, 0, 1, 0, 1)]), 1, 4); // LIST ID USAGE 01b reserved
    await fp(plist(5, 3, [cscd(NAA0)], [b2b(0, 0, 1, 0, 1)]), 0); // usage 11b needs list id 0
    await fp(plist(1, 0, [cscd(NAA0)], [b2b(0, 0, 1, 0, 1)], 0x40), 1, 6); // reserved bit 6
    const r4 = ok();
    r4[5] = 0x10;
    await fp(r4, 5, 4); // reserved header byte
    await fp(plist(1, 0, [cscd(NAA0, { b1: 0x01 })], [b2b(0, 0, 1, 0, 1)]), 17, 4); // PERIPHERAL DEVICE TYPE 01h
    await fp(plist(1, 0, [cscd(NAA0, { designatorLength: 21 })], [b2b(0, 0, 1, 0, 1)]), 23); // DESIGNATOR LENGTH
    const badLen = b2b(0, 0, 1, 0, 1);
    badLen.writeUInt16BE(0x14, 2);
    await fp(plist(1, 0, [cscd(NAA0)], [badLen]), 50); // segment DESCRIPTOR LENGTH
    await fp(plist(1, 0, [cscd(NAA0)], [b2b(0, 0, 1, 0, 1, 0x04)]), 49, 2); // reserved segment flag
    await fp(plist(1, 0, [cscd(NAA0, { blockLength: 4096 })], [b2b(0, 0, 1, 0, 1)]), 45); // DISK BLOCK LENGTH
    expect(h.lun.submitted).toEqual([]);
  });

  it('SPC-4 ignores the obsolete LU ID TYPE / NUL bits of the CSCD descriptor', async () => {
    const h = new Harness();
    await h.clearUa();
    h.lun.store.fill(0x5a, 0, 512);
    expectGood(await xcopy(h, plist(1, 0, [cscd(NAA0, { b1: 0xe0 })], [b2b(0, 0, 1, 0, 7)])));
    expect(h.lun.store.subarray(7 * 512, 8 * 512)).toEqual(Buffer.alloc(512, 0x5a));
  });
});

describe('EXTENDED COPY (LID1): COPY ABORTED', () => {
  it('a CSCD ID beyond the list or naming no LU of the port: UNREACHABLE COPY TARGET', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await xcopy(h, plist(1, 0, [cscd(NAA0)], [b2b(0, 1, 1, 0, 1)]));
    expectCheck(r, 0x0a, 0x08, 0x04);
    expect(r.senseData!.readUInt32BE(8)).toBe(0); // COMMAND-SPECIFIC INFORMATION: segment 0
    const unknown = Buffer.from([0x60, 0, 0, 0, 0, 0, 0, 0x99]);
    expectCheck(await xcopy(h, plist(2, 0, [cscd(unknown)], [b2b(0, 0, 1, 0, 1)])), 0x0a, 0x08, 0x04);
    expect(h.lun.submitted).toEqual([]);
  });

  it('a LUN not mapped to the command port cannot be named', async () => {
    const h = new Harness({ lunMap: new Map([[0, 0]]) });
    h.ctl.addLun(new RamLun({ naa: NAA1 }), 1);
    await h.clearUa();
    expectCheck(await xcopy(h, plist(1, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 1, 0, 1)])), 0x0a, 0x08, 0x04);
  });

  it('a segment beyond either capacity moves nothing: segment pointer to the LBA field', async () => {
    const h = new Harness({ lun: { numBlocks: 100 } });
    await h.clearUa();
    const first = b2b(0, 0, 1, 0, 50);
    const beyondDst = await xcopy(h, plist(1, 0, [cscd(NAA0)], [first, b2b(0, 0, 10, 0, 91)]));
    expect(beyondDst.senseData).toEqual(
      Buffer.from([0x70, 0, 0x0a, 0, 0, 0, 0, 10, 0, 0, 0, 1, 0x00, 0x00, 0, 0xa0, 0x00, 20]),
    );
    // Segment 0 was copied before segment 1 failed (SPC-4 processes segments in order).
    expect(h.lun.submitted.map((s) => s.request.op)).toEqual(['read', 'write']);
    const beyondSrc = await xcopy(h, plist(2, 0, [cscd(NAA0)], [b2b(0, 0, 2, 99, 0)]));
    expect(beyondSrc.senseData).toEqual(
      Buffer.from([0x70, 0, 0x0a, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x00, 0x00, 0, 0xa0, 0x00, 12]),
    );
    expect(h.lun.submitted.length).toBe(2);
  });

  it('an inexact segment between different block sizes: UNEXPECTED INEXACT SEGMENT', async () => {
    const h = new Harness();
    h.ctl.addLun(new RamLun({ naa: NAA1, blockSize: 4096, numBlocks: 64 }), 1);
    await h.clearUa();
    const r = await xcopy(h, plist(1, 0, [cscd(NAA0), cscd(NAA1, { blockLength: 0 })], [b2b(0, 1, 3, 0, 0)]));
    expectCheck(r, 0x0a, 0x26, 0x0a);
    // 8 source blocks of 512 = one 4096-byte destination block: exact.
    h.lun.store.fill(0x11, 0, 4096);
    expectGood(await xcopy(h, plist(2, 0, [cscd(NAA0), cscd(NAA1, { blockLength: 0 })], [b2b(0, 1, 8, 0, 5)])));
  });

  it('write-protected destination: the internal WRITE fails, THIRD PARTY DEVICE FAILURE', async () => {
    const { h, dst } = await twoLuns({ dst: { readOnly: true } });
    const r = await xcopy(h, plist(1, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 4, 0, 0)]));
    // COPY ABORTED 0Dh/01h, segment 0, segment pointer (SD = 0) to the destination CSCD at byte 48.
    expect(r.senseData).toEqual(Buffer.from([0x70, 0, 0x0a, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x0d, 0x01, 0, 0x80, 0, 48]));
    expect(dst.submitted).toEqual([]);
  });

  it("a copy has the reservation rights of the initiator that sent it, not the copy manager's", async () => {
    const { h, dst } = await twoLuns();
    const other = h.ctl.addInitiator(h.targetPort, 'iqn.1994-05.com.example:other,i,0x023d00000002');
    await h.clearUa(0, other);
    await h.clearUa(1, other);
    // SPC-2 RESERVE(6) of the destination by the default initiator.
    expectGood(await h.exec(Buffer.from([0x16, 0, 0, 0, 0, 0]), { lun: 1 }));
    h.lun.store.fill(0x5a, 0, 4 * 512);
    // The holder's copy writes the reserved LU.
    expectGood(await xcopy(h, plist(1, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 4, 0, 0)])));
    expect(dst.store.subarray(0, 4 * 512)).toEqual(Buffer.alloc(4 * 512, 0x5a));
    // Another initiator's copy to it: the internal WRITE meets RESERVATION CONFLICT, so the copy is
    // COPY ABORTED / THIRD PARTY DEVICE FAILURE at the destination CSCD, and nothing is written.
    const writes = dst.submitted.length;
    const r = await h.exec(xcopyCdb(plist(2, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 4, 8, 8)]).length), {
      dataOut: plist(2, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 4, 8, 8)]),
      initiator: other,
    });
    expect(r.senseData).toEqual(Buffer.from([0x70, 0, 0x0a, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x0d, 0x01, 0, 0x80, 0, 48]));
    expect(dst.submitted.length).toBe(writes);
  });

  it('descriptor-format sense when D_SENSE is set', async () => {
    const h = new Harness({ ctl: { descriptorSense: true } });
    await h.clearUa();
    const r = await xcopy(h, plist(1, 0, [cscd(NAA0)], [b2b(0, 0, 1, 0, 1), b2b(0, 3, 1, 0, 1)]));
    expect(r.senseData).toEqual(
      Buffer.from([
        0x72, 0x0a, 0x08, 0x04, 0, 0, 0, 12, // header: COPY ABORTED, UNREACHABLE COPY TARGET
        0x01, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // command-specific information: segment 1
      ]),
    );
  });
});

describe('EXTENDED COPY (LID1): list identifiers, concurrency, abort', () => {
  function tmf(h: Harness, action: TaskAction, referencedTag: number, lun = 0): TaskIo {
    const tio = newTaskIo({
      nexus: { initiatorIndex: h.initiator, targetPort: h.targetPort, lun },
      taskAction: action,
      tagNum: 999,
      referencedTag,
    });
    h.ctl.run(tio);
    return tio;
  }

  it('a list identifier in use by a running copy: OPERATION IN PROGRESS; results per list id', async () => {
    const { h, dst } = await twoLuns();
    h.lun.hold = true;
    const list = plist(7, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 8, 0, 0)]);
    const first = h.start(xcopyCdb(list.length), { dataOut: list, tag: 50 });
    while (h.lun.parked === 0) await settle();
    // COPY STATUS while running: in progress.
    const st = await h.exec(rcrCdb(0, 7, 64));
    expectGood(st);
    expect([...st.data]).toEqual([0, 0, 0, 8, 0x00, 0, 0, 0, 0, 0, 0, 0]);
    expectCheck(await xcopy(h, list), 0x05, 0x00, 0x16);
    // LIST ID USAGE 11b does not use list identifiers.
    const anon = plist(0, 3, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 1, 10, 10)]);
    const second = h.start(xcopyCdb(anon.length), { dataOut: anon });
    h.lun.hold = false;
    h.lun.release();
    await h.port.whenDone(first);
    await h.port.whenDone(second);
    expect(first.status).toBe(IoStatus.Success);
    expect(second.status).toBe(IoStatus.Success);
    expect(dst.store.subarray(0, 8 * 512)).toEqual(h.lun.store.subarray(0, 8 * 512));
    // Held results: completed, 8 segments... one segment, 4096 bytes; then discarded.
    const done = await h.exec(rcrCdb(0, 7, 64));
    expect([...done.data]).toEqual([0, 0, 0, 8, 0x01, 0, 1, 0, 0, 0, 0x10, 0x00]);
    expectInvalidField(await h.exec(rcrCdb(0, 7, 64)), 2);
  });

  it('an ORDERED command or MODE SELECT arriving during a copy waits for it without deadlock', async () => {
    const h = new Harness({ ctl: { tpc: { maxIoBytes: 512 * 2 } } });
    await h.clearUa();
    const data = pattern(8 * 512, 6);
    data.copy(h.lun.store, 0);
    h.lun.hold = true;
    const list = plist(0, 3, [cscd(NAA0)], [b2b(0, 0, 8, 0, 100)]);
    const copy = h.start(xcopyCdb(list.length), { dataOut: list });
    while (h.lun.parked === 0) await settle();
    // Both wait for the EXTENDED COPY (older); the copy's later internal commands must not wait for them.
    const ordered = h.start(C.rw10(0x2a, 200, 1), { tagType: TagType.Ordered, dataOut: Buffer.alloc(512, 1) });
    const modeSelect = h.start(C.modeSelect6(0), {});
    h.lun.hold = false;
    h.lun.release();
    await h.port.whenDone(copy);
    await h.port.whenDone(ordered);
    await h.port.whenDone(modeSelect);
    expect(copy.status).toBe(IoStatus.Success);
    expect(ordered.status).toBe(IoStatus.Success);
    expect(h.lun.store.subarray(100 * 512, 108 * 512)).toEqual(data);
    // The ORDERED WRITE reached the backend only after every internal command of the copy.
    const ops = h.lun.started.map((s) => `${s.request.op}@${s.request.lba}`);
    expect(ops.indexOf('write@200')).toBe(ops.length - 1);
    expect(h.port.completed.indexOf(copy)).toBeLessThan(h.port.completed.indexOf(ordered));
  });

  it('more than TOTAL CONCURRENT COPIES: INSUFFICIENT RESOURCES', async () => {
    const h = new Harness({ ctl: { tpc: { maxConcurrentCopies: 1 } } });
    await h.clearUa();
    h.lun.hold = true;
    const list = plist(0, 3, [cscd(NAA0)], [b2b(0, 0, 1, 0, 1)]);
    const first = h.start(xcopyCdb(list.length), { dataOut: list });
    while (h.lun.parked === 0) await settle();
    expectCheck(await xcopy(h, list), 0x05, 0x55, 0x03);
    h.lun.hold = false;
    h.lun.release();
    await h.port.whenDone(first);
    expect(first.status).toBe(IoStatus.Success);
    expectGood(await xcopy(h, list));
  });

  it('ABORT TASK stops the copy after the piece in flight; nothing reaches storage after the TMF response', async () => {
    const h = new Harness({ lun: { numBlocks: 4096 }, ctl: { tpc: { maxIoBytes: 512 * 8 } } });
    const dst = new RamLun({ naa: NAA1, numBlocks: 4096 });
    h.ctl.addLun(dst, 1);
    await h.clearUa(0);
    await h.clearUa(1);
    h.lun.hold = true;
    const list = plist(3, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 64, 0, 0)]);
    const io = h.start(xcopyCdb(list.length), { dataOut: list, tag: 77 });
    while (h.lun.parked === 0) await settle();
    const tio = tmf(h, TaskAction.AbortTask, 77);
    await settle();
    expect(h.port.doneCount(tio)).toBe(0); // waits for the piece in flight
    h.lun.hold = false;
    h.lun.release();
    await h.port.whenDone(tio);
    expect(io.status).toBe(IoStatus.Aborted);
    expect(io.scsiStatus).toBe(ScsiStatus.TaskAborted);
    expect(h.port.completed.indexOf(io)).toBeLessThan(h.port.completed.indexOf(tio));
    const writesAtTmf = dst.submitted.length;
    expect(writesAtTmf).toBeLessThanOrEqual(1);
    await settle();
    await settle();
    expect(dst.submitted.length).toBe(writesAtTmf);
    expect(h.lun.submitted.length).toBe(1);
    // The aborted copy's results report an error.
    const st = await h.exec(rcrCdb(0, 3, 12));
    expect(st.data[4]).toBe(0x02);
  });

  it('I_T nexus loss aborts a running copy and discards held results of that initiator', async () => {
    const { h } = await twoLuns();
    expectGood(await xcopy(h, plist(9, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 1, 0, 0)])));
    h.lun.hold = true;
    const list = plist(4, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 8, 0, 0)]);
    const io = h.start(xcopyCdb(list.length), { dataOut: list });
    while (h.lun.parked === 0) await settle();
    h.ctl.removeInitiator(h.targetPort, h.initiator);
    h.lun.hold = false;
    h.lun.release();
    await h.port.whenDone(io);
    expect(io.status).toBe(IoStatus.Aborted);
    await h.clearUa(0);
    expectInvalidField(await h.exec(rcrCdb(0, 9, 12)), 2);
  });

  it('the copy manager retries its internal commands after a unit attention', async () => {
    const { h, dst } = await twoLuns();
    h.lun.store.fill(0x33, 0, 512);
    // A LUN added later raises REPORTED LUNS DATA HAS CHANGED for the internal initiator too.
    expectGood(await xcopy(h, plist(1, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 1, 0, 0)])));
    h.ctl.addLun(new RamLun({ naa: Buffer.from([0x60, 9, 9, 9, 9, 9, 9, 9]) }), 2);
    await h.clearUa(0);
    expectGood(await xcopy(h, plist(1, 0, [cscd(NAA0), cscd(NAA1)], [b2b(0, 1, 1, 0, 1)])));
    expect(dst.store.subarray(512, 1024)).toEqual(Buffer.alloc(512, 0x33));
  });
});

describe('RECEIVE COPY RESULTS', () => {
  it('OPERATING PARAMETERS reports the limits', async () => {
    const h = new Harness();
    await h.clearUa();
    const r = await h.exec(rcrCdb(0x03, 0, 256));
    expectGood(r);
    const want = Buffer.alloc(46);
    want.writeUInt32BE(42, 0);
    want[4] = 0x01; // SNLID
    want.writeUInt16BE(32, 8);
    want.writeUInt16BE(32, 10);
    want.writeUInt32BE(32 * 32 + 32 * 28, 12);
    want.writeUInt16BE(16, 34);
    want[36] = 16;
    want[43] = 2;
    want[44] = 0x02;
    want[45] = 0xe4;
    expect(r.data).toEqual(want);
    const short = await h.exec(rcrCdb(0x03, 0, 10));
    expect(short.data).toEqual(want.subarray(0, 10));
    // Byte 2 (LIST IDENTIFIER of the other service actions) is reserved here.
    expectInvalidField(await h.exec(rcrCdb(0x03, 0x81, 64)), 2, 7);
  });

  it('FAILED SEGMENT DETAILS returns the sense of a failed copy; unknown list ids are invalid', async () => {
    const h = new Harness();
    await h.clearUa();
    expectInvalidField(await h.exec(rcrCdb(0x00, 1, 64)), 2);
    expectInvalidField(await h.exec(rcrCdb(0x04, 1, 64)), 2);
    const failed = await xcopy(h, plist(1, 0, [cscd(NAA0)], [b2b(0, 2, 1, 0, 1)]));
    expectCheck(failed, 0x0a, 0x08, 0x04);
    const d = await h.exec(rcrCdb(0x04, 1, 256));
    expectGood(d);
    expect(d.data.length).toBe(60 + 18);
    expect(d.data.readUInt32BE(0)).toBe(74);
    expect(d.data[56]).toBe(0x02);
    expect(d.data.readUInt16BE(58)).toBe(18);
    expect(d.data.subarray(60)).toEqual(failed.senseData);
    expectInvalidField(await h.exec(rcrCdb(0x04, 1, 64)), 2); // discarded once returned
    // LIST ID USAGE 10b: results are not held after completion.
    expectGood(await xcopy(h, plist(2, 2, [cscd(NAA0)], [b2b(0, 0, 1, 0, 1)])));
    expectInvalidField(await h.exec(rcrCdb(0x00, 2, 64)), 2);
    // Service actions not implemented (RECEIVE DATA, LID4 ones): INVALID FIELD IN CDB at SA.
    expectInvalidField(await h.exec(rcrCdb(0x01, 0, 64)), 1, 4);
    expectInvalidField(await h.exec(rcrCdb(0x05, 0, 64)), 1, 4);
  });
});

describe('INQUIRY for third-party copy', () => {
  it('standard data sets 3PC; VPD 8Fh carries the descriptors', async () => {
    const h = new Harness();
    const std = await h.exec(C.inquiry(false, 0, 96));
    expect(std.data[5]).toBe(0x18); // TPGS = 01b | 3PC
    const r = await h.exec(C.inquiry(true, 0x8f, 1024));
    expectGood(r);
    const expected = Buffer.from([
      0x00, 0x8f, 0x00, 100,
      // Supported Commands: 83h {00h}, 84h {00h, 03h, 04h}
      0x00, 0x01, 0x00, 12, 8, 0x83, 1, 0x00, 0x84, 3, 0x00, 0x03, 0x04, 0, 0, 0,
      // Parameter Data
      0x00, 0x08, 0x00, 28, 0, 0, 0, 0, 0, 32, 0, 32, 0, 0, 0x07, 0x80, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      // Supported Descriptors: 02h, E4h
      0x00, 0x0c, 0x00, 4, 2, 0x02, 0xe4, 0,
      // Supported CSCD Descriptor IDs: FFFFh
      0x00, 0x0d, 0x00, 4, 0, 2, 0xff, 0xff,
      // General Copy Operations: 16 total, 16 identified
      0x80, 0x01, 0x00, 32, 0, 0, 0, 16, 0, 0, 0, 16, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect(r.data).toEqual(expected);
  });
});
