// End-to-end: a broken or hostile client sends garbage, unknown opcodes,
// oversized data segments and nonsense login keys over raw sockets. Each case
// asserts the exact answer the RFC asks for, then proves that a second,
// well-behaved session (raw login + TEST UNIT READY + logout) still works and
// that the daemon process is alive.
//
// Expected answers (RFC 7143):
// - bytes that are not a Login Request as the first PDU: the connection is
//   dropped without a Login Response (§6.3: the first PDU must be a Login Request);
// - an unknown opcode in Full Feature Phase: a Reject with reason 0x05
//   "Command not supported" carrying the rejected header (§11.17.1); opcode
//   values are explicitly excluded from format errors (§7.6 "Format Errors"),
//   so the connection stays up;
// - a data segment longer than the target's declared MaxRecvDataSegmentLength:
//   a protocol error (§13.12); at ErrorRecoveryLevel 0 the connection is dropped;
// - login text that violates §6.1 (a non-numeric numerical value, a key
//   without '=', a key name longer than 63 characters): Login Response
//   0x0200 "Initiator error" (§11.13.5), then the connection closes;
// - an unknown TargetName: 0x0203 "Not found"; VersionMin above every version
//   the target supports: 0x0205 "Unsupported version"; no InitiatorName:
//   0x0207 "Missing parameter" (§11.13.5); after any non-zero status both
//   sides close the connection (§11.13.5).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FINAL_BIT,
  LoginStatus,
  newBhs,
  Opcode,
  rawClose,
  rawConnect,
  rawLogin,
  rawLogout,
  rawTestUnitReady,
  readPdu,
  RejectReason,
  RESERVED_TAG,
  sendPdu,
  startTarget,
  waitForClose,
  writeRaw,
  type RawLoginOptions,
  type TargetHandle,
} from '@iscsi-target/test-utils';

let target: TargetHandle;
beforeAll(async () => {
  target = await startTarget();
});
afterAll(async () => {
  await target?.stop();
});

/** A second, well-behaved session works and the daemon is alive. */
async function expectHealthy(): Promise<void> {
  expect(target.alive(), target.logs.text()).toBe(true);
  const s = await rawLogin(target.host, target.port);
  expect(s.status).toBe(LoginStatus.Success);
  expect(s.fullFeature).toBe(true);
  const tur = await rawTestUnitReady(s, { lun: target.wireLun(0) });
  expect(tur.status, `sense key ${tur.senseKey} asc ${tur.asc}`).toBe(0);
  expect(await rawLogout(s)).toBe(0);
  expect(target.alive()).toBe(true);
}

describe('bad input before login', () => {
  it('drops a connection whose first bytes are garbage, without a Login Response', async () => {
    const socket = await rawConnect(target.host, target.port);
    // Opcode 0x3f with the I bit, every field all-ones: not a Login Request.
    await writeRaw(socket, [Buffer.alloc(48, 0xff), randomBytes(1024)]).catch(() => {});
    const seen = await waitForClose(socket);
    socket.destroy();
    expect(seen.closed).toBe(true);
    expect(seen.pdus.filter((p) => p.opcode === Opcode.LoginResponse && p.bhs[36] === 0)).toEqual([]);
    await expectHealthy();
  });

  it('closes a connection that sends half a BHS and then ends', async () => {
    const socket = await rawConnect(target.host, target.port);
    const bhs = newBhs({ opcode: Opcode.LoginRequest, immediate: true, flags: 0x87 });
    await writeRaw(socket, [bhs.subarray(0, 20)]);
    socket.end();
    const seen = await waitForClose(socket);
    socket.destroy();
    expect(seen.closed).toBe(true);
    expect(seen.pdus).toEqual([]);
    await expectHealthy();
  });
});

describe('bad input in Full Feature Phase', () => {
  it('answers an unknown opcode with Reject 0x05 and keeps the session usable', async () => {
    const s = await rawLogin(target.host, target.port);
    expect(s.fullFeature).toBe(true);
    const itt = s.nextTag++;
    // 0x0f is a reserved initiator opcode (RFC 7143 §11.2.1.2); sent as immediate so it consumes no CmdSN.
    const bhs = newBhs({ opcode: 0x0f, immediate: true, flags: FINAL_BIT, initiatorTaskTag: itt });
    bhs.writeUInt32BE(s.cmdSn, 24);
    bhs.writeUInt32BE(s.expStatSn, 28);
    const sent = Buffer.from(bhs);
    await sendPdu(s.socket, bhs);
    const rej = await readPdu(s.socket, 5_000);
    expect(rej.opcode).toBe(Opcode.Reject);
    expect(rej.bhs[2]).toBe(RejectReason.CommandNotSupported);
    expect(rej.bhs.readUInt32BE(16)).toBe(RESERVED_TAG); // RFC 7143 §11.17: ITT reserved
    // The data segment is the complete header of the rejected PDU (RFC 7143 §11.17).
    expect(rej.data.subarray(0, 48).equals(sent)).toBe(true);
    s.expStatSn = (rej.bhs.readUInt32BE(24) + 1) >>> 0;
    const tur = await rawTestUnitReady(s, { lun: target.wireLun(0) });
    expect(tur.status).toBe(0);
    expect(await rawLogout(s)).toBe(0);
    await expectHealthy();
  });

  it('drops the connection when a data segment exceeds the declared MaxRecvDataSegmentLength', async () => {
    const s = await rawLogin(target.host, target.port);
    expect(s.fullFeature).toBe(true);
    const itt = s.nextTag++;
    const tooLong = s.targetMaxRecvDataSegmentLength + 4096;
    // A NOP-Out ping whose ping data is longer than the target said it can receive.
    const bhs = newBhs({ opcode: Opcode.NopOut, immediate: true, flags: FINAL_BIT, initiatorTaskTag: itt });
    bhs.writeUInt32BE(RESERVED_TAG, 20);
    bhs.writeUInt32BE(s.cmdSn, 24);
    bhs.writeUInt32BE(s.expStatSn, 28);
    await sendPdu(s.socket, bhs, randomBytes(tooLong)).catch(() => {}); // the target may reset mid-write
    const seen = await waitForClose(s.socket);
    rawClose(s);
    expect(seen.closed).toBe(true);
    expect(seen.pdus.filter((p) => p.opcode === Opcode.NopIn)).toEqual([]);
    await expectHealthy();
  });
});

describe('nonsense login requests', () => {
  const cases: { name: string; options: RawLoginOptions; status: number }[] = [
    { name: 'a non-numeric MaxRecvDataSegmentLength', options: { keys: [['MaxRecvDataSegmentLength', 'lots']] }, status: LoginStatus.InitiatorError },
    { name: "a key without '='", options: { keys: ['HeaderDigestNone'] }, status: LoginStatus.InitiatorError },
    { name: 'a 4096-character key name', options: { keys: [['A'.repeat(4096), 'Yes']] }, status: LoginStatus.InitiatorError },
    { name: 'an unknown TargetName', options: { targetName: 'iqn.2026-11.org.nodejs-iscsi:no-such-target' }, status: LoginStatus.NotFound },
    { name: 'VersionMin 2', options: { versionMax: 2, versionMin: 2 }, status: LoginStatus.UnsupportedVersion },
    { name: 'no InitiatorName', options: { initiatorName: null }, status: LoginStatus.MissingParameter },
  ];
  for (const c of cases) {
    it(`refuses ${c.name} with status 0x${c.status.toString(16).padStart(4, '0')} and closes`, async () => {
      const s = await rawLogin(target.host, target.port, c.options);
      expect(s.fullFeature).toBe(false);
      expect(`0x${s.status.toString(16).padStart(4, '0')}`).toBe(`0x${c.status.toString(16).padStart(4, '0')}`);
      const seen = await waitForClose(s.socket);
      rawClose(s);
      expect(seen.closed).toBe(true);
      await expectHealthy();
    });
  }
});
