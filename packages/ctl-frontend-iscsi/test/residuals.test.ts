/**
 * Residuals of writes (RFC 7143 §11.4.5.1) and Data-Out DataSN errors
 * (RFC 7143 §7.8/§7.9) through the frontend and the real CTL core, as
 * libiscsi's iSCSIResiduals and iSCSIdatasn suites exercise them.
 */
import { TargetOpcode } from '@iscsi-target/icl-core';
import { Ctl } from '@iscsi-target/ctl-core';
import { describe, expect, it } from 'vitest';
import { IscsiFrontend, SessionState } from '../src/index.js';
import { FakeIclConn, type SentPdu } from './helpers/fake-conn.js';
import { MemLun } from './helpers/mem-lun.js';
import { dataOutPdu, f, pattern, scsiCommandPdu } from './helpers/pdus.js';
import { TARGET, flush, handoffParams } from './helpers/setup.js';

const BS = 512;
/** SCSI Response flags (RFC 7143 §11.4.1): residual overflow / underflow. */
const O = 0x04;
const U = 0x02;

function write10(lba: number, blocks: number): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x2a;
  cdb.writeUInt32BE(lba, 2);
  cdb.writeUInt16BE(blocks, 7);
  return cdb;
}

async function start(immediateData = true) {
  const ctl = new Ctl();
  const lun = new MemLun(64);
  ctl.addLun(lun, 0);
  const frontend = new IscsiFrontend(ctl, { pingIntervalMs: 0, pingTimeoutMs: 0 });
  frontend.addTarget({ name: TARGET, portalGroupTag: 1, lunMap: null });
  const conn = new FakeIclConn();
  const session = frontend.handoff(conn, handoffParams({ immediateData }));
  let cmdSn = 10;
  conn.receive(scsiCommandPdu({ itt: 0x100, cmdSn: cmdSn++, edtl: 0, cdb: Buffer.alloc(6) }));
  await flush();
  return { lun, conn, session, nextCmdSn: () => cmdSn++ };
}

function response(conn: FakeIclConn, itt: number): SentPdu {
  const r = conn.sentOf(TargetOpcode.ScsiResponse).filter((p) => f.itt(p) === itt);
  expect(r).toHaveLength(1);
  return r[0]!;
}

/** Sense key / ASC / ASCQ from a SCSI Response's data segment (2-byte SenseLength + fixed sense). */
function sense(p: SentPdu): [number, number, number] {
  const s = p.data.subarray(2);
  return [s[2]! & 0x0f, s[12]!, s[13]!];
}

describe('write residuals with the real CTL (RFC 7143 §11.4.5.1)', () => {
  it('EDTL of one block for a two-block WRITE: GOOD, only that block written, overflow of one block', async () => {
    const env = await start();
    env.lun.data.fill(0x61, 0, 2 * BS);
    const data = Buffer.alloc(BS, 0x62);
    env.conn.receive(scsiCommandPdu({ itt: 1, cmdSn: env.nextCmdSn(), edtl: BS, write: true, cdb: write10(0, 2), data }));
    await flush();
    const r = response(env.conn, 1);
    expect(f.status(r)).toBe(0);
    expect(f.flags(r) & (O | U)).toBe(O);
    expect(f.word44(r)).toBe(BS);
    expect(env.lun.data.subarray(0, BS).every((b) => b === 0x62)).toBe(true);
    expect(env.lun.data.subarray(BS, 2 * BS).every((b) => b === 0x61)).toBe(true);
  });

  it('EDTL 0 for a one-block WRITE: GOOD, nothing written, overflow of one block', async () => {
    const env = await start();
    env.conn.receive(scsiCommandPdu({ itt: 2, cmdSn: env.nextCmdSn(), edtl: 0, write: true, cdb: write10(0, 1) }));
    await flush();
    const r = response(env.conn, 2);
    expect(f.status(r)).toBe(0);
    expect(f.flags(r) & (O | U)).toBe(O);
    expect(f.word44(r)).toBe(BS);
    expect(env.lun.writes).toBe(0);
    expect(env.conn.sentOf(TargetOpcode.R2t)).toHaveLength(0);
  });

  it('EDTL 200 for a one-block WRITE: INVALID FIELD IN COMMAND INFORMATION UNIT, overflow of 312', async () => {
    const env = await start();
    const data = pattern(200, 1);
    env.conn.receive(scsiCommandPdu({ itt: 3, cmdSn: env.nextCmdSn(), edtl: 200, write: true, cdb: write10(0, 1), data }));
    await flush();
    const r = response(env.conn, 3);
    expect(f.status(r)).toBe(0x02);
    expect(sense(r)).toEqual([0x05, 0x0e, 0x03]);
    expect(f.flags(r) & (O | U)).toBe(O);
    expect(f.word44(r)).toBe(BS - 200);
    expect(env.lun.writes).toBe(0);
  });

  it('EDTL 10000 for a one-block WRITE: GOOD, underflow of 10000 - 512', async () => {
    const env = await start();
    const data = pattern(BS, 2);
    env.conn.receive(scsiCommandPdu({ itt: 4, cmdSn: env.nextCmdSn(), edtl: 10000, write: true, cdb: write10(3, 1), data }));
    await flush();
    const r = response(env.conn, 4);
    expect(f.status(r)).toBe(0);
    expect(f.flags(r) & (O | U)).toBe(U);
    expect(f.word44(r)).toBe(10000 - BS);
    expect(env.lun.data.subarray(3 * BS, 4 * BS).equals(data)).toBe(true);
  });
});

describe('Data-Out DataSN errors with the real CTL (RFC 7143 §7.8/§7.9)', () => {
  it('CHECK CONDITION, ABORTED COMMAND / PROTOCOL SERVICE CRC ERROR; nothing written; the session stays', async () => {
    const env = await start(false);
    env.conn.receive(scsiCommandPdu({ itt: 5, cmdSn: env.nextCmdSn(), edtl: 2 * BS, write: true, cdb: write10(0, 2) }));
    await flush();
    const r2t = env.conn.sentOf(TargetOpcode.R2t)[0]!;
    const source = pattern(2 * BS, 3);
    env.conn.receive(dataOutPdu({ itt: 5, ttt: f.ttt(r2t), dataSn: 0, bufferOffset: 0, final: false, data: source.subarray(0, BS) }));
    env.conn.receive(dataOutPdu({ itt: 5, ttt: f.ttt(r2t), dataSn: 0, bufferOffset: BS, final: true, data: source.subarray(BS) }));
    await flush();
    const r = response(env.conn, 5);
    expect(f.status(r)).toBe(0x02);
    expect(sense(r)).toEqual([0x0b, 0x47, 0x05]);
    expect(env.lun.writes).toBe(0);
    expect(env.session.state).toBe(SessionState.Active);
  });
});
