import { describe, expect, it } from 'vitest';
import {
  MAX_COMPARE_AND_WRITE_BLOCKS,
  PORT_STATUS_PROTOCOL_CRC_ERROR,
  ScsiOpcode as Op,
  type ScsiIo,
} from '@iscsi-target/ctl-core';
import { Harness } from './helpers/harness.js';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood, expectInvalidField } from './helpers/expect.js';

const BS = 512;

function cdb10(op: number, lba: number, blocks: number, b1 = 0): Buffer {
  return C.rw10(op, lba, blocks, b1);
}

function cdb12(op: number, lba: number, blocks: number, b1 = 0): Buffer {
  return C.rw12(op, lba, blocks, b1);
}

function cdb16(op: number, lba: number | bigint, blocks: number, b1 = 0): Buffer {
  return C.rw16(op, lba, blocks, b1);
}

/** COMPARE AND WRITE: LBA at bytes 2-9, NUMBER OF LOGICAL BLOCKS at byte 13. */
function caw(lba: number, blocks: number, b1 = 0): Buffer {
  const c = Buffer.alloc(16);
  c[0] = Op.CompareAndWrite;
  c[1] = b1;
  c.writeBigUInt64BE(BigInt(lba), 2);
  c[13] = blocks;
  return c;
}

function preFetch10(lba: number, blocks: number, b1 = 0): Buffer {
  return C.rw10(Op.PreFetch10, lba, blocks, b1);
}

function preFetch16(lba: number, blocks: number, b1 = 0): Buffer {
  return C.rw16(Op.PreFetch16, lba, blocks, b1);
}

async function ready(opts: ConstructorParameters<typeof Harness>[0] = {}): Promise<Harness> {
  const h = new Harness({ lun: { numBlocks: 100, ...(opts.lun ?? {}) }, ...(opts.ctl ? { ctl: opts.ctl } : {}) });
  await h.clearUa();
  return h;
}

const requests = (h: Harness): unknown[] => h.lun.submitted.map((s) => s.request);

describe('VERIFY(10/12/16) (SBC-3)', () => {
  const builders: Array<[string, (lba: number, n: number, b1?: number) => Buffer]> = [
    ['10', (lba, n, b1) => cdb10(Op.Verify10, lba, n, b1)],
    ['12', (lba, n, b1) => cdb12(Op.Verify12, lba, n, b1)],
    ['16', (lba, n, b1) => cdb16(Op.Verify16, lba, n, b1)],
  ];
  for (const [size, build] of builders) {
    it(`(${size}) BYTCHK 00b/01b/11b select medium verification, a compare, a one-block compare`, async () => {
      const h = await ready();
      expectGood(await h.exec(build(1, 2)));
      const r01 = await h.exec(build(3, 4, 0x02), { dataOut: Buffer.alloc(4 * BS) });
      expectGood(r01);
      expect(r01.io.kernTotalLen).toBe(4 * BS);
      const r11 = await h.exec(build(5, 6, 0x06), { dataOut: Buffer.alloc(BS) });
      expectGood(r11);
      expect(r11.io.kernTotalLen).toBe(BS);
      expect(requests(h)).toEqual([
        { op: 'verify', lba: 1, blocks: 2, bytchk: false },
        { op: 'compare', lba: 3, blocks: 4, single: false },
        { op: 'compare', lba: 5, blocks: 6, single: true },
      ]);
    });

    it(`(${size}) BYTCHK 10b and VRPROTECT != 0 are invalid fields; DPO is accepted`, async () => {
      const h = await ready();
      expectInvalidField(await h.exec(build(0, 1, 0x04)), 1, 2);
      expectInvalidField(await h.exec(build(0, 1, 0x20)), 1, 7);
      expectInvalidField(await h.exec(build(0, 1, 0xe0)), 1, 7);
      expectGood(await h.exec(build(0, 1, 0x10)));
      expect(requests(h)).toEqual([{ op: 'verify', lba: 0, blocks: 1, bytchk: false }]);
    });

    it(`(${size}) beyond the end: LBA OUT OF RANGE; zero length: GOOD without touching the backend`, async () => {
      const h = await ready();
      expectCheck(await h.exec(build(99, 2)), 0x05, 0x21, 0x00);
      expectCheck(await h.exec(build(100, 1, 0x02), { dataOut: Buffer.alloc(BS) }), 0x05, 0x21, 0x00);
      expectGood(await h.exec(build(100, 0)));
      expectGood(await h.exec(build(5, 0, 0x02)));
      expect(h.lun.submitted).toHaveLength(0);
    });
  }

  it('a compare whose Data-Out the EDTL cannot hold: INVALID FIELD IN COMMAND INFORMATION UNIT', async () => {
    const h = await ready();
    expectCheck(await h.exec(cdb10(Op.Verify10, 0, 2, 0x02), { edtl: BS }), 0x05, 0x0e, 0x03);
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('MAXIMUM TRANSFER LENGTH bounds a compare, not a medium verification', async () => {
    const h = await ready({ lun: { maxTransferBlocks: 4 } });
    expectInvalidField(await h.exec(cdb10(Op.Verify10, 0, 5, 0x02), { edtl: 5 * BS }), 7, 7);
    expectGood(await h.exec(cdb10(Op.Verify10, 0, 5)));
  });
});

describe('WRITE AND VERIFY(10/12/16) (SBC-3)', () => {
  const builders: Array<[string, (lba: number, n: number, b1?: number) => Buffer]> = [
    ['10', (lba, n, b1) => cdb10(Op.WriteAndVerify10, lba, n, b1)],
    ['12', (lba, n, b1) => cdb12(Op.WriteAndVerify12, lba, n, b1)],
    ['16', (lba, n, b1) => cdb16(Op.WriteAndVerify16, lba, n, b1)],
  ];
  for (const [size, build] of builders) {
    it(`(${size}) goes to the backend with BYTCHK; reserved BYTCHK and WRPROTECT are invalid`, async () => {
      const h = await ready();
      expectGood(await h.exec(build(2, 3), { dataOut: Buffer.alloc(3 * BS) }));
      expectGood(await h.exec(build(4, 1, 0x12), { dataOut: Buffer.alloc(BS) })); // DPO + BYTCHK=01b
      expectInvalidField(await h.exec(build(0, 1, 0x04), { dataOut: Buffer.alloc(BS) }), 1, 2);
      expectInvalidField(await h.exec(build(0, 1, 0x06), { dataOut: Buffer.alloc(BS) }), 1, 2);
      expectInvalidField(await h.exec(build(0, 1, 0x40), { dataOut: Buffer.alloc(BS) }), 1, 7);
      expectCheck(await h.exec(build(98, 3), { dataOut: Buffer.alloc(3 * BS) }), 0x05, 0x21, 0x00);
      expectGood(await h.exec(build(7, 0)));
      expect(requests(h)).toEqual([
        { op: 'writeVerify', lba: 2, blocks: 3, bytchk: false },
        { op: 'writeVerify', lba: 4, blocks: 1, bytchk: true },
      ]);
    });

    it(`(${size}) on a read-only LUN: DATA PROTECT / WRITE PROTECTED`, async () => {
      const h = await ready({ lun: { readOnly: true } });
      expectCheck(await h.exec(build(0, 1), { dataOut: Buffer.alloc(BS) }), 0x07, 0x27, 0x00);
      expect(h.lun.submitted).toHaveLength(0);
    });
  }
});

describe('ORWRITE(16) (SBC-3)', () => {
  it('goes to the backend; FUA is passed on; ORPROTECT != 0 is invalid', async () => {
    const h = await ready();
    expectGood(await h.exec(cdb16(Op.OrWrite16, 10, 2), { dataOut: Buffer.alloc(2 * BS) }));
    expectGood(await h.exec(cdb16(Op.OrWrite16, 12, 1, 0x08), { dataOut: Buffer.alloc(BS) }));
    expectGood(await h.exec(cdb16(Op.OrWrite16, 13, 1, 0x12), { dataOut: Buffer.alloc(BS) })); // DPO + FUA_NV
    expectInvalidField(await h.exec(cdb16(Op.OrWrite16, 0, 1, 0x20), { dataOut: Buffer.alloc(BS) }), 1, 7);
    expectInvalidField(await h.exec(cdb16(Op.OrWrite16, 0, 1, 0x04), { dataOut: Buffer.alloc(BS) }), 1, 2);
    expectCheck(await h.exec(cdb16(Op.OrWrite16, 2n ** 40n, 1), { dataOut: Buffer.alloc(BS) }), 0x05, 0x21, 0x00);
    expectGood(await h.exec(cdb16(Op.OrWrite16, 0, 0)));
    expect(requests(h)).toEqual([
      { op: 'orWrite', lba: 10, blocks: 2, fua: false },
      { op: 'orWrite', lba: 12, blocks: 1, fua: true },
      { op: 'orWrite', lba: 13, blocks: 1, fua: false },
    ]);
  });

  it('on a read-only LUN: DATA PROTECT / WRITE PROTECTED', async () => {
    const h = await ready({ lun: { readOnly: true } });
    expectCheck(await h.exec(cdb16(Op.OrWrite16, 0, 1), { dataOut: Buffer.alloc(BS) }), 0x07, 0x27, 0x00);
  });
});

describe('COMPARE AND WRITE (SBC-3)', () => {
  it('goes to the backend with 2 x NUMBER OF LOGICAL BLOCKS of Data-Out; FUA is passed on', async () => {
    const h = await ready();
    const r = await h.exec(caw(5, 3), { dataOut: Buffer.alloc(6 * BS) });
    expectGood(r);
    expect(r.io.kernTotalLen).toBe(6 * BS);
    expectGood(await h.exec(caw(9, 1, 0x08), { dataOut: Buffer.alloc(2 * BS) }));
    expect(requests(h)).toEqual([
      { op: 'compareAndWrite', lba: 5, blocks: 3, fua: false },
      { op: 'compareAndWrite', lba: 9, blocks: 1, fua: true },
    ]);
  });

  it('NUMBER OF LOGICAL BLOCKS 0 with no Data-Out is GOOD; reserved bytes 10-12 are checked', async () => {
    const h = await ready();
    expectGood(await h.exec(caw(0, 0)));
    const bad = caw(0, 1);
    bad[11] = 0x01;
    expectInvalidField(await h.exec(bad, { dataOut: Buffer.alloc(2 * BS) }), 11, 0);
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('a Data-Out size other than 2 x NUMBER OF LOGICAL BLOCKS: INVALID FIELD IN CDB at byte 13', async () => {
    const h = await ready();
    expectInvalidField(await h.exec(caw(0, 1), { edtl: 4 * BS }), 13, 7);
    expectInvalidField(await h.exec(caw(0, 3), { edtl: 4 * BS }), 13, 7);
    // 256 blocks do not fit the one-byte field: the initiator's 256 became 0.
    expectInvalidField(await h.exec(caw(0, 0), { edtl: 512 * BS }), 13, 7);
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('more blocks than MAXIMUM COMPARE AND WRITE LENGTH: INVALID FIELD IN CDB at byte 13', async () => {
    const h = await ready({ lun: { maxTransferBlocks: 8 } });
    expectInvalidField(await h.exec(caw(0, 9), { dataOut: Buffer.alloc(18 * BS) }), 13, 7);
    expectGood(await h.exec(caw(0, 8), { dataOut: Buffer.alloc(16 * BS) }));
  });

  it('the Block Limits VPD page reports MAXIMUM COMPARE AND WRITE LENGTH', async () => {
    const h = await ready();
    const r = await h.exec(C.inquiry(true, 0xb0, 64));
    expectGood(r);
    expect(r.data[5]).toBe(MAX_COMPARE_AND_WRITE_BLOCKS);
    expect(MAX_COMPARE_AND_WRITE_BLOCKS).toBe(255);
    const h8 = await ready({ lun: { maxTransferBlocks: 8 } });
    expect((await h8.exec(C.inquiry(true, 0xb0, 64))).data[5]).toBe(8);
  });

  it('beyond the end, WRPROTECT != 0, a read-only LUN: the SBC-3 sense', async () => {
    const h = await ready();
    expectCheck(await h.exec(caw(99, 2), { dataOut: Buffer.alloc(4 * BS) }), 0x05, 0x21, 0x00);
    expectInvalidField(await h.exec(caw(0, 1, 0x20), { dataOut: Buffer.alloc(2 * BS) }), 1, 7);
    const ro = await ready({ lun: { readOnly: true } });
    expectCheck(await ro.exec(caw(0, 1), { dataOut: Buffer.alloc(2 * BS) }), 0x07, 0x27, 0x00);
  });

  it('MISCOMPARE sense carries the offset in INFORMATION, fixed and descriptor format', async () => {
    const h = await ready();
    h.lun.submit = (io: ScsiIo, _req, ctl) => {
      queueMicrotask(() => {
        ctl.setMiscompare(io, 0x1234);
        ctl.dataSubmitDone(io);
      });
    };
    const r = await h.exec(caw(0, 1), { dataOut: Buffer.alloc(2 * BS) });
    expect([...(r.senseData ?? [])]).toEqual([
      0xf0, 0, 0x0e, 0x00, 0x00, 0x12, 0x34, 10, 0, 0, 0, 0, 0x1d, 0x00, 0, 0, 0, 0,
    ]);
    const page = Buffer.from([0, 0, 0, 0, 0x0a, 0x0a, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // D_SENSE = 1
    expectGood(await h.exec(C.modeSelect6(page.length), { dataOut: page }));
    const d = await h.exec(caw(0, 1), { dataOut: Buffer.alloc(2 * BS) });
    expect([...(d.senseData ?? [])]).toEqual([
      0x72, 0x0e, 0x1d, 0x00, 0, 0, 0, 12, 0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34,
    ]);
  });

  it('is atomic against overlapping I/O: a WRITE or READ of the range waits, others do not', async () => {
    const h = await ready();
    h.lun.hold = true;
    const cawIo = h.start(caw(10, 4), { dataOut: Buffer.alloc(8 * BS) });
    const overlapWrite = h.start(cdb10(Op.Write10, 13, 2), { dataOut: Buffer.alloc(2 * BS) });
    const overlapRead = h.start(cdb10(Op.Read10, 9, 2));
    const elsewhere = h.start(cdb10(Op.Write10, 20, 2), { dataOut: Buffer.alloc(2 * BS) });
    await new Promise((r) => setImmediate(r));
    // Only the COMPARE AND WRITE and the write past its extent reached the backend.
    expect(h.lun.submitted.map((s) => s.io)).toEqual([cawIo, elsewhere]);
    h.lun.release(1);
    await h.port.whenDone(cawIo);
    await new Promise((r) => setImmediate(r));
    expect(h.lun.submitted.map((s) => s.io)).toEqual([cawIo, elsewhere, overlapWrite, overlapRead]);
    h.lun.release();
    await Promise.all([h.port.whenDone(overlapWrite), h.port.whenDone(overlapRead), h.port.whenDone(elsewhere)]);
  });
});

describe('PRE-FETCH(10/16) (SBC-3)', () => {
  const builders: Array<[string, (lba: number, n: number, b1?: number) => Buffer]> = [
    ['10', preFetch10],
    ['16', preFetch16],
  ];
  for (const [size, build] of builders) {
    it(`(${size}) GOOD for a valid range (with or without IMMED, length 0 = to the end), without backend I/O`, async () => {
      const h = await ready();
      expectGood(await h.exec(build(0, 10)));
      expectGood(await h.exec(build(50, 0)));
      expectGood(await h.exec(build(0, 100, 0x02)));
      expect(h.lun.submitted).toHaveLength(0);
    });

    it(`(${size}) beyond the end: LBA OUT OF RANGE; reserved bits: INVALID FIELD IN CDB`, async () => {
      const h = await ready();
      expectCheck(await h.exec(build(99, 2)), 0x05, 0x21, 0x00);
      expectCheck(await h.exec(build(101, 0)), 0x05, 0x21, 0x00);
      expectInvalidField(await h.exec(build(0, 1, 0x04)), 1, 2);
      expectInvalidField(await h.exec(build(0, 1, 0x01)), 1, 0);
    });
  }
});

describe('WRITE ATOMIC(16) is not offered (SBC-4 makes it optional)', () => {
  it('INVALID COMMAND OPERATION CODE with the field pointer on byte 0', async () => {
    const h = await ready();
    expectCheck(await h.exec(cdb16(Op.WriteAtomic16, 0, 1), { dataOut: Buffer.alloc(BS) }), 0x05, 0x20, 0x00, {
      field: 0,
    });
  });
});

describe('writes with an Expected Data Transfer Length below the transfer length (RFC 7143 §11.4.5.1)', () => {
  it('write only the whole blocks EDTL covers; kernTotalLen stays the CDB length for the residual', async () => {
    const h = await ready();
    const r = await h.exec(cdb10(Op.Write10, 0, 2), { dataOut: Buffer.alloc(BS, 0x62), edtl: BS });
    expectGood(r);
    expect(r.io.kernTotalLen).toBe(2 * BS);
    expect(h.lun.store.subarray(0, BS).every((b) => b === 0x62)).toBe(true);
    expect(requests(h)).toEqual([{ op: 'write', lba: 0, blocks: 1, fua: false }]);
  });

  it('EDTL 0: GOOD, nothing written', async () => {
    const h = await ready();
    const r = await h.exec(cdb10(Op.Write10, 0, 1), { edtl: 0 });
    expectGood(r);
    expect(r.io.kernTotalLen).toBe(BS);
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('EDTL ending inside a block: INVALID FIELD IN COMMAND INFORMATION UNIT, nothing written', async () => {
    const h = await ready();
    const r = await h.exec(cdb10(Op.Write10, 0, 1), { edtl: 200, dataOut: Buffer.alloc(200) });
    expectCheck(r, 0x05, 0x0e, 0x03);
    expect(r.io.kernTotalLen).toBe(BS);
    expect(h.lun.submitted).toHaveLength(0);
  });

  it('WRITE AND VERIFY and ORWRITE follow the same rule', async () => {
    const h = await ready();
    expectGood(await h.exec(cdb10(Op.WriteAndVerify10, 0, 3), { dataOut: Buffer.alloc(2 * BS) }));
    expectGood(await h.exec(cdb16(Op.OrWrite16, 0, 3), { dataOut: Buffer.alloc(BS) }));
    expect(requests(h)).toEqual([
      { op: 'writeVerify', lba: 0, blocks: 2, bytchk: false },
      { op: 'orWrite', lba: 0, blocks: 1, fua: false },
    ]);
  });
});

describe('a Data-Out sequence error reported by the frontend', () => {
  it('PORT_STATUS_PROTOCOL_CRC_ERROR: ABORTED COMMAND / PROTOCOL SERVICE CRC ERROR, nothing written', async () => {
    const h = await ready();
    h.port.auto = false;
    const io = h.start(cdb10(Op.Write10, 0, 1), { dataOut: Buffer.alloc(BS, 0x55) });
    await new Promise((r) => setImmediate(r));
    expect(h.port.pendingMoves).toHaveLength(1);
    h.port.finishMove(io, PORT_STATUS_PROTOCOL_CRC_ERROR);
    await h.port.whenDone(io);
    expect(io.senseData?.[2]).toBe(0x0b);
    expect(io.senseData?.[12]).toBe(0x47);
    expect(io.senseData?.[13]).toBe(0x05);
    expect(h.lun.store.subarray(0, BS).every((b) => b === 0)).toBe(true);
  });
});
