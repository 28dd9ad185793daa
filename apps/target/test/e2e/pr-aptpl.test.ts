// End-to-end: persistent reservations with APTPL survive a restart of the
// daemon (SPC-4 §5.13.5); without APTPL they do not. Raw iSCSI sessions send
// PERSISTENT RESERVE OUT/IN to the embedded default LUN, whose backing file
// lives in a data directory kept across the two daemon runs.
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  e2ePeer,
  rawClose,
  rawLogin,
  rawLogout,
  rawScsiCommand,
  rawTestUnitReady,
  ScsiStatus,
  startTarget,
  type RawSession,
  type TargetHandle,
} from '@iscsi-target/test-utils';

const HOST_A = 'iqn.2026-11.org.nodejs-iscsi:pr-host-a';
const HOST_B = 'iqn.2026-11.org.nodejs-iscsi:pr-host-b';
const ISID_A = Buffer.from([0x80, 0, 0, 0, 0, 0x0a]);
const ISID_B = Buffer.from([0x80, 0, 0, 0, 0, 0x0b]);
const KEY_A = 0x1122334455667788n;
const TYPE_WE = 0x1;

function prout(sa: number, type: number, key: bigint, saKey: bigint, aptpl: boolean): { cdb: Buffer; data: Buffer } {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x5f;
  cdb[1] = sa;
  cdb[2] = type;
  cdb.writeUInt32BE(24, 5);
  const data = Buffer.alloc(24);
  data.writeBigUInt64BE(key, 0);
  data.writeBigUInt64BE(saKey, 8);
  data[20] = aptpl ? 0x01 : 0x00;
  return { cdb, data };
}

function prin(sa: number, alloc = 512): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x5e;
  cdb[1] = sa;
  cdb.writeUInt16BE(alloc, 7);
  return cdb;
}

async function login(t: TargetHandle, name: string, isid: Buffer): Promise<RawSession> {
  const s = await rawLogin(t.host, t.port, { initiatorName: name, isid });
  expect(s.fullFeature).toBe(true);
  expect((await rawTestUnitReady(s)).status).toBe(ScsiStatus.Good);
  return s;
}

async function send(s: RawSession, c: { cdb: Buffer; data: Buffer }): Promise<number> {
  return (await rawScsiCommand(s, c.cdb, { dataOut: c.data })).status;
}

async function write10(s: RawSession): Promise<number> {
  const cdb = Buffer.from([0x2a, 0, 0, 0, 0, 0x10, 0, 0, 1, 0]);
  return (await rawScsiCommand(s, cdb, { dataOut: Buffer.alloc(512, 0x5a) })).status;
}

describe.skipIf(e2ePeer() !== undefined)('persistent reservations across a daemon restart', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-pr-'));
  const prFile = path.join(dataDir, 'lun0.img.pr.json');
  let target: TargetHandle | undefined;
  afterAll(async () => {
    await target?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('REGISTER (APTPL=1) + RESERVE survive SIGTERM and a new start; APTPL=0 clears the file', async () => {
    target = await startTarget({ dataDir });
    let a = await login(target, HOST_A, ISID_A);
    // REPORT CAPABILITIES: PTPL_C = 1 on a file-backed LUN, PTPL_A = 0 before any APTPL.
    let caps = await rawScsiCommand(a, prin(0x02, 8), { readLength: 8 });
    expect(caps.status).toBe(ScsiStatus.Good);
    expect(caps.data[2]! & 0x01).toBe(1);
    expect(caps.data[3]! & 0x01).toBe(0);
    expect(await send(a, prout(0x00, 0, 0n, KEY_A, true))).toBe(ScsiStatus.Good);
    expect(await send(a, prout(0x01, TYPE_WE, KEY_A, 0n, false))).toBe(ScsiStatus.Good);
    expect(existsSync(prFile)).toBe(true);
    await rawLogout(a);
    rawClose(a);
    expect(await target.stop()).toBe(0);

    target = await startTarget({ dataDir });
    a = await login(target, HOST_A, ISID_A);
    const b = await login(target, HOST_B, ISID_B);
    const keys = await rawScsiCommand(a, prin(0x00), { readLength: 512 });
    expect(keys.status).toBe(ScsiStatus.Good);
    // PRGENERATION 1 (one REGISTER; RESERVE does not count), one key.
    expect(keys.data.readUInt32BE(0)).toBe(1);
    expect(keys.data.readUInt32BE(4)).toBe(8);
    expect(keys.data.readBigUInt64BE(8)).toBe(KEY_A);
    const res = await rawScsiCommand(a, prin(0x01), { readLength: 512 });
    expect(res.data.readUInt32BE(4)).toBe(16);
    expect(res.data.readBigUInt64BE(8)).toBe(KEY_A);
    expect(res.data[21]).toBe(TYPE_WE);
    caps = await rawScsiCommand(a, prin(0x02, 8), { readLength: 8 });
    expect(caps.data[3]! & 0x01).toBe(1); // PTPL_A
    // The restored holder is the same I_T nexus (initiator port name + target port): it may
    // write; another initiator gets RESERVATION CONFLICT under Write Exclusive.
    expect(await write10(a)).toBe(ScsiStatus.Good);
    expect(await write10(b)).toBe(ScsiStatus.ReservationConflict);

    // Re-registering with APTPL = 0 (REGISTER AND IGNORE EXISTING KEY) turns persistence off.
    expect(await send(a, prout(0x06, 0, 0n, KEY_A, false))).toBe(ScsiStatus.Good);
    expect(existsSync(prFile)).toBe(false);
    await rawLogout(a);
    await rawLogout(b);
    rawClose(a);
    rawClose(b);
    expect(await target.stop()).toBe(0);

    target = await startTarget({ dataDir });
    a = await login(target, HOST_A, ISID_A);
    const empty = await rawScsiCommand(a, prin(0x00), { readLength: 512 });
    expect(empty.data.readUInt32BE(4)).toBe(0);
    await rawLogout(a);
    rawClose(a);
  }, 60_000);
});
