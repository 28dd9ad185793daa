// End-to-end: a backend fault is visible to the operator (issue 13 item 6).
// A file LUN on a 4 MiB tmpfs filled by qemu-io runs out of space: the
// initiator gets errors, and the daemon logs a warn line naming the LUN and
// ENOSPC, `iscsi-target-ctl lun list` counts the errors, and the metric
// `iscsi_target_lun_backend_errors_total` shows them. Needs root to mount the
// tmpfs and qemu-io with the iscsi driver; skipped with the reason otherwise.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2ePeer, freePort, haveCommand, repoRoot, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

const IQN = 'iqn.2026-11.org.nodejs-iscsi:faults';
const root = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-faults-'));
const fs = path.join(root, 'fs');
mkdirSync(fs);
const before = e2ePeer() !== undefined ? 'daemon-only' : !haveCommand('qemu-io') ? 'qemu-io not installed' : null;
// Mounted only when the tests will run (afterAll unmounts it).
const mounted = before === null && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', fs]).status === 0;
if (!mounted) rmSync(root, { recursive: true, force: true });
const reason = before ?? (!mounted ? 'cannot mount a tmpfs (needs root)' : null);

describe.skipIf(reason !== null)(`backend faults are visible${reason !== null ? ` (skipped: ${reason})` : ''}`, () => {
  let target: TargetHandle;
  let mport: number;
  const dataDir = path.join(root, 'data');
  beforeAll(async () => {
    const port = await freePort();
    mport = await freePort();
    mkdirSync(dataDir);
    const file = path.join(root, 'ctl.conf');
    writeFileSync(
      file,
      [
        'portal-group pg0 {',
        '  discovery-auth-group no-authentication',
        `  listen 127.0.0.1:${port}`,
        '}',
        'lun full {',
        `  path ${path.join(fs, 'full.img')}`,
        '  size 64M',
        '}',
        `target ${IQN} {`,
        '  auth-group no-authentication',
        '  portal-group pg0',
        '  lun 0 full',
        '}',
        '',
      ].join('\n'),
    );
    target = await startTarget({ port, dataDir, args: ['-f', file, '--metrics', `127.0.0.1:${mport}`] });
  });
  afterAll(async () => {
    await target?.stop();
    if (mounted) {
      spawnSync('umount', [fs]);
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('ENOSPC: a warn line with the LUN, a count in lun list and in the metrics', async () => {
    const url = `iscsi://127.0.0.1:${target.port}/${IQN}/0`;
    // 16 MiB of non-zero data into a 4 MiB file system.
    const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 0 16M', url], { timeoutMs: 60_000 });
    expect(`${w.stdout}${w.stderr}`).toMatch(/error|failed|No space/i);

    const warn = target.logs.json().filter((l) => l['level'] === 40 && String(l['msg']).includes('ENOSPC'));
    expect(warn.length, target.logs.text()).toBeGreaterThan(0);
    expect(warn[0]!['lun']).toBe('full');
    expect(String(warn[0]!['msg'])).toMatch(/^lun "full": no space left for the backing store: ENOSPC on write/);
    // Rate-limited: a 16 MiB write fails in many commands, logged once (within 10 s).
    expect(warn.length).toBeLessThanOrEqual(2);

    const ctl = execFileSync(process.execPath, [path.join(repoRoot, 'apps/target/bin/iscsi-target-ctl.js'), '-d', dataDir, 'lun', 'list', '--json'], { encoding: 'utf8' });
    const lun = (JSON.parse(ctl) as Array<{ name: string; errors: number; faults: Record<string, number> }>).find((l) => l.name === 'full')!;
    expect(lun.errors).toBeGreaterThan(0);
    expect(lun.faults['ENOSPC']).toBe(lun.errors);
    const human = execFileSync(process.execPath, [path.join(repoRoot, 'apps/target/bin/iscsi-target-ctl.js'), '-d', dataDir, 'lun', 'list'], { encoding: 'utf8' });
    expect(human).toMatch(/ERRORS/);
    expect(human).toMatch(new RegExp(`${lun.errors} \\(ENOSPC ${lun.errors}\\)`));

    const metrics = await fetch(`http://127.0.0.1:${mport}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(new RegExp(`iscsi_target_lun_backend_errors_total\\{lun="full",code="ENOSPC"\\} ${lun.errors}`));
  });
});
