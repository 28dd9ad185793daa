// End-to-end: `npm start` leaves no orphaned daemon (issue 13 item 7).
// `kill <pid of npm start>` (SIGTERM) reaches the daemon, which stops
// gracefully, and `npm start` exits; a SIGKILL of npm (which cannot be
// passed on) is noticed by tools/scripts/start.mjs, which stops the daemon.
// Runs the real `npm start` (bootstrap included: a cached build takes a few
// seconds). Skipped without npm on PATH.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canConnect, e2ePeer, freePort, haveCommand, pidAlive, repoRoot, waitForPort } from '@iscsi-target/test-utils';

/** Pids of every live descendant of `pid` (from /proc). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(e2ePeer() !== undefined || !haveCommand('npm'))('npm start (skipped without npm on PATH, or in peer mode)', () => {
  const dirs: string[] = [];
  const leftovers: number[] = [];
  afterAll(() => {
    // Only processes that are still ours (a pid may have been reused since).
    for (const p of leftovers) if (pidAlive(p) && /iscsi-target\.js|start\.mjs|bootstrap\.mjs/.test(cmdline(p))) process.kill(p, 'SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  async function npmStart(): Promise<{ npm: ChildProcess; daemon: number; port: number; out: () => string }> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-npm-start-'));
    dirs.push(dir);
    const port = await freePort();
    const npm = spawn('npm', ['start', '--', '-l', `127.0.0.1:${port}`, '-d', dir, '--no-admin-socket', '--log-level', 'warn'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    npm.stdout.on('data', (b: Buffer) => chunks.push(b));
    npm.stderr.on('data', (b: Buffer) => chunks.push(b));
    const out = () => Buffer.concat(chunks).toString('utf8');
    await waitForPort('127.0.0.1', port, { timeoutMs: 120_000 });
    const daemon = descendants(npm.pid!).find((p) => cmdline(p).includes('apps/target/bin/iscsi-target.js'));
    if (daemon === undefined) throw new Error(`no daemon below npm start:\n${out()}`);
    leftovers.push(daemon, ...descendants(npm.pid!));
    return { npm, daemon, port, out };
  }

  it('kill <pid of npm start> stops the daemon and npm start exits', async () => {
    const { npm, daemon, port, out } = await npmStart();
    const exited = new Promise<number | null>((r) => npm.on('exit', (code) => r(code)));
    process.kill(npm.pid!, 'SIGTERM');
    await until('the daemon to exit', () => !pidAlive(daemon), 15_000);
    expect(await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('npm still running'), 10_000))])).not.toBe('npm still running');
    expect(await canConnect('127.0.0.1', port, 500)).toBe(false);
    expect(out()).not.toMatch(/orphan/i);
  }, 180_000);

  it('a SIGKILL of npm start stops the daemon too (start.mjs notices its parent is gone)', async () => {
    const { npm, daemon, port } = await npmStart();
    process.kill(npm.pid!, 'SIGKILL');
    await until('the daemon to exit', () => !pidAlive(daemon), 15_000);
    expect(await canConnect('127.0.0.1', port, 500)).toBe(false);
  }, 180_000);
});
