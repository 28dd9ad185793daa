// End-to-end: the FreeBSD-style example docs/ctl.conf.example — validated as
// is with --check, then served by the daemon (only the listen ports, the
// pidfile and the LUN directory are moved to free/temporary places) and used
// with libiscsi: CHAP, mutual CHAP, initiator-name and discovery filtering.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonBin, e2ePeer, freePort, haveCommand, repoRoot, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

const EXAMPLE = join(repoRoot, 'docs', 'ctl.conf.example');
const IQN = 'iqn.2026-11.org.nodejs-iscsi';
const HOST1 = `${IQN}:host1`;

describe.skipIf(e2ePeer() !== undefined)('docs/ctl.conf.example', () => {
  it('passes --check as is (with the isns-server warning)', async () => {
    const r = await run(process.execPath, [daemonBin, '-f', EXAMPLE, '--check'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    // What this build offers, then the verdict.
    expect(r.stdout).toMatch(/^iscsi-target: ICL driver none: .*\n(.*\n)*iscsi-target: NIC driver tcp: .*\n(.*\n)*iscsi-target: backend block: /);
    expect(r.stdout.endsWith(`iscsi-target: ${EXAMPLE}: OK (3 targets, 3 LUNs, 2 portals)\n`)).toBe(true);
    expect(r.stderr).toBe(`iscsi-target: warning: ${EXAMPLE}:11:1: "isns-server 192.0.2.100" is ignored: this daemon has no iSNS client\n`);
  });

  describe.skipIf(!haveCommand('iscsi-inq') || !haveCommand('iscsi-ls'))('served by the daemon', () => {
    let target: TargetHandle;
    let dir: string;
    let port: number;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'iscsi-example-'));
      port = await freePort('127.0.0.1');
      const text = readFileSync(EXAMPLE, 'utf8');
      const moved = text
        .replace('127.0.0.1:3260', `127.0.0.1:${port}`)
        .replace('[::1]:3260', `[::1]:${await freePort('::1').catch(() => port)}`)
        .replace('/var/run/ctld.pid', join(dir, 'ctld.pid'));
      expect(moved).not.toBe(text);
      writeFileSync(join(dir, 'ctl.conf'), moved);
      target = await startTarget({ host: '127.0.0.1', port, args: ['-f', join(dir, 'ctl.conf'), '--auth-failure-delay', '20'] });
    });
    afterAll(async () => {
      await target?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it('created the missing LUN files sparse, and the pidfile', () => {
      const db = statSync(join(dir, 'db.img'));
      expect(db.size).toBe(64 * 2 ** 20);
      expect(db.blocks * 512).toBeLessThan(db.size);
      expect(statSync(join(dir, 'scratch.img')).size).toBe(16 * 2 ** 20);
      expect(readFileSync(join(dir, 'ctld.pid'), 'utf8').trim()).toBe(String(target.pid));
    });

    it('CHAP target: the example credentials log in, the LUN shows the configured vendor', async () => {
      const r = await run('iscsi-inq', ['-i', HOST1, `iscsi://initiator1%chapsecret1234@127.0.0.1:${port}/${IQN}:db/0`], { timeoutMs: 30_000 });
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toMatch(/^Vendor:NODEJS\s*$/m);
    });

    it('mutual CHAP target: logs in with the target credentials', async () => {
      const url = `iscsi://initiator2%chapsecret5678@127.0.0.1:${port}/${IQN}:vm/0?target_user=target-user&target_password=targetsecret90`;
      const r = await run('iscsi-inq', ['-i', HOST1, url], { timeoutMs: 30_000 });
      expect(r.code, r.stderr + r.stdout).toBe(0);
    });

    it('initiator-name target: host1 may log in, another name may not, nor see it in discovery', async () => {
      const ok = await run('iscsi-inq', ['-i', HOST1, `iscsi://127.0.0.1:${port}/${IQN}:scratch/0`], { timeoutMs: 30_000 });
      expect(ok.code, ok.stderr + ok.stdout).toBe(0);
      const other = `${IQN}:host9`;
      const refused = await run('iscsi-inq', ['-i', other, `iscsi://127.0.0.1:${port}/${IQN}:scratch/0`], { timeoutMs: 30_000 });
      expect(refused.stdout + refused.stderr).toMatch(/Authorization failure\(514\)/);
      const ls = await run('iscsi-ls', ['-i', other, `iscsi://127.0.0.1:${port}`], { timeoutMs: 30_000 });
      expect(ls.code, ls.stderr + ls.stdout).toBe(0);
      const names = new Set(ls.stdout.split('\n').filter((l) => l.startsWith('Target:')).map((l) => l.split(' ')[0]));
      expect([...names].sort()).toEqual([`Target:${IQN}:db`, `Target:${IQN}:vm`]);
    });

    it('removes the pidfile at stop', async () => {
      await target.stop();
      expect(existsSync(join(dir, 'ctld.pid'))).toBe(false);
    });
  });
});
