/**
 * The frontend against the real CTL core and an in-memory LUN: the
 * contracts between the two as they are actually implemented.
 */
import { RESERVED_TAG, TargetOpcode, TaskMgmtFunction, TaskMgmtResponse } from '@iscsi-target/icl-core';
import { Ctl } from '@iscsi-target/ctl-core';
import { describe, expect, it } from 'vitest';
import { IscsiFrontend, SessionState } from '../src/index.js';
import { FakeIclConn } from './helpers/fake-conn.js';
import { MemLun } from './helpers/mem-lun.js';
import { dataOutPdu, f, pattern, scsiCommandPdu, tmfPdu } from './helpers/pdus.js';
import { TARGET, flush, handoffParams } from './helpers/setup.js';

function rw(op: 0x28 | 0x2a, lba: number, blocks: number): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = op;
  cdb.writeUInt32BE(lba, 2);
  cdb.writeUInt16BE(blocks, 7);
  return cdb;
}

async function start() {
  const ctl = new Ctl();
  const lun = new MemLun(64);
  ctl.addLun(lun, 0);
  const frontend = new IscsiFrontend(ctl, { pingIntervalMs: 0, pingTimeoutMs: 0 });
  frontend.addTarget({ name: TARGET, portalGroupTag: 1, lunMap: null });
  const conn = new FakeIclConn();
  const session = frontend.handoff(conn, handoffParams({ immediateData: true }));
  let cmdSn = 10;
  // Consume the power-on unit attention with TEST UNIT READY.
  conn.receive(scsiCommandPdu({ itt: 0x100, cmdSn: cmdSn++, edtl: 0, cdb: Buffer.alloc(6) }));
  await flush();
  return { ctl, lun, frontend, conn, session, nextCmdSn: () => cmdSn++ };
}

describe('with the real CTL', () => {
  it('WRITE (immediate data + R2T, Views) then READ back (no-copy, status in the final Data-In)', async () => {
    const env = await start();
    const source = pattern(16 * 512, 11);
    env.conn.receive(
      scsiCommandPdu({ itt: 1, cmdSn: env.nextCmdSn(), edtl: source.length, write: true, cdb: rw(0x2a, 8, 16), data: source.subarray(0, 4096) }),
    );
    await flush();
    const r2t = env.conn.sentOf(TargetOpcode.R2t)[0]!;
    expect([f.bufferOffset(r2t), f.word44(r2t)]).toEqual([4096, 4096]);
    env.conn.receive(dataOutPdu({ itt: 1, ttt: f.ttt(r2t), dataSn: 0, bufferOffset: 4096, final: true, data: source.subarray(4096) }));
    await flush();
    const wrsp = env.conn.sentOf(TargetOpcode.ScsiResponse).filter((p) => f.itt(p) === 1);
    expect(wrsp.map(f.status)).toEqual([0]);
    expect(env.lun.data.subarray(8 * 512, 24 * 512).equals(source)).toBe(true);

    env.conn.receive(scsiCommandPdu({ itt: 2, cmdSn: env.nextCmdSn(), edtl: source.length, read: true, cdb: rw(0x28, 8, 16) }));
    await flush();
    const dataIn = env.conn.sentOf(TargetOpcode.DataIn);
    expect(Buffer.concat(dataIn.map((p) => p.data)).equals(source)).toBe(true);
    expect(f.flags(dataIn[dataIn.length - 1]!) & 0x01).toBe(0x01);
    expect(env.conn.sentOf(TargetOpcode.ScsiResponse).filter((p) => f.itt(p) === 2)).toHaveLength(0);
    expect(env.lun.ref.count).toBe(1);
    env.conn.completeAll();
    expect(env.lun.ref.count).toBe(0);
  });

  it('ABORT TASK of a write waiting for Data-Out completes (CTL waits for the aborted command) and writes nothing', async () => {
    const env = await start();
    env.conn.receive(scsiCommandPdu({ itt: 5, cmdSn: env.nextCmdSn(), edtl: 4096, write: true, cdb: rw(0x2a, 0, 8) }));
    await flush();
    const r2t = env.conn.sentOf(TargetOpcode.R2t)[0]!;
    expect(f.ttt(r2t)).not.toBe(RESERVED_TAG);
    env.conn.receive(tmfPdu({ fn: TaskMgmtFunction.AbortTask, itt: 6, rtt: 5, cmdSn: env.nextCmdSn(), refCmdSn: 11 }));
    for (let i = 0; i < 5; i++) await flush();
    const rsp = env.conn.sentOf(TargetOpcode.TaskManagementResponse);
    expect(rsp.map(f.byte2)).toEqual([TaskMgmtResponse.FunctionComplete]);
    expect(env.conn.sentOf(TargetOpcode.ScsiResponse).filter((p) => f.itt(p) === 5)).toHaveLength(0);
    expect(env.lun.writes).toBe(0);
    expect(env.session.outstanding).toBe(0);
    // Late data for the aborted R2T is dropped quietly.
    env.conn.receive(dataOutPdu({ itt: 5, ttt: f.ttt(r2t), dataSn: 0, bufferOffset: 0, final: true, data: pattern(4096) }));
    expect(env.session.state).toBe(SessionState.Active);
  });

  it('terminating with a write waiting for Data-Out drains and frees the connection', async () => {
    const env = await start();
    env.conn.receive(scsiCommandPdu({ itt: 7, cmdSn: env.nextCmdSn(), edtl: 4096, write: true, cdb: rw(0x2a, 0, 8) }));
    await flush();
    expect(env.session.outstanding).toBe(1);
    env.session.terminate('test');
    await env.session.closed;
    expect(env.conn.freed).toBe(true);
    expect(env.lun.writes).toBe(0);
  });
});
