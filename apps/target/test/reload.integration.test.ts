// Live reload of a running TargetDaemon (in process, over loopback TCP with
// the raw test client): only the difference is applied; sessions of
// unchanged targets survive; removed targets' sessions get the logout
// request (RFC 7143 §11.9.1); resizes raise CAPACITY DATA HAS CHANGED; an
// invalid reload changes nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  canConnect,
  freePort,
  Opcode,
  rawLogin,
  rawScsiCommand,
  rawTestUnitReady,
  readPdu,
  waitForClose,
  type RawSession,
} from '@iscsi-target/test-utils';
import { parseConfig, type DaemonConfig } from '../src/config.js';
import { TargetDaemon } from '../src/daemon.js';
import { ReloadError } from '../src/reload/report.js';

const T0 = 'iqn.2026-11.org.nodejs-iscsi:reload0';
const T1 = 'iqn.2026-11.org.nodejs-iscsi:reload1';

const dir = mkdtempSync(join(tmpdir(), 'iscsi-target-reload-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Portals given without a port get an ephemeral one (the file syntax has no port 0). */
function ephemeral(config: DaemonConfig): DaemonConfig {
  const portalGroups = new Map(
    [...config.portalGroups].map(([n, pg]) => [n, { ...pg, listen: pg.listen.map((l) => (l.port === 3260 ? { ...l, port: 0 } : l)) }]),
  );
  return { ...config, portalGroups };
}

interface Shape {
  t0Luns?: string;
  t1?: boolean;
  extraListen?: string;
  globals?: string;
}

function conf(s: Shape = {}): DaemonConfig {
  const text = `${s.globals ?? ''}
portal-group pg0 {
  discovery-auth-group no-authentication
  listen 127.0.0.1
  ${s.extraListen !== undefined ? `listen ${s.extraListen}` : ''}
}
target ${T0} {
  auth-group no-authentication
  portal-group pg0
  ${s.t0Luns ?? 'lun 0 { backend ramdisk; size 4M }'}
}
${s.t1 === true ? `target ${T1} { auth-group no-authentication; portal-group pg0; lun 0 { backend ramdisk; size 2M } }` : ''}
`;
  return ephemeral(parseConfig(text, join(dir, 'ctl.conf')));
}

const daemons: TargetDaemon[] = [];
const sessions: RawSession[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.socket.destroy();
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
});

async function start(config: DaemonConfig, stopGraceMs = 1000): Promise<{ daemon: TargetDaemon; port: number }> {
  const daemon = new TargetDaemon(config, { stopGraceMs });
  daemons.push(daemon);
  await daemon.start();
  return { daemon, port: daemon.portals()[0]!.port };
}

async function login(port: number, targetName: string): Promise<RawSession> {
  const s = await rawLogin('127.0.0.1', port, { targetName });
  sessions.push(s);
  expect(s.fullFeature).toBe(true);
  // Consume the POWER ON unit attention of the new I_T nexus.
  expect((await rawTestUnitReady(s)).status).toBe(0);
  return s;
}

const TUR = Buffer.alloc(6);
function reportLuns(): Buffer {
  const cdb = Buffer.alloc(12);
  cdb[0] = 0xa0;
  cdb.writeUInt32BE(4096, 6);
  return cdb;
}
function readCapacity16(): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x9e;
  cdb[1] = 0x10;
  cdb.writeUInt32BE(32, 10);
  return cdb;
}
/** LUN numbers in REPORT LUNS parameter data (peripheral addressing, SAM-5 §4.7). */
function lunsOf(data: Buffer): number[] {
  const n = data.readUInt32BE(0) / 8;
  return Array.from({ length: n }, (_, i) => data.readUInt16BE(8 + i * 8) & 0x3fff);
}

describe('TargetDaemon.reload', () => {
  it('adds a LUN and a target; the unchanged target keeps its session (same TSIH, same connection)', async () => {
    const { daemon, port } = await start(conf());
    const s = await login(port, T0);
    const before = daemon.sessionList();
    expect(before).toHaveLength(1);

    const r = await daemon.reload(conf({ t0Luns: 'lun 0 { backend ramdisk; size 4M }\n lun 1 { backend ramdisk; size 1M }', t1: true }));
    expect(r.changed).toBe(true);
    expect(r.errors).toEqual([]);
    expect(r.actions).toEqual([
      `lun "${T0},lun,1": added (CTL LUN 1)`,
      `lun "${T1},lun,0": added (CTL LUN 2)`,
      `target ${T0} (tag 1): LUN map updated`,
      `target ${T1} (tag 1): added`,
    ]);

    // Same session: first command reports REPORTED LUNS DATA HAS CHANGED (SPC-4: 06h/3Fh/0Eh).
    const ua = await rawScsiCommand(s, TUR);
    expect([ua.status, ua.senseKey, ua.asc, ua.ascq]).toEqual([2, 6, 0x3f, 0x0e]);
    const rl = await rawScsiCommand(s, reportLuns(), { readLength: 4096 });
    expect(rl.status).toBe(0);
    expect(lunsOf(rl.data)).toEqual([0, 1]);
    const after = daemon.sessionList();
    expect(after.map((x) => [x.id, x.tsih, x.state])).toEqual(before.map((x) => [x.id, x.tsih, 'active']));
    expect(s.socket.destroyed).toBe(false);

    // The new target accepts logins.
    const s1 = await login(port, T1);
    expect(s1.tsih).not.toBe(s.tsih);
  });

  it('a target added next to a running one does not disturb it (no unit attention on the unchanged target)', async () => {
    const { daemon, port } = await start(conf());
    const s = await login(port, T0);
    const r = await daemon.reload(conf({ t1: true }));
    expect(r.actions).toEqual([`lun "${T1},lun,0": added (CTL LUN 1)`, `target ${T1} (tag 1): added`]);
    expect((await rawScsiCommand(s, TUR)).status).toBe(0);
    const rl = await rawScsiCommand(s, reportLuns(), { readLength: 4096 });
    expect(lunsOf(rl.data)).toEqual([0]);
  });

  it('asks the sessions of a removed target to log out (AsyncEvent 1, Parameter3 = grace), then drops them', async () => {
    const { daemon, port } = await start(conf({ t1: true }), 1000);
    const s0 = await login(port, T0);
    const s1 = await login(port, T1);
    const reloading = daemon.reload(conf());
    const msg = await readPdu(s1.socket, 5000);
    expect(msg.opcode).toBe(Opcode.AsyncMessage);
    // RFC 7143 §11.9.1: AsyncEvent (byte 36) 1 = target requests Logout; Parameter3 (bytes 42-43) = seconds.
    expect(msg.bhs[36]).toBe(1);
    expect(msg.bhs.readUInt16BE(42)).toBe(1);
    // The initiator does not log out: the session is dropped after the grace period.
    expect((await waitForClose(s1.socket, 5000)).closed).toBe(true);
    const r = await reloading;
    expect(r.actions).toContain(`target ${T1} (tag 1): removed; 1 session(s) asked to log out within 1 s`);
    expect(r.actions).toContain(`lun "${T1},lun,0": removed (CTL LUN 1)`);
    expect(daemon.lunList().map((l) => l.name)).toEqual([`${T0},lun,0`]);
    // The other target is untouched: its inventory did not change, so no unit attention (SPC-4 §6.33).
    expect((await rawScsiCommand(s0, TUR)).status).toBe(0);
    const t1Login = await rawLogin('127.0.0.1', port, { targetName: T1 });
    sessions.push(t1Login);
    expect(t1Login.fullFeature).toBe(false);
    expect(t1Login.status).toBe(0x0203); // Not Found (RFC 7143 §11.13.5)
  });

  it('resizes a LUN live and raises CAPACITY DATA HAS CHANGED', async () => {
    const { daemon, port } = await start(conf());
    const s = await login(port, T0);
    const r = await daemon.reload(conf({ t0Luns: 'lun 0 { backend ramdisk; size 8M }' }));
    expect(r.actions).toEqual([`lun "${T0},lun,0": resized 4 MiB → 8 MiB`]);
    const ua = await rawScsiCommand(s, TUR);
    // SBC-3 §4.6 / SPC-4 Annex: CAPACITY DATA HAS CHANGED 06h/2Ah/09h.
    expect([ua.status, ua.senseKey, ua.asc, ua.ascq]).toEqual([2, 6, 0x2a, 0x09]);
    const rc = await rawScsiCommand(s, readCapacity16(), { readLength: 32 });
    expect(rc.status).toBe(0);
    expect(Number(rc.data.readBigUInt64BE(0))).toBe((8 * 1024 * 1024) / 512 - 1);
    expect(rc.data.readUInt32BE(8)).toBe(512);
    expect(daemon.sessionList()).toHaveLength(1);
  });

  it('applies a change that cannot be made live (block size) as remove + add, and says so', async () => {
    const { daemon } = await start(conf());
    const r = await daemon.reload(conf({ t0Luns: 'lun 0 { backend ramdisk; size 4M; blocksize 4096 }' }));
    expect(r.actions[0]).toBe(`lun "${T0},lun,0": blockSize changed, which cannot be applied live: removed and added again (CTL LUN 1)`);
    expect(daemon.lunList().map((l) => [l.name, l.ctlLun, l.blockSize])).toEqual([[`${T0},lun,0`, 1, 4096]]);
  });

  it('a new backing path is remove + add: the initiator sees the other file\'s data', async () => {
    const f1 = join(dir, 'one.img');
    const f2 = join(dir, 'two.img');
    writeFileSync(f1, Buffer.alloc(1024 * 1024, 0x11));
    writeFileSync(f2, Buffer.alloc(1024 * 1024, 0x22));
    const { daemon, port } = await start(conf({ t0Luns: `lun 0 { path ${f1} }` }));
    const s = await login(port, T0);
    const read = Buffer.alloc(10);
    read[0] = 0x28;
    read.writeUInt16BE(1, 7);
    expect((await rawScsiCommand(s, read, { readLength: 512 })).data[0]).toBe(0x11);
    const r = await daemon.reload(conf({ t0Luns: `lun 0 { path ${f2} }` }));
    expect(r.actions).toEqual([
      `lun "${T0},lun,0": path changed, which cannot be applied live: removed and added again (CTL LUN 1)`,
      `target ${T0} (tag 1): LUN map updated`,
    ]);
    // The new LUN starts with POWER ON, REPORTED LUNS DATA HAS CHANGED was superseded by it.
    const ua = await rawScsiCommand(s, TUR);
    expect([ua.status, ua.senseKey, ua.asc, ua.ascq]).toEqual([2, 6, 0x29, 0x00]);
    expect((await rawScsiCommand(s, read, { readLength: 512 })).data[0]).toBe(0x22);
    expect(daemon.sessionList()).toHaveLength(1);
  });

  it('login-time target settings apply to new logins; the running session continues', async () => {
    const { daemon, port } = await start(conf());
    const s = await login(port, T0);
    const denied = parseConfig(
      `portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1 }\ntarget ${T0} { auth-type deny; portal-group pg0; lun 0 { backend ramdisk; size 4M } }`,
      join(dir, 'ctl.conf'),
    );
    const r = await daemon.reload(ephemeral(denied));
    expect(r.actions).toEqual([`target ${T0}: auth, authGroup changed (applies to new logins; running sessions continue)`]);
    expect((await rawScsiCommand(s, TUR)).status).toBe(0);
    const refused = await rawLogin('127.0.0.1', port, { targetName: T0 });
    sessions.push(refused);
    expect(refused.fullFeature).toBe(false);
    expect(refused.status).toBe(0x0201); // Authentication failure (RFC 7143 §11.13.5)
  });

  it('opens new portals and closes removed ones; sessions on the kept portal survive', async () => {
    const { daemon, port } = await start(conf());
    const s = await login(port, T0);
    const extra = await freePort('127.0.0.1');
    let r = await daemon.reload(conf({ extraListen: `127.0.0.1:${extra}` }));
    expect(r.actions).toEqual([`listening on 127.0.0.1:${extra} (portal group pg0, tag 1)`]);
    expect(await canConnect('127.0.0.1', extra, 1000)).toBe(true);
    const viaExtra = await login(extra, T0);
    r = await daemon.reload(conf());
    expect(r.actions).toEqual([`stopped listening on 127.0.0.1:${extra} (portal group pg0)`]);
    expect(await canConnect('127.0.0.1', extra, 500)).toBe(false);
    // Closing a portal does not end the sessions that came through it.
    expect((await rawScsiCommand(viaExtra, TUR)).status).toBe(0);
    expect((await rawScsiCommand(s, TUR)).status).toBe(0);
  });

  it('refuses an invalid reload and changes nothing (missing LUN file, busy ctl-lun, port in use)', async () => {
    const { daemon, port } = await start(conf());
    const s = await login(port, T0);
    const running = daemon.config;
    const extra = await freePort('127.0.0.1');
    const missing = join(dir, 'does-not-exist.img');
    // A new portal and a LUN that cannot be opened: the portal must not stay open.
    await expect(daemon.reload(conf({ extraListen: `127.0.0.1:${extra}`, t0Luns: `lun 0 { backend ramdisk; size 4M }\n lun 1 { path ${missing} }` }))).rejects.toThrow(
      new ReloadError(`${join(dir, 'ctl.conf')}:11:6: lun "${T0},lun,1": ${missing} does not exist (create it first, e.g. truncate -s SIZE ${missing})`),
    );
    expect(daemon.config).toBe(running);
    expect(await canConnect('127.0.0.1', extra, 500)).toBe(false);
    await expect(daemon.reload(conf({ t0Luns: 'lun 0 { backend ramdisk; size 4M }\n lun 1 { backend ramdisk; size 1M; ctl-lun 0 }' }))).rejects.toThrow(
      /lun "iqn\.2026-11\.org\.nodejs-iscsi:reload0,lun,1": ctl-lun 0 is in use by another LUN/,
    );
    await expect(daemon.reload(conf({ extraListen: `127.0.0.1:${port}` }))).rejects.toThrow(/portal-group "pg0": cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    expect(daemon.config).toBe(running);
    expect(daemon.lunList().map((l) => l.name)).toEqual([`${T0},lun,0`]);
    expect(daemon.portals()).toHaveLength(1);
    expect((await rawScsiCommand(s, TUR)).status).toBe(0);
  });

  it('an identical configuration is no change; global settings are reported', async () => {
    const { daemon } = await start(conf());
    expect(await daemon.reload(conf())).toMatchObject({ changed: false, actions: [] });
    const r = await daemon.reload(conf({ globals: 'timeout 30\nmaxproc 5\npidfile /tmp/x.pid' }));
    expect(r.actions).toEqual(['timeout: 60 → 30', 'maxproc: 30 → 5']);
    expect(r.deferred).toEqual(['pidfile null → "/tmp/x.pid": takes effect at the next start']);
    expect(daemon.config.maxproc).toBe(5);
  });
});
