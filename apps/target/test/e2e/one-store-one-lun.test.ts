// End-to-end (issue 13, item 2): one backing store, one LUN. Two LUNs whose
// paths name the same file (a `./..` alias, a symbolic link) are refused at
// start and by --check; `lun create` and a reload naming a served file
// (through a link) are refused; a second daemon cannot serve a file the
// first one serves read-write (flock), while two read-only daemons may
// share one. Against the daemon from its bin.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backingLockUnavailable } from '@iscsi-target/ctl-block';
import { daemonBin, e2ePeer, freePort, repoRoot, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

const IQN = 'iqn.2026-11.org.nodejs-iscsi:store';
const ctlBin = path.join(repoRoot, 'apps', 'target', 'bin', 'iscsi-target-ctl.js');
const noLocks = backingLockUnavailable();

function config(port: number, luns: string[]): string {
  return [
    `portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1:${port} }`,
    `target ${IQN} {`,
    '  auth-group no-authentication; portal-group pg0',
    ...luns.map((l, i) => `  lun ${i} { ${l} }`),
    '}',
    '',
  ].join('\n');
}

describe.skipIf(e2ePeer() !== undefined)('one backing store, one LUN (process)', () => {
  let dir: string;
  let img: string;
  let link: string;
  const started: TargetHandle[] = [];
  const writeConf = (name: string, port: number, luns: string[]): string => {
    const f = path.join(dir, name);
    writeFileSync(f, config(port, luns));
    return f;
  };
  const check = (file: string) => run(process.execPath, [daemonBin, '--check', '-f', file], { timeoutMs: 20_000 });
  async function startFails(file: string, dataDir: string): Promise<string> {
    const t = await startTarget({ args: ['-f', file], dataDir, waitReady: false });
    expect((await t.exited).code).toBe(1);
    return t.logs.text();
  }

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-store-'));
    mkdirSync(path.join(dir, 'sub'));
    img = path.join(dir, 'd0.img');
    writeFileSync(img, Buffer.alloc(1024 * 1024));
    link = path.join(dir, 'alias.img');
    symlinkSync(img, link);
  });
  afterAll(async () => {
    for (const t of started) await t.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['a ./.. alias', () => `path ${dir}/sub/.././d0.img`],
    ['a symbolic link', () => `path ${link}`],
  ])('two LUNs on one file through %s: start and --check refuse', async (_what, second) => {
    const port = await freePort('127.0.0.1');
    const file = writeConf('dup.conf', port, [`path ${img}`, second()]);
    const c = await check(file);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/lun ".*,lun,1": path ".*" is the same file as ".*d0\.img" of lun ".*,lun,0" \(device \d+:\d+, inode \d+\); one backing store can back one LUN only/);
    const text = await startFails(file, path.join(dir, 'dd'));
    expect(text).toContain('is the same file as');
  });

  describe.skipIf(noLocks !== null)(`with a running daemon${noLocks !== null ? ` (skipped: ${noLocks})` : ''}`, () => {
    let t: TargetHandle;
    let port: number;
    let main: string;
    const ctl = (...args: string[]) => run(process.execPath, [ctlBin, '-d', path.join(dir, 'a'), ...args], { timeoutMs: 20_000 });

    beforeAll(async () => {
      port = await freePort('127.0.0.1');
      main = writeConf('a.conf', port, [`path ${img}`]);
      t = await startTarget({ args: ['-f', main], port, dataDir: path.join(dir, 'a') });
      started.push(t);
    });

    it('lun create on the served file (by its path or a link) is refused', async () => {
      for (const p of [img, link]) {
        const r = await ctl('lun', 'create', '--backend', 'file', '--path', p);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain('is the same file as');
      }
    });

    it('a reload adding a LUN on a link to the served file is refused', async () => {
      writeConf('a.conf', port, [`path ${img}`, `path ${link}`]);
      const r = await ctl('reload');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('is the same file as');
      writeConf('a.conf', port, [`path ${img}`]);
    });

    it('a second daemon refuses the file; --check predicts it', async () => {
      const other = writeConf('b.conf', await freePort('127.0.0.1'), [`path ${link}`]);
      const c = await check(other);
      expect(c.code).toBe(1);
      expect(c.stderr).toContain(`is in use by process ${t.pid}`);
      const text = await startFails(other, path.join(dir, 'b'));
      expect(text).toContain(`is in use by process ${t.pid} (it holds a lock on it)`);
      // Read-only does not help while the first one writes.
      writeConf('b.conf', await freePort('127.0.0.1'), [`path ${img}; option readonly on`]);
      expect(await startFails(other, path.join(dir, 'b'))).toContain('it can be shared only when every user is read-only');
    });

    it('two read-only daemons may share a file', async () => {
      await t.stop();
      const p1 = await freePort('127.0.0.1');
      const p2 = await freePort('127.0.0.1');
      const r1 = await startTarget({ args: ['-f', writeConf('r1.conf', p1, [`path ${img}; option readonly on`])], port: p1, dataDir: path.join(dir, 'r1') });
      started.push(r1);
      const r2 = await startTarget({ args: ['-f', writeConf('r2.conf', p2, [`path ${link}; option readonly on`])], port: p2, dataDir: path.join(dir, 'r2') });
      started.push(r2);
      expect(r1.alive() && r2.alive()).toBe(true);
    });
  });
});
