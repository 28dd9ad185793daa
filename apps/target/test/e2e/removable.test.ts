// End-to-end: a LUN with `option removable on` in ctl.conf, over raw iSCSI
// sessions against the daemon started from its bin: INQUIRY RMB = 1, PREVENT
// ALLOW MEDIUM REMOVAL, START STOP UNIT eject/load, MEDIUM NOT PRESENT while
// ejected, prevention ended by the preventing session's logout; the LUN
// without the option next to it stays a plain disk.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  e2ePeer,
  freePort,
  rawClose,
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

const TARGET = 'iqn.2026-11.org.nodejs-iscsi:target0';
const HOST_A = 'iqn.2026-11.org.nodejs-iscsi:removable-a';
const HOST_B = 'iqn.2026-11.org.nodejs-iscsi:removable-b';

const INQUIRY = Buffer.from([0x12, 0, 0, 0, 96, 0]);
const prevent = (on: boolean): Buffer => Buffer.from([0x1e, 0, 0, 0, on ? 1 : 0, 0]);
const EJECT = Buffer.from([0x1b, 0, 0, 0, 0x02, 0]);
const LOAD = Buffer.from([0x1b, 0, 0, 0, 0x03, 0]);
const READ10 = Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]);

describe.skipIf(e2ePeer() !== undefined)('removable-medium LUN (ctl.conf option removable on)', () => {
  let target: TargetHandle;
  let dir: string;
  const host = '127.0.0.1';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iscsi-removable-e2e-'));
    const port = await freePort(host);
    const conf = join(dir, 'ctl.conf');
    writeFileSync(
      conf,
      `
portal-group pg0 { discovery-auth-group no-authentication; listen ${host}:${port} }
target ${TARGET} {
  auth-group no-authentication
  portal-group pg0
  lun 0 { backend ramdisk; size 8M; option removable on }
  lun 1 { backend ramdisk; size 8M }
}
`,
    );
    target = await startTarget({ host, port, args: ['-f', conf] });
  });
  afterAll(async () => {
    await target?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sessions the daemon has logged as terminating so far. */
  function terminations(): number {
    return target.logs.json().filter((l) => l['msg'] === 'session terminating').length;
  }

  async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > until) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async function login(name: string, isid: number): Promise<RawSession> {
    const s = await rawLogin(target.host, target.port, { initiatorName: name, isid: Buffer.from([0x80, 0, 0, 0, 0, isid]) });
    expect(s.fullFeature).toBe(true);
    expect((await rawTestUnitReady(s)).status).toBe(ScsiStatus.Good);
    expect((await rawTestUnitReady(s, { lun: 1 })).status).toBe(ScsiStatus.Good);
    return s;
  }

  it('reports RMB = 1 only on the removable LUN, and ejects/loads it under PREVENT ALLOW', async () => {
    const a = await login(HOST_A, 1);
    const inq0 = await rawScsiCommand(a, INQUIRY, { readLength: 96 });
    expect(inq0.data[1]).toBe(0x80);
    const inq1 = await rawScsiCommand(a, INQUIRY, { readLength: 96, lun: 1 });
    expect(inq1.data[1]).toBe(0x00);
    // The plain disk does not offer PREVENT ALLOW MEDIUM REMOVAL.
    const p1 = await rawScsiCommand(a, prevent(true), { lun: 1 });
    expect([p1.status, p1.senseKey, p1.asc, p1.ascq]).toEqual([ScsiStatus.CheckCondition, SenseKey.IllegalRequest, 0x20, 0x00]);

    expect((await rawScsiCommand(a, prevent(true))).status).toBe(ScsiStatus.Good);
    const refused = await rawScsiCommand(a, EJECT);
    expect([refused.status, refused.senseKey, refused.asc, refused.ascq]).toEqual([ScsiStatus.CheckCondition, SenseKey.IllegalRequest, 0x53, 0x02]);
    expect((await rawScsiCommand(a, prevent(false))).status).toBe(ScsiStatus.Good);
    expect((await rawScsiCommand(a, EJECT)).status).toBe(ScsiStatus.Good);
    const read = await rawScsiCommand(a, READ10, { readLength: 512 });
    expect([read.status, read.senseKey, read.asc, read.ascq]).toEqual([ScsiStatus.CheckCondition, SenseKey.NotReady, 0x3a, 0x02]);
    expect((await rawScsiCommand(a, LOAD)).status).toBe(ScsiStatus.Good);
    expect((await rawScsiCommand(a, READ10, { readLength: 512 })).status).toBe(ScsiStatus.Good);
    await rawLogout(a);
    rawClose(a);
  });

  it("a session's logout ends its prevention; the other session then may eject", async () => {
    const a = await login(HOST_A, 2);
    const b = await login(HOST_B, 3);
    expect((await rawScsiCommand(a, prevent(true))).status).toBe(ScsiStatus.Good);
    const refused = await rawScsiCommand(b, EJECT);
    expect([refused.status, refused.asc, refused.ascq]).toEqual([ScsiStatus.CheckCondition, 0x53, 0x02]);
    const ended = terminations();
    await rawLogout(a);
    rawClose(a);
    // The target ends the session (and with it the I_T nexus) right after the Logout
    // Response is written; its log line is emitted in that same synchronous step.
    await waitFor(() => terminations() > ended);
    expect((await rawScsiCommand(b, EJECT)).status).toBe(ScsiStatus.Good);
    expect((await rawScsiCommand(b, LOAD)).status).toBe(ScsiStatus.Good);
    await rawLogout(b);
    rawClose(b);
  });
});
