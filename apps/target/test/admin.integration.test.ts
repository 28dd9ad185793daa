// The admin socket and iscsi-target-ctl against an in-process TargetDaemon:
// socket permissions and ownership rules, the protocol's error answers, and
// every CLI command in table and --json form.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rawLogin, rawScsiCommand, rawTestUnitReady, waitForClose, type RawSession } from '@iscsi-target/test-utils';
import { AdminSocketError, startAdminServer, type AdminServer } from '../src/admin/admin-server.js';
import { adminHandler } from '../src/admin/commands.js';
import { runCtl, type CtlIo } from '../src/admin/ctl-cli.js';
import { parseConfig, type DaemonConfig } from '../src/config.js';
import { TargetDaemon } from '../src/daemon.js';
import { nullLogger } from '../src/logger.js';
import { ReloadError } from '../src/reload/report.js';

const TARGET = 'iqn.2026-11.org.nodejs-iscsi:admin0';
const dir = mkdtempSync(join(tmpdir(), 'iscsi-admin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function conf(lun1 = false): DaemonConfig {
  const c = parseConfig(
    `portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1 }
target ${TARGET} { auth-group no-authentication; portal-group pg0; lun 0 { backend ramdisk; size 4M } ${lun1 ? 'lun 1 { backend ramdisk; size 1M }' : ''} }`,
    join(dir, 'ctl.conf'),
  );
  const portalGroups = new Map([...c.portalGroups].map(([n, pg]) => [n, { ...pg, listen: pg.listen.map((l) => ({ ...l, port: 0 })) }]));
  return { ...c, portalGroups };
}

let n = 0;
const sockPath = (): string => join(dir, `s${n++}.sock`);

describe('admin socket', () => {
  const servers: AdminServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });
  const echo = (req: { cmd: string }): Promise<unknown> => (req.cmd === 'boom' ? Promise.reject(new Error('it failed')) : Promise.resolve({ echoed: req.cmd }));

  it('is a socket with mode 0600, removed on close', async () => {
    const p = sockPath();
    const s = await startAdminServer(p, echo, nullLogger);
    const st = statSync(p);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid!());
    await s.close();
    expect(existsSync(p)).toBe(false);
  });

  it('refuses to start while another daemon answers on the path', async () => {
    const p = sockPath();
    servers.push(await startAdminServer(p, echo, nullLogger));
    await expect(startAdminServer(p, echo, nullLogger)).rejects.toThrow(new AdminSocketError(`${p}: another daemon is listening on this admin socket`));
    expect(statSync(p).isSocket()).toBe(true);
  });

  it('replaces a stale socket left by a killed process, and never a regular file', async () => {
    const p = sockPath();
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(p)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    expect(statSync(p).isSocket()).toBe(true);
    servers.push(await startAdminServer(p, echo, nullLogger));
    const f = sockPath();
    writeFileSync(f, 'precious');
    await expect(startAdminServer(f, echo, nullLogger)).rejects.toThrow(`${f} exists and is not a socket; refusing to replace it`);
    expect(readFileSync(f, 'utf8')).toBe('precious');
  });

  it('answers bad requests with an error and keeps the connection', async () => {
    const p = sockPath();
    servers.push(await startAdminServer(p, echo, nullLogger));
    const c = net.connect({ path: p });
    c.setEncoding('utf8');
    const lines: string[] = [];
    let buf = '';
    c.on('data', (d: string) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
    });
    c.write('not json\n{"id":2}\n[1]\n{"id":3,"cmd":"boom"}\n{"id":4,"cmd":"x","args":5}\n{"id":5,"cmd":"ping"}\n');
    for (let i = 0; i < 100 && lines.length < 6; i++) await new Promise((r) => setTimeout(r, 10));
    c.destroy();
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { id: null, ok: false, error: 'the request is not valid JSON' },
      { id: 2, ok: false, error: '"cmd" must be a string' },
      { id: null, ok: false, error: 'the request is not a JSON object' },
      { id: 3, ok: false, error: 'it failed' },
      { id: 4, ok: false, error: '"args" must be an object' },
      { id: 5, ok: true, result: { echoed: 'ping' } },
    ]);
  });
});

describe('iscsi-target-ctl', () => {
  let daemon: TargetDaemon;
  let server: AdminServer;
  let socket: string;
  let port: number;
  let nextReload: () => Promise<DaemonConfig>;
  const sessions: RawSession[] = [];

  beforeEach(async () => {
    daemon = new TargetDaemon(conf(), { stopGraceMs: 200 });
    await daemon.start();
    port = daemon.portals()[0]!.port;
    socket = sockPath();
    nextReload = () => Promise.resolve(conf(true));
    server = await startAdminServer(socket, adminHandler({ daemon, reload: async () => daemon.reload(await nextReload()), version: '9.9.9' }), nullLogger);
  });
  afterEach(async () => {
    for (const s of sessions.splice(0)) s.socket.destroy();
    await server.close();
    await daemon.stop();
  });

  async function ctl(args: string[], sleep?: () => Promise<void>): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const io: CtlIo = { out: (s) => (out += s), err: (s) => (err += s), sleep: sleep ?? (() => new Promise((r) => setTimeout(r, 5))) };
    const code = await runCtl(['-s', socket, ...args], io, dir);
    return { code, out, err };
  }
  const json = async (args: string[]): Promise<unknown> => {
    const r = await ctl(['--json', ...args]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.out) as unknown;
  };
  async function login(): Promise<RawSession> {
    const s = await rawLogin('127.0.0.1', port, { targetName: TARGET });
    sessions.push(s);
    expect((await rawTestUnitReady(s)).status).toBe(0);
    return s;
  }

  it('lun list: a table and --json', async () => {
    const t = await ctl(['lun', 'list']);
    expect(t.code).toBe(0);
    expect(t.out.split('\n')[0]).toMatch(/^CTL\s+NAME\s+BACKEND\s+SIZE\s+BS\s+RO\s+ORIGIN\s+MAPPED\s+STATE\s+ERRORS\s+PATH$/);
    expect(t.out.split('\n')[1]).toMatch(new RegExp(`^0\\s+${TARGET.replace(/\./g, '\\.')},lun,0\\s+ramdisk\\s+4 MiB\\s+512\\s+no\\s+config\\s+${TARGET.replace(/\./g, '\\.')}/0\\s+ok\\s+0\\s+-$`));
    expect(await json(['lun', 'list'])).toEqual([
      { name: `${TARGET},lun,0`, ctlLun: 0, backend: 'ramdisk', path: null, size: 4 * 1024 * 1024, blockSize: 512, readOnly: false, serial: expect.any(String) as string, origin: 'config', mappings: [{ target: TARGET, lun: 0 }], errors: 0, faults: {}, state: 'ok' },
    ]);
  });

  it('lun create / resize / remove (ramdisk and file), visible to a logged-in initiator', async () => {
    const s = await login();
    const created = (await json(['lun', 'create', '--backend', 'ramdisk', '--size', '2M', '--name', 'scratch', '--target', TARGET, '--lun', '5'])) as Record<string, unknown>;
    expect(created).toMatchObject({ name: 'scratch', ctlLun: 1, size: 2 * 1024 * 1024, origin: 'admin', mappings: [{ target: TARGET, lun: 5 }] });
    const ua = await rawScsiCommand(s, Buffer.alloc(6));
    expect([ua.senseKey, ua.asc, ua.ascq]).toEqual([6, 0x3f, 0x0e]);
    const file = join(dir, 'created.img');
    const f = await ctl(['lun', 'create', '--backend', 'file', '--path', file, '--size', '1M']);
    expect(f).toEqual({ code: 0, out: 'created lun "admin0" (CTL LUN 2, 1 MiB)\n', err: '' });
    expect(statSync(file).size).toBe(1024 * 1024);

    // A new LUN first reports POWER ON to each initiator (29h/00h).
    const po = await rawScsiCommand(s, Buffer.alloc(6), { lun: 5 });
    expect([po.senseKey, po.asc, po.ascq]).toEqual([6, 0x29, 0x00]);
    expect(await ctl(['lun', 'resize', 'scratch', '3M'])).toEqual({ code: 0, out: 'lun "scratch" is now 3 MiB\n', err: '' });
    const cap = await rawScsiCommand(s, Buffer.alloc(6), { lun: 5 });
    expect([cap.senseKey, cap.asc, cap.ascq]).toEqual([6, 0x2a, 0x09]);
    expect(((await json(['lun', 'resize', '2', '2M'])) as { size: number }).size).toBe(2 * 1024 * 1024);
    expect(statSync(file).size).toBe(2 * 1024 * 1024);

    expect(await ctl(['lun', 'remove', 'scratch'])).toEqual({ code: 0, out: 'removed lun "scratch"\n', err: '' });
    expect(await json(['lun', 'remove', '2'])).toEqual({ removed: '2' });
    expect(((await json(['lun', 'list'])) as unknown[]).length).toBe(1);
    // Refusals, with the daemon's reason and exit status 1.
    expect(await ctl(['lun', 'remove', '0'])).toEqual({ code: 1, out: '', err: `iscsi-target-ctl: lun "${TARGET},lun,0" is defined in the configuration file: remove it there and reload\n` });
    expect(await ctl(['lun', 'remove', 'nope'])).toEqual({ code: 1, out: '', err: 'iscsi-target-ctl: no LUN "nope"\n' });
    expect(await ctl(['lun', 'create', '--backend', 'ramdisk'])).toEqual({ code: 1, out: '', err: 'iscsi-target-ctl: a ramdisk LUN needs a size\n' });
    expect((await ctl(['lun', 'create', '--backend', 'ramdisk', '--size', '1M', '--target', TARGET, '--lun', '0'])).err).toBe(`iscsi-target-ctl: target ${TARGET} already has a LUN 0\n`);
  });

  it('lun create --removable: the initiator sees a removable medium (INQUIRY RMB) it can eject', async () => {
    const s = await login();
    expect((await ctl(['lun', 'create', '--backend', 'ramdisk', '--size', '1M', '--name', 'cd', '--removable', '--target', TARGET, '--lun', '7'])).code).toBe(0);
    const inq = Buffer.from([0x12, 0, 0, 0, 36, 0]);
    const r = await rawScsiCommand(s, inq, { lun: 7, readLength: 36 });
    expect(r.status).toBe(0);
    expect(r.data[1]! & 0x80).toBe(0x80); // RMB
    // PREVENT ALLOW MEDIUM REMOVAL is offered on it (GOOD after the LUN's POWER ON unit attention).
    const pa = Buffer.from([0x1e, 0, 0, 0, 0, 0]);
    const first = await rawScsiCommand(s, pa, { lun: 7 });
    expect([first.status, first.senseKey, first.asc]).toEqual([2, 6, 0x29]);
    expect((await rawScsiCommand(s, pa, { lun: 7 })).status).toBe(0);
    // The configured disk LUN 0 is not removable.
    const d = await rawScsiCommand(s, inq, { lun: 0, readLength: 36 });
    expect(d.data[1]! & 0x80).toBe(0);
    expect((await ctl(['lun', 'remove', 'cd'])).code).toBe(0);
  });

  it('session list (negotiated parameters) and session kill', async () => {
    const s = await login();
    const list = (await json(['session', 'list'])) as Array<Record<string, unknown>>;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      id: 1,
      state: 'active',
      initiatorName: 'iqn.2026-11.org.nodejs-iscsi:raw-test-client',
      initiatorAddress: expect.stringMatching(/^127\.0\.0\.1:\d+$/) as string,
      isid: s.isid.toString('hex'),
      tsih: s.tsih,
      targetName: TARGET,
      portalGroupTag: 1,
      headerDigest: false,
      dataDigest: false,
      maxBurstLength: expect.any(Number) as number,
      firstBurstLength: expect.any(Number) as number,
    });
    const t = await ctl(['session', 'list']);
    expect(t.out.split('\n')[1]).toContain(`0x${s.tsih.toString(16).padStart(4, '0')}`);
    expect(await ctl(['session', 'kill', '1'])).toEqual({ code: 0, out: 'session 1 terminated\n', err: '' });
    expect((await waitForClose(s.socket, 3000)).closed).toBe(true);
    expect(await json(['session', 'list'])).toEqual([]);
    expect(await ctl(['session', 'kill', '1'])).toEqual({ code: 1, out: '', err: 'iscsi-target-ctl: no session 1\n' });
  });

  it('port list', async () => {
    await login();
    expect(await json(['port', 'list'])).toEqual({
      portals: [{ portalGroup: 'pg0', tag: 1, host: '127.0.0.1', port }],
      ports: [{ portNumber: 0, name: `${TARGET},t,0x0001`, target: TARGET, alias: null, portalGroup: 'pg0', tag: 1, state: 'active', portals: [`127.0.0.1:${port}`], luns: [{ lun: 0, ctlLun: 0 }], sessions: 1 }],
    });
    expect((await ctl(['port', 'list'])).out).toContain(`127.0.0.1:${port}  pg0`);
  });

  it('stat -n 2: per-LUN rates over each interval, from real I/O', async () => {
    const s = await login();
    const read10 = Buffer.alloc(10);
    read10[0] = 0x28;
    read10.writeUInt16BE(8, 7); // 8 blocks = 4096 bytes
    let round = 0;
    // Between the snapshots: two reads, then one (the raw client sends no write data).
    const r = await ctl(['--json', 'stat', '-n', '2', '-w', '0.01'], async () => {
      round++;
      for (let i = 0; i < (round === 1 ? 2 : 1); i++) expect((await rawScsiCommand(s, read10, { readLength: 4096 })).status).toBe(0);
    });
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as { interval: number; luns: Array<Record<string, number>> });
    expect(lines).toHaveLength(2);
    expect(lines[0]!.luns[0]!['readOps']! * lines[0]!.interval).toBeCloseTo(2, 6);
    expect(lines[0]!.luns[0]!['readMBps']! * lines[0]!.interval * 1e6).toBeCloseTo(8192, 3);
    expect(lines[0]!.luns[0]!['readMs']).toBeGreaterThan(0);
    expect(lines[1]!.luns[0]!['readOps']! * lines[1]!.interval).toBeCloseTo(1, 6);
    expect(lines[1]!.luns[0]!['writeOps']).toBe(0);
    const t = await ctl(['stat', '-n', '1', '-w', '0.01']);
    expect(t.out.split('\n')[0]).toMatch(/^CTL\s+NAME\s+R\/S\s+W\/S\s+MB\/S-R\s+MB\/S-W\s+MS-R\s+MS-W\s+QD$/);
    // On a terminal the view refreshes in place.
    let out = '';
    expect(await runCtl(['-s', socket, 'stat', '-n', '2', '-w', '0.01'], { out: (x) => (out += x), err: () => {}, sleep: () => new Promise((r) => setTimeout(r, 5)), tty: true }, dir)).toBe(0);
    expect(out.split('\x1b[H\x1b[2J')).toHaveLength(3);
    expect(out.startsWith('\x1b[H\x1b[2J')).toBe(true);
    expect(out.slice(7)).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {2}interval [\d.]+ s\nCTL\s+NAME/);
  });

  it('reload: prints what changed; a refused reload exits 1 with the reason', async () => {
    const r = await ctl(['reload']);
    expect(r).toEqual({ code: 0, out: `${join(dir, 'ctl.conf')}: reloaded (2 change(s))\n  lun "${TARGET},lun,1": added (CTL LUN 1)\n  target ${TARGET} (tag 1): LUN map updated\n`, err: '' });
    expect(await json(['reload'])).toEqual({ source: join(dir, 'ctl.conf'), changed: false, actions: [], errors: [], deferred: [], problems: [] });
    nextReload = () => Promise.reject(new ReloadError('ctl.conf:3:1: unknown keyword "bogus"'));
    expect(await ctl(['reload'])).toEqual({ code: 1, out: '', err: 'iscsi-target-ctl: ctl.conf:3:1: unknown keyword "bogus"\n' });
  });

  it('version; usage errors exit 2; no daemon exits 1', async () => {
    expect(await json(['version'])).toEqual({ version: '9.9.9', pid: process.pid, config: join(dir, 'ctl.conf') });
    expect((await ctl(['lun', 'frobnicate'])).code).toBe(2);
    expect((await ctl(['lun', 'resize', 'x'])).err).toContain('"lun resize" takes 2 argument(s)');
    expect((await ctl(['lun', 'resize', 'x', 'big'])).err).toContain('invalid size "big"');
    expect((await ctl([])).code).toBe(2);
    const missing = join(dir, 'none.sock');
    let err = '';
    const code = await runCtl(['-s', missing, 'lun', 'list'], { out: () => {}, err: (s) => (err += s), sleep: async () => {} }, dir);
    expect(code).toBe(1);
    expect(err).toBe(`iscsi-target-ctl: ${missing}: no such socket (is the daemon running? see --socket)\n`);
  });
});
