/**
 * The command observer against the real CTL and an in-memory LUN: one
 * record per finished SCSI command with the right session, LUN, opcode,
 * payload bytes and outcome; an observer that throws does not break I/O.
 */
import { TargetOpcode } from '@iscsi-target/icl-core';
import { Ctl } from '@iscsi-target/ctl-core';
import { describe, expect, it } from 'vitest';
import { CommandOutcome, IscsiFrontend, type CommandObserver, type CommandRecord } from '../src/index.js';
import { FakeIclConn } from './helpers/fake-conn.js';
import { MemLun } from './helpers/mem-lun.js';
import { dataOutPdu, f, pattern, scsiCommandPdu } from './helpers/pdus.js';
import { INITIATOR, TARGET, flush, handoffParams } from './helpers/setup.js';

function rw(op: 0x28 | 0x2a, lba: number, blocks: number): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = op;
  cdb.writeUInt32BE(lba, 2);
  cdb.writeUInt16BE(blocks, 7);
  return cdb;
}

function start(observer: CommandObserver) {
  const ctl = new Ctl();
  ctl.addLun(new MemLun(64), 0);
  const frontend = new IscsiFrontend(ctl, { pingIntervalMs: 0, pingTimeoutMs: 0, commandObserver: observer });
  frontend.addTarget({ name: TARGET, portalGroupTag: 1, lunMap: null });
  const conn = new FakeIclConn();
  const session = frontend.handoff(conn, handoffParams({ immediateData: true }));
  let cmdSn = 10;
  return { conn, session, nextCmdSn: () => cmdSn++ };
}

describe('command observer', () => {
  it('reports each finished command once, with bytes, outcome and latency', async () => {
    const records: CommandRecord[] = [];
    const env = start({ commandDone: (r) => records.push(r) });
    // TEST UNIT READY: CHECK CONDITION (power-on unit attention).
    env.conn.receive(scsiCommandPdu({ itt: 1, cmdSn: env.nextCmdSn(), edtl: 0, cdb: Buffer.alloc(6) }));
    await flush();
    const source = pattern(8 * 512, 3);
    env.conn.receive(scsiCommandPdu({ itt: 2, cmdSn: env.nextCmdSn(), edtl: source.length, write: true, cdb: rw(0x2a, 0, 8), data: source.subarray(0, 1024) }));
    await flush();
    const r2t = env.conn.sentOf(TargetOpcode.R2t)[0]!;
    env.conn.receive(dataOutPdu({ itt: 2, ttt: f.ttt(r2t), dataSn: 0, bufferOffset: 1024, final: true, data: source.subarray(1024) }));
    await flush();
    env.conn.receive(scsiCommandPdu({ itt: 3, cmdSn: env.nextCmdSn(), edtl: source.length, read: true, cdb: rw(0x28, 0, 8) }));
    await flush();
    env.conn.completeAll();

    expect(records.map((r) => [r.opcode, r.outcome, r.scsiStatus, r.dataInBytes, r.dataOutBytes])).toEqual([
      [0x00, CommandOutcome.Error, 0x02, 0, 0],
      [0x2a, CommandOutcome.Good, 0x00, 0, 4096],
      [0x28, CommandOutcome.Good, 0x00, 4096, 0],
    ]);
    for (const r of records) {
      expect(r.sessionId).toBe(env.session.id);
      expect(r.targetName).toBe(TARGET);
      expect(r.initiatorName).toBe(INITIATOR);
      expect(r.lun).toBe(0);
      expect(r.latencyMs).toBeGreaterThanOrEqual(0);
      expect(r.latencyMs).toBeLessThan(10_000);
    }
  });

  it('an observer that throws changes nothing for the initiator', async () => {
    const env = start({
      commandDone: () => {
        throw new Error('broken metrics');
      },
    });
    env.conn.receive(scsiCommandPdu({ itt: 1, cmdSn: env.nextCmdSn(), edtl: 0, cdb: Buffer.alloc(6) }));
    await flush();
    env.conn.receive(scsiCommandPdu({ itt: 2, cmdSn: env.nextCmdSn(), edtl: 512, read: true, cdb: rw(0x28, 0, 1) }));
    await flush();
    expect(env.conn.sentOf(TargetOpcode.DataIn).filter((p) => f.itt(p) === 2)).toHaveLength(1);
    expect(env.session.outstanding).toBe(0);
  });
});
