// End-to-end: live reload and administration of the built daemon process.
// SIGHUP while iscsi-perf reads from an unchanged target: no I/O error, the
// same session (id, TSIH) survives, the LUN added by the reload is visible
// to iscsi-ls; the removed target's session gets the logout request; an
// invalid file changes nothing; the structured log says what happened;
// iscsi-target-ctl works against the process; SIGTERM exits 0 and removes
// the admin socket and the pidfile. Daemon-only behaviour: skipped with a
// reference peer.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  e2ePeer,
  freePort,
  haveCommand,
  Opcode,
  rawLogin,
  rawTestUnitReady,
  readPdu,
  repoRoot,
  run,
  startTarget,
  waitForClose,
  type RawSession,
  type TargetHandle,
} from '@iscsi-target/test-utils';

const A = 'iqn.2026-11.org.nodejs-iscsi:perf';
const B = 'iqn.2026-11.org.nodejs-iscsi:doomed';
const C = 'iqn.2026-11.org.nodejs-iscsi:newcomer';
const ctlBin = path.join(repoRoot, 'apps', 'target', 'bin', 'iscsi-target-ctl.js');

function config(port: number, pidfile: string, phase: 'before' | 'after'): string {
  return [
    `pidfile ${pidfile}`,
    'portal-group pg0 {',
    '  discovery-auth-group no-authentication',
    `  listen 127.0.0.1:${port}`,
    '}',
    `target ${A} {`,
    '  auth-group no-authentication',
    '  portal-group pg0',
    '  lun 0 { backend ramdisk; size 64M }',
    '}',
    phase === 'before' ? `target ${B} { auth-group no-authentication; portal-group pg0; lun 0 { backend ramdisk; size 1M } }` : '',
    phase === 'after' ? `target ${C} { auth-group no-authentication; portal-group pg0; lun 0 { backend ramdisk; size 8M } }` : '',
    '',
  ].join('\n');
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(e2ePeer() !== undefined || !haveCommand('iscsi-perf') || !haveCommand('iscsi-ls'))('live reload and admin CLI (process)', () => {
  let dir: string;
  let file: string;
  let pidfile: string;
  let t: TargetHandle;
  let port: number;
  let doomed: RawSession;
  const ctl = (...args: string[]) => run(process.execPath, [ctlBin, '-d', dir, ...args], { timeoutMs: 20_000 });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-reload-'));
    file = path.join(dir, 'ctl.conf');
    pidfile = path.join(dir, 'target.pid');
    port = await freePort('127.0.0.1');
    writeFileSync(file, config(port, pidfile, 'before'));
    t = await startTarget({ args: ['-f', file], port, dataDir: dir });
    doomed = await rawLogin('127.0.0.1', port, { targetName: B });
    expect(doomed.fullFeature).toBe(true);
    expect((await rawTestUnitReady(doomed)).status).toBe(0);
  });
  afterAll(async () => {
    doomed?.socket.destroy();
    await t?.stop({ signal: 'SIGKILL' });
    rmSync(dir, { recursive: true, force: true });
  });

  it('the admin socket is owner-only and the pidfile names the daemon', () => {
    const st = statSync(path.join(dir, 'iscsi-target.sock'));
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(readFileSync(pidfile, 'utf8').trim()).toBe(String(t.pid));
  });

  it('SIGHUP during iscsi-perf: no I/O error, same session, new LUN visible, removed target asked to log out', async () => {
    let perfPid = 0;
    const perf = run('iscsi-perf', ['-t', '6', '-m', '16', '-b', '64', `iscsi://127.0.0.1:${port}/${A}/0`], { timeoutMs: 60_000, onSpawn: (pid) => (perfPid = pid) });
    // Wait until iscsi-perf is logged in and moving data.
    let before: Array<Record<string, unknown>> = [];
    await until('the iscsi-perf session', () => perfPid !== 0);
    for (let i = 0; i < 100; i++) {
      const r = await ctl('--json', 'session', 'list');
      before = (JSON.parse(r.stdout) as Array<Record<string, unknown>>).filter((s) => s['targetName'] === A);
      if (before.length === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(before).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1500));

    writeFileSync(file, config(port, pidfile, 'after'));
    process.kill(t.pid, 'SIGHUP');

    // The removed target's session: Async Message, AsyncEvent 1 (RFC 7143 §11.9.1), Parameter3 = 2 s (the default grace).
    let msg = await readPdu(doomed.socket, 10_000);
    while (msg.opcode === Opcode.NopIn) msg = await readPdu(doomed.socket, 10_000); // target pings: not what we wait for
    expect(msg.opcode).toBe(Opcode.AsyncMessage);
    expect(msg.bhs[36]).toBe(1);
    expect(msg.bhs.readUInt16BE(42)).toBe(2);
    expect((await waitForClose(doomed.socket, 10_000)).closed).toBe(true);

    const r = await perf;
    const out = (r.stdout + r.stderr).replace(/\r/g, '\n');
    expect(r.timedOut, out).toBe(false);
    expect(r.code, out).toBe(0);
    expect(out).toMatch(/in_flight 16,/);
    expect(out).not.toMatch(/in_flight -/);
    expect(out).not.toMatch(/fail|error/i);
    expect(out).toMatch(/iops average [1-9]\d* /);

    const after = (JSON.parse((await ctl('--json', 'session', 'list')).stdout) as Array<Record<string, unknown>>).filter((s) => s['targetName'] === A);
    // iscsi-perf has logged out by now: its session was the same one from start to end (the log proves it below).
    expect(after).toEqual([]);
    const ls = await run('iscsi-ls', ['-s', `iscsi://127.0.0.1:${port}`], { timeoutMs: 20_000 });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain(`Target:${C} Portal:127.0.0.1:${port},1\nLun:0    Type:DIRECT_ACCESS (Size:7M)`);
    expect(ls.stdout).not.toContain(B);

    const logs = t.logs.json();
    const reloaded = logs.find((l) => l['msg'] === 'configuration reloaded: 4 change(s)');
    expect(reloaded, t.logs.stdout()).toMatchObject({ level: 30, origin: 'SIGHUP', config: file, changed: true, errors: [] });
    expect(reloaded!['actions']).toEqual([
      `lun "${C},lun,0": added (CTL LUN 2)`,
      `target ${B} (tag 1): removed; 1 session(s) asked to log out within 2 s`,
      `target ${C} (tag 1): added`,
      `lun "${B},lun,0": removed (CTL LUN 1)`,
    ]);
    // The perf session: one login, one close, and the close came after the reload.
    const id = before[0]!['id'];
    const opened = logs.filter((l) => l['session'] === id && typeof l['msg'] === 'string' && (l['msg']).includes('logged in to'));
    const closed = logs.filter((l) => l['session'] === id && l['msg'] === `session ${String(id)} closed`);
    expect(opened).toHaveLength(1);
    expect(opened[0]).toMatchObject({ level: 30, tsih: before[0]!['tsih'], target: A, initiator: expect.any(String) as string, peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) as string });
    expect(closed).toHaveLength(1);
    expect(closed[0]!['time'] as number).toBeGreaterThan(reloaded!['time'] as number);
  });

  it('an invalid file changes nothing: SIGHUP logs why, the CLI prints why and exits 1', async () => {
    writeFileSync(file, `${config(port, pidfile, 'after')}bogus-keyword 1\n`);
    process.kill(t.pid, 'SIGHUP');
    await until('the refusal in the log', () => t.logs.json().some((l) => typeof l['msg'] === 'string' && (l['msg']).startsWith('reload refused')));
    const refused = t.logs.json().find((l) => typeof l['msg'] === 'string' && (l['msg']).startsWith('reload refused'))!;
    expect(refused['level']).toBe(50);
    expect(refused['msg']).toMatch(new RegExp(`^reload refused: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:13:1: .*; the running configuration is unchanged$`));
    const r = await ctl('reload');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^iscsi-target-ctl: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:13:1: `));
    const luns = JSON.parse((await ctl('--json', 'lun', 'list')).stdout) as Array<{ name: string }>;
    expect(luns.map((l) => l.name)).toEqual([`${A},lun,0`, `${C},lun,0`]);
  });

  it('logs login failures with the initiator name and address', async () => {
    const s = await rawLogin('127.0.0.1', port, { targetName: 'iqn.2026-11.org.nodejs-iscsi:nonexistent', initiatorName: 'iqn.2026-11.org.example:intruder' });
    s.socket.destroy();
    expect(s.fullFeature).toBe(false);
    await until('the login failure', () => t.logs.json().some((l) => l['initiator'] === 'iqn.2026-11.org.example:intruder'));
    const rec = t.logs.json().find((l) => l['initiator'] === 'iqn.2026-11.org.example:intruder')!;
    expect(rec).toMatchObject({ level: 30, status: 'NotFound (0x0203)', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) as string });
    expect(rec['msg']).toMatch(/^login rejected: /);
  });

  it('SIGTERM: exits 0, removes the admin socket and the pidfile', async () => {
    process.kill(t.pid, 'SIGTERM');
    const st = await t.exited;
    expect(st, t.logs.text()).toEqual({ code: 0, signal: null });
    expect(existsSync(path.join(dir, 'iscsi-target.sock'))).toBe(false);
    expect(existsSync(pidfile)).toBe(false);
    const r = await ctl('lun', 'list');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no such socket');
  });
});
