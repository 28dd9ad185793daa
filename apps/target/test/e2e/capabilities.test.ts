// End-to-end: capability discovery and LUN state through the built daemon over
// a raw iSCSI session: REPORT SUPPORTED OPERATION CODES / TASK MANAGEMENT
// FUNCTIONS (SPC-4 §6.35, §6.36), LOG SENSE (SPC-4 §6.8), READ DEFECT DATA
// (SBC-3), and START STOP UNIT stopping and starting the LUN (SBC-3 §5.25).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LoginStatus,
  rawLogin,
  rawLogout,
  rawScsiCommand,
  rawTestUnitReady,
  ScsiStatus,
  SenseKey,
  startTarget,
  type RawSession,
  type TargetHandle,
} from '@iscsi-target/test-utils';

let target: TargetHandle;
let s: RawSession;
beforeAll(async () => {
  target = await startTarget();
  s = await rawLogin(target.host, target.port);
  expect(s.status).toBe(LoginStatus.Success);
  // Consume the POWER ON unit attention.
  expect((await rawTestUnitReady(s, { lun: target.wireLun(0) })).status).toBe(ScsiStatus.Good);
});
afterAll(async () => {
  if (s) await rawLogout(s);
  await target?.stop();
});

function cdb(bytes: number[], length: number): Buffer {
  const c = Buffer.alloc(length);
  Buffer.from(bytes).copy(c);
  return c;
}

describe('capability discovery (daemon)', () => {
  it('REPORT SUPPORTED OPERATION CODES lists READ(10), WRITE(10) and itself', async () => {
    const c = cdb([0xa3, 0x0c, 0x00, 0, 0, 0, 0, 0, 0x10, 0x00], 12);
    const r = await rawScsiCommand(s, c, { lun: target.wireLun(0), readLength: 4096 });
    expect(r.status, `sense ${r.senseKey}/${r.asc}/${r.ascq}`).toBe(ScsiStatus.Good);
    const len = r.data.readUInt32BE(0);
    expect(r.data.length).toBe(4 + len);
    const found = new Set<string>();
    for (let off = 4; off < r.data.length; off += 8) {
      found.add(`${r.data[off]!.toString(16)}/${r.data.readUInt16BE(off + 2).toString(16)}`);
    }
    expect(found.has('28/0')).toBe(true);
    expect(found.has('2a/0')).toBe(true);
    expect(found.has('a3/c')).toBe(true);
    expect(found.has('a3/d')).toBe(true);
  });

  it('REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS matches what the target carries out', async () => {
    const c = cdb([0xa3, 0x0d, 0x00, 0, 0, 0, 0, 0, 0, 0x04], 12);
    const r = await rawScsiCommand(s, c, { lun: target.wireLun(0), readLength: 4 });
    expect(r.status).toBe(ScsiStatus.Good);
    expect([...r.data]).toEqual([0xde, 0x03, 0x00, 0x00]);
  });

  it('LOG SENSE supported pages and READ DEFECT DATA(10)', async () => {
    const log = await rawScsiCommand(s, cdb([0x4d, 0, 0x40, 0, 0, 0, 0, 0, 0xff, 0], 10), {
      lun: target.wireLun(0),
      readLength: 255,
    });
    expect(log.status).toBe(ScsiStatus.Good);
    expect([...log.data]).toEqual([0x80, 0x00, 0x00, 0x03, 0x00, 0x0d, 0x2f]);
    const rdd = await rawScsiCommand(s, cdb([0x37, 0, 0x1d, 0, 0, 0, 0, 0, 0xff, 0], 10), {
      lun: target.wireLun(0),
      readLength: 255,
    });
    expect(rdd.status).toBe(ScsiStatus.Good);
    expect([...rdd.data]).toEqual([0x00, 0x1d, 0x00, 0x00]);
  });

  it('START STOP UNIT: a stopped LUN is NOT READY (04h/02h) until started again', async () => {
    const lun = target.wireLun(0);
    const stop = await rawScsiCommand(s, cdb([0x1b, 0, 0, 0, 0x00, 0], 6), { lun });
    expect(stop.status).toBe(ScsiStatus.Good);
    const tur = await rawScsiCommand(s, Buffer.alloc(6), { lun });
    expect(tur.status).toBe(ScsiStatus.CheckCondition);
    expect([tur.senseKey, tur.asc, tur.ascq]).toEqual([SenseKey.NotReady, 0x04, 0x02]);
    const read = await rawScsiCommand(s, cdb([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0], 10), { lun, readLength: 512 });
    expect([read.senseKey, read.asc, read.ascq]).toEqual([SenseKey.NotReady, 0x04, 0x02]);
    expect(read.data.length).toBe(0);
    const start = await rawScsiCommand(s, cdb([0x1b, 0, 0, 0, 0x01, 0], 6), { lun });
    expect(start.status).toBe(ScsiStatus.Good);
    expect((await rawScsiCommand(s, Buffer.alloc(6), { lun })).status).toBe(ScsiStatus.Good);
    expect(target.alive()).toBe(true);
  });
});
