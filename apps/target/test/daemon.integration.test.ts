import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  BHS_SIZE,
  decodeBhs,
  Flag,
  InitiatorOpcode,
  parseTextKeys,
  ScsiCommandBhs,
  type TextKeyList,
} from '@iscsi-target/icl-core';
import { parseConfig, type DaemonConfig } from '../src/config.js';
import { TargetDaemon } from '../src/daemon.js';
import { LunOpenError } from '../src/lun-factory.js';
import { keys, loginBhs, logoutBhs, textBhs } from './helpers/pdus.js';
import { RawClient, type RawPdu } from './helpers/raw-client.js';

const TARGET = 'iqn.2026-11.org.nodejs-iscsi:it0';
const INITIATOR = 'iqn.1994-05.com.redhat:it-client';

const dir = mkdtempSync(join(tmpdir(), 'iscsi-target-it-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every portal on an ephemeral port (the file syntax does not allow port 0). */
function ephemeral(config: DaemonConfig): DaemonConfig {
  const portalGroups = new Map([...config.portalGroups].map(([n, pg]) => [n, { ...pg, listen: pg.listen.map((l) => ({ ...l, port: 0 })) }]));
  return { ...config, portalGroups };
}

function conf(extra = '', globals = ''): DaemonConfig {
  return ephemeral(
    parseConfig(
      `${globals}
portal-group pg0 {
  discovery-auth-group no-authentication
  listen 127.0.0.1
  tag 5
}
target ${TARGET} {
  alias "integration disk"
  auth-group no-authentication
  portal-group pg0
  lun 0 { backend ramdisk; size 4M }
}
${extra}`,
      join(dir, 'ctl.conf'),
    ),
  );
}

const daemons: TargetDaemon[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
});

async function startDaemon(config: DaemonConfig): Promise<{ daemon: TargetDaemon; port: number }> {
  const daemon = new TargetDaemon(config, { stopGraceMs: 200 });
  daemons.push(daemon);
  await daemon.start();
  return { daemon, port: daemon.portals()[0]!.port };
}

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  return c;
}

function loginResponse(p: RawPdu) {
  const h = decodeBhs(p.bhs);
  if (h.type !== 'LoginResponse') throw new Error(`expected a Login Response, got ${h.type}`);
  return { h, keys: parseTextKeys(p.data) };
}

/** Logs in with CSG=1 → FFP in one exchange; returns the response and the next CmdSN/ExpStatSN. */
async function login(c: RawClient, list: TextKeyList): Promise<{ h: ReturnType<typeof loginResponse>['h']; keys: TextKeyList; cmdSn: number; expStatSn: number }> {
  const body = keys(list);
  c.send(loginBhs({ transit: true, csg: 1, nsg: 3, cmdSn: 1, itt: 1 }), body);
  const r = loginResponse(await c.recv());
  return { ...r, cmdSn: 1, expStatSn: (r.h.statSn + 1) >>> 0 };
}

function testUnitReady(itt: number, cmdSn: number, expStatSn: number): Buffer {
  const bhs = Buffer.alloc(BHS_SIZE);
  bhs[0] = InitiatorOpcode.ScsiCommand;
  bhs[1] = Flag.Final | 1; // simple task attribute
  bhs.writeUInt32BE(itt, ScsiCommandBhs.initiatorTaskTag);
  bhs.writeUInt32BE(cmdSn, ScsiCommandBhs.cmdSn);
  bhs.writeUInt32BE(expStatSn, ScsiCommandBhs.expStatSn);
  return bhs; // CDB all zero: TEST UNIT READY
}

describe('TargetDaemon over loopback TCP', () => {
  it('serves a discovery session: SendTargets=All with the bound portal, then Logout', async () => {
    const { port } = await startDaemon(conf());
    const c = await connect(port);
    const l = await login(c, [['InitiatorName', INITIATOR], ['SessionType', 'Discovery'], ['HeaderDigest', 'CRC32C,None'], ['MaxRecvDataSegmentLength', '65536']]);
    expect(l.h).toMatchObject({ statusClass: 0, transit: true, nsg: 3 });
    expect(l.h.tsih).not.toBe(0);
    expect(l.keys).toEqual([
      ['HeaderDigest', 'None'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
    const body = keys([['SendTargets', 'All']]);
    c.send(textBhs({ itt: 2, cmdSn: l.cmdSn, expStatSn: l.expStatSn }), body);
    const t = await c.recv();
    expect(decodeBhs(t.bhs)).toMatchObject({ type: 'TextResponse', final: true, initiatorTaskTag: 2, statSn: l.expStatSn });
    expect(parseTextKeys(t.data)).toEqual([
      ['TargetName', TARGET],
      ['TargetAddress', `127.0.0.1:${port},5`],
    ]);
    c.send(logoutBhs({ itt: 3, cmdSn: l.cmdSn + 1, expStatSn: l.expStatSn + 1 }));
    const lo = await c.recv();
    expect(decodeBhs(lo.bhs)).toMatchObject({ type: 'LogoutResponse', response: 0, initiatorTaskTag: 3 });
    await c.closed;
  });

  it('logs in to a target and hands the connection to the frontend (TEST UNIT READY, SendTargets, Logout)', async () => {
    const { daemon, port } = await startDaemon(conf());
    const c = await connect(port);
    const l = await login(c, [['InitiatorName', INITIATOR], ['TargetName', TARGET], ['ImmediateData', 'Yes'], ['MaxRecvDataSegmentLength', '65536']]);
    expect(l.h).toMatchObject({ statusClass: 0, nsg: 3 });
    expect(l.keys.slice(0, 2)).toEqual([
      ['TargetAlias', 'integration disk'],
      ['TargetPortalGroupTag', '5'],
    ]);
    expect(daemon.frontend!.sessions()).toHaveLength(1);

    // The first command of a new I_T nexus reports the power-on UNIT ATTENTION (sense key 6).
    c.send(testUnitReady(9, l.cmdSn, l.expStatSn));
    const ua = await c.recv();
    expect(decodeBhs(ua.bhs)).toMatchObject({ type: 'ScsiResponse', initiatorTaskTag: 9, status: 2, statSn: l.expStatSn });
    expect(ua.data[2 + 2]! & 0x0f).toBe(6);
    c.send(testUnitReady(10, l.cmdSn + 1, l.expStatSn + 1));
    const r = await c.recv();
    expect(decodeBhs(r.bhs)).toMatchObject({ type: 'ScsiResponse', initiatorTaskTag: 10, status: 0, statSn: l.expStatSn + 1 });

    const body = keys([['SendTargets', ''], ['X-org.example.probe', '1']]);
    c.send(textBhs({ itt: 11, cmdSn: l.cmdSn + 2, expStatSn: l.expStatSn + 2 }), body);
    const t = await c.recv();
    expect(decodeBhs(t.bhs)).toMatchObject({ type: 'TextResponse', final: true, initiatorTaskTag: 11 });
    expect(parseTextKeys(t.data)).toEqual([
      ['TargetName', TARGET],
      ['TargetAddress', `127.0.0.1:${port},5`],
      ['X-org.example.probe', 'NotUnderstood'],
    ]);

    c.send(logoutBhs({ itt: 12, cmdSn: l.cmdSn + 3, expStatSn: l.expStatSn + 3 }));
    expect(decodeBhs((await c.recv()).bhs)).toMatchObject({ type: 'LogoutResponse', response: 0, initiatorTaskTag: 12 });
    await c.closed;
  });

  it('switches header digests on right after the final login response', async () => {
    const { port } = await startDaemon(conf());
    const c = await connect(port);
    const l = await login(c, [['InitiatorName', INITIATOR], ['TargetName', TARGET], ['HeaderDigest', 'CRC32C'], ['DataDigest', 'None']]);
    expect(l.keys).toContainEqual(['HeaderDigest', 'CRC32C']);
    c.headerDigest = true;
    c.send(testUnitReady(1, l.cmdSn, l.expStatSn));
    expect(decodeBhs((await c.recv()).bhs)).toMatchObject({ type: 'ScsiResponse', initiatorTaskTag: 1 });
    c.send(testUnitReady(2, l.cmdSn + 1, l.expStatSn + 1));
    expect(decodeBhs((await c.recv()).bhs)).toMatchObject({ type: 'ScsiResponse', initiatorTaskTag: 2, status: 0 });
  });

  it('rejects a login to an unknown target (0x0203) and closes the connection', async () => {
    const { port } = await startDaemon(conf());
    const c = await connect(port);
    const l = await login(c, [['InitiatorName', INITIATOR], ['TargetName', 'iqn.2026-11.org.example:nope']]);
    expect(l.h).toMatchObject({ statusClass: 2, statusDetail: 3 });
    await c.closed;
  });

  it('runs at most maxproc logins at once; the others wait for a slot', async () => {
    const { daemon, port } = await startDaemon(conf('', 'maxproc 1'));
    const a = await connect(port);
    a.send(loginBhs({ transit: false, csg: 0, cmdSn: 1 }), keys([['InitiatorName', INITIATOR], ['SessionType', 'Discovery']]));
    await a.recv();
    const b = await connect(port);
    b.send(loginBhs({ transit: true, csg: 1, nsg: 3, cmdSn: 1 }), keys([['InitiatorName', INITIATOR], ['SessionType', 'Discovery']]));
    await expect(b.recv(200)).rejects.toThrow('timed out');
    expect(daemon.activeLogins).toBe(1);
    a.destroy();
    const r = loginResponse(await b.recv());
    expect(r.h).toMatchObject({ statusClass: 0, nsg: 3 });
  });

  it('stops gracefully: sessions end, LUN files are closed, the pidfile is removed', async () => {
    const lunFile = join(dir, 'stop.img');
    writeFileSync(lunFile, Buffer.alloc(1 << 20));
    const pidfile = join(dir, 'target.pid');
    const config = conf(`target iqn.2026-11.org.nodejs-iscsi:file { auth-type none; portal-group pg0; lun 0 { path ${lunFile} } }`, `pidfile ${pidfile}`);
    const { daemon, port } = await startDaemon(config);
    expect(readFileSync(pidfile, 'utf8')).toBe(`${process.pid}\n`);
    const c = await connect(port);
    const l = await login(c, [['InitiatorName', INITIATOR], ['TargetName', 'iqn.2026-11.org.nodejs-iscsi:file']]);
    expect(l.h.statusClass).toBe(0);
    await daemon.stop();
    await c.closed;
    expect(existsSync(pidfile)).toBe(false);
    expect(daemon.portals()).toEqual([]);
    // A second stop is a no-op.
    await daemon.stop();
  });

  it('refuses to start when a LUN file without a size is missing, and undoes what it did', async () => {
    const missing = join(dir, 'missing.img');
    const config = conf(`target iqn.2026-11.org.nodejs-iscsi:m { auth-type none; portal-group pg0; lun 0 { path ${missing} } }`);
    const daemon = new TargetDaemon(config);
    const err = await daemon.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LunOpenError);
    expect((err as Error).message).toMatch(/ctl\.conf:\d+:\d+: lun "iqn\.2026-11\.org\.nodejs-iscsi:m,lun,0": .*missing\.img does not exist/);
    expect(existsSync(missing)).toBe(false);
    expect(daemon.portals()).toEqual([]);
  });

  it('does not create a missing read-only LUN file even with a size, and says so once', async () => {
    const missing = join(dir, 'missing-ro.img');
    const config = conf(`target iqn.2026-11.org.nodejs-iscsi:ro { auth-type none; portal-group pg0; lun 0 { path ${missing}; size 4M; option readonly on } }`);
    const daemon = new TargetDaemon(config);
    const err = await daemon.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LunOpenError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/ctl\.conf:\d+:\d+: lun "iqn\.2026-11\.org\.nodejs-iscsi:ro,lun,0": cannot open .*missing-ro\.img \(a read-only LUN is never created: create the file first\): no such file or directory \(ENOENT\)/);
    expect(msg.split('cannot open').length - 1).toBe(1);
    expect(existsSync(missing)).toBe(false);
    expect(daemon.portals()).toEqual([]);
  });

  it('creates a missing LUN file that has a size, sparse (as ctld/ctl-block)', async () => {
    const { statSync } = await import('node:fs');
    const created = join(dir, 'created.img');
    const { daemon } = await startDaemon(conf(`target iqn.2026-11.org.nodejs-iscsi:c { auth-type none; portal-group pg0; lun 0 { path ${created}; size 4M } }`));
    const st = statSync(created);
    expect(st.size).toBe(4 * 2 ** 20);
    expect(st.blocks * 512).toBeLessThan(st.size);
    await daemon.stop();
  });

  it('creates the embedded default LUN file sparse', async () => {
    const { embeddedConfig } = await import('../src/config.js');
    const d = join(dir, 'embedded');
    const { mkdirSync, statSync } = await import('node:fs');
    mkdirSync(d);
    const { daemon } = await startDaemon(ephemeral(embeddedConfig({ dataDir: d })));
    const st = statSync(join(d, 'lun0.img'));
    expect(st.size).toBe(2 ** 30);
    expect(st.blocks * 512).toBeLessThan(2 ** 20);
    await daemon.stop();
  });

  it('reports a portal that cannot be bound', async () => {
    const { port } = await startDaemon(conf());
    const config = parseConfig(`portal-group p { listen 127.0.0.1:${port} }\ntarget ${TARGET} { auth-type none; portal-group p; lun 0 { backend ramdisk; size 1M } }`, 'clash.conf');
    const daemon = new TargetDaemon(config);
    await expect(daemon.start()).rejects.toThrow(`clash.conf:1:1: portal-group "p": cannot listen on 127.0.0.1:${port}`);
  });
});
