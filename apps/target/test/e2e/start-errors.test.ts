// End-to-end: start errors speak once, on stderr (issue 13 item 7). A
// portal address in use and a LUN in a missing directory each give one plain
// `iscsi-target: cannot start: …` line on stderr, with the errno said once
// (no "listen EADDRINUSE …: listen EADDRINUSE …", no path twice, no stack),
// no `<embedded default>:0:0:` position, and nothing at error level on
// stdout; error-level records of a running daemon (a refused reload) go to
// stderr too. Daemon-only.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { e2ePeer, freePort, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

async function exitOf(t: TargetHandle): Promise<number | null> {
  const st = await Promise.race([t.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
  if (st === 'timeout') throw new Error(`the daemon did not exit:\n${t.logs.text()}`);
  return st.code;
}

const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe.skipIf(e2ePeer() !== undefined)('start errors (daemon-only: skipped in peer mode)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-start-errors-'));
  const started: TargetHandle[] = [];
  afterAll(async () => {
    for (const t of started) await t.stop({ signal: 'SIGKILL' });
    rmSync(dir, { recursive: true, force: true });
  });

  it('a portal address in use: one line on stderr, EADDRINUSE said once, no :0:0:', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const t = await startTarget({ port, waitReady: false, args: ['--no-admin-socket'] });
      started.push(t);
      expect(await exitOf(t)).toBe(1);
      const err = t.logs.stderr();
      expect(err).toBe(`iscsi-target: cannot start: <embedded default>: portal-group "default": cannot listen on 127.0.0.1:${port}: address already in use (EADDRINUSE)\n`);
      expect(count(t.logs.text(), 'EADDRINUSE')).toBe(1);
      expect(t.logs.text()).not.toContain(':0:0:');
      expect(t.logs.stdout()).not.toMatch(/"level":(50|60)/);
    } finally {
      server.close();
    }
  });

  it('a LUN in a missing directory: the path and ENOENT said once', async () => {
    const port = await freePort();
    const file = path.join(dir, 'missing-dir.conf');
    const lunPath = path.join(dir, 'no-such-dir', 'a.img');
    writeFileSync(
      file,
      ['portal-group pg0 {', `  listen 127.0.0.1:${port}`, '}', 'lun a {', `  path ${lunPath}`, '  size 1M', '}', 'target iqn.2026-11.org.nodejs-iscsi:x {', '  auth-group no-authentication', '  portal-group pg0', '  lun 0 a', '}', ''].join('\n'),
    );
    const t = await startTarget({ port, waitReady: false, args: ['-f', file, '--no-admin-socket'] });
    started.push(t);
    expect(await exitOf(t)).toBe(1);
    // (startTarget adds -l, which draws a warning next to -f.)
    const err = t.logs.stderr().split('\n').filter((l) => l !== '' && !l.startsWith('iscsi-target: warning: ')).join('\n') + '\n';
    expect(err.split('\n').filter((l) => l !== '')).toHaveLength(1);
    expect(err).toMatch(/^iscsi-target: cannot start: .*missing-dir\.conf:4:1: lun "a": cannot open .*a\.img: no such file or directory \(ENOENT\)\n$/);
    expect(count(t.logs.text(), lunPath)).toBe(1);
    expect(count(t.logs.text(), 'ENOENT')).toBe(1);
  });

  it('a refused reload is logged on stderr, not stdout', async () => {
    const port = await freePort();
    const file = path.join(dir, 'reload.conf');
    const good = ['portal-group pg0 {', `  listen 127.0.0.1:${port}`, '}', 'target iqn.2026-11.org.nodejs-iscsi:r {', '  auth-group no-authentication', '  portal-group pg0', '  lun 0 { backend ramdisk; size 1M }', '}', ''].join('\n');
    writeFileSync(file, good);
    const t = await startTarget({ port, args: ['-f', file, '--no-admin-socket'] });
    started.push(t);
    writeFileSync(file, `${good}bogus-statement 1\n`);
    process.kill(t.pid, 'SIGHUP');
    const until = Date.now() + 10_000;
    while (!t.logs.stderr().includes('reload refused') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(t.logs.stderr()).toMatch(/"level":50,.*"msg":"reload refused: /);
    expect(t.logs.stdout()).not.toContain('reload refused');
    expect(t.logs.stdout()).toContain('reloading the configuration');
  });
});
