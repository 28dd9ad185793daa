// End-to-end: SendTargets discovery and LUN listing with libiscsi's iscsi-ls
// against the daemon's embedded default configuration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveCommand, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.skipIf(!haveCommand('iscsi-ls'))('discovery (iscsi-ls)', () => {
  let target: TargetHandle;
  beforeAll(async () => {
    target = await startTarget();
  });
  afterAll(async () => {
    await target?.stop();
  });

  it('lists the default target at its portal and its 1 GiB disk LUN', async () => {
    const r = await run('iscsi-ls', ['-s', target.portalUrl()], { timeoutMs: 30_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    // One "Target:<iqn> Portal:<addr>:<port>,<tpgt>" line per TargetAddress (RFC 7143 §12.3 SendTargets).
    const targets = r.stdout.split('\n').filter((l) => l.startsWith('Target:'));
    expect(targets).toHaveLength(1);
    expect(targets[0]).toMatch(new RegExp(`^Target:${esc(target.iqn)} Portal:127\\.0\\.0\\.1:${target.port},\\d+$`));
    // iscsi-ls prints (last LBA × block size) in MiB, rounded down: 1 GiB shows as 1023M.
    const lun = new RegExp(`^Lun:${target.wireLun(0)}\\s+Type:DIRECT_ACCESS \\(Size:1023M\\)$`, 'm');
    expect(r.stdout).toMatch(lun);
    if (target.kind === 'iscsi-target') {
      // The embedded default has exactly one LUN (tgtd adds its controller at LUN 0).
      expect(r.stdout.split('\n').filter((l) => l.startsWith('Lun:'))).toHaveLength(1);
    }
  });

  it('reports the target as an iscsi:// URL usable for a normal login', async () => {
    const r = await run('iscsi-ls', ['--url', target.portalUrl()], { timeoutMs: 30_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const urls = r.stdout.split('\n').filter((l) => l.startsWith('iscsi://'));
    expect(urls).toEqual([`iscsi://127.0.0.1:${target.port}/${target.iqn}/0`]);
  });

  it('refuses a normal login to a target name that does not exist', async () => {
    const r = await run('iscsi-inq', [`${target.portalUrl()}/iqn.2026-11.org.nodejs-iscsi:no-such-target/0`], { timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    // libiscsi prints the login status; 515 = 0x0203 "Not found". RFC 7143 §11.13.5.
    expect(r.stdout + r.stderr).toMatch(/Target not found\(515\)/);
    expect(target.alive()).toBe(true);
  });
});
