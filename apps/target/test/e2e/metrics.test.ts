// End-to-end: the Prometheus endpoint (--metrics) of a running daemon,
// scraped after QEMU's iSCSI driver wrote and read a known amount
// (`qemu-img bench`, 256 × 128 KiB each way, 32 in flight): per-LUN and
// per-operation figures match the I/O exactly, and the copy counters show
// the data path — in no-copy mode ZERO payload bytes copied in userspace in
// either direction, in copy mode every written byte copied in and every
// byte sent copied out (DESIGN.md §3.3); and the same switches from a
// configuration file (`metrics-listen`, `nocopy off`).
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_IQN, freePort, haveCommand, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

const COUNT = 256;
const SIZE = 128 * 1024;
const BYTES = COUNT * SIZE;
/** Non-payload data CTL sends (INQUIRY, READ CAPACITY, MODE SENSE...) stays far below this. */
const CONTROL_SLACK = 16 * 1024;

async function qemuHasIscsi(): Promise<boolean> {
  if (!haveCommand('qemu-img')) return false;
  const r = await run('qemu-img', ['--help'], { timeoutMs: 10_000 });
  return /Supported formats:.*\biscsi\b/s.test(r.stdout);
}
const canRun = await qemuHasIscsi();

function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function bench(url: string, write: boolean): Promise<void> {
  const args = ['bench', ...(write ? ['-w'] : []), '-t', 'none', '-d', '32', '-s', String(SIZE), '-c', String(COUNT), '-f', 'raw', url];
  const r = await run('qemu-img', args, { timeoutMs: 120_000 });
  expect(r.code, r.stdout + r.stderr).toBe(0);
}

describe.skipIf(!canRun)('metrics endpoint', () => {
  let target: TargetHandle | undefined;
  afterEach(async () => {
    await target?.stop();
    target = undefined;
  });

  it('is off unless asked for', async () => {
    const port = await freePort();
    target = await startTarget();
    const r = await fetch(`http://127.0.0.1:${port}/metrics`).then(
      () => 'answered',
      () => 'refused',
    );
    expect(r).toBe('refused');
    expect(target.logs.stdout()).not.toMatch(/metrics on http/);
  });

  it.each([
    ['--no-copy', false],
    ['--copy', true],
  ] as const)('counts the I/O qemu-img did and the copies (%s)', async (flag, copyMode) => {
    const mport = await freePort();
    target = await startTarget({ args: [flag, '--metrics', `127.0.0.1:${mport}`] });
    await bench(target.url(0), true);
    await bench(target.url(0), false);
    const res = await fetch(`http://127.0.0.1:${mport}/metrics`);
    expect(res.status).toBe(200);
    const s = samples(await res.text());
    const lun = `target="${DEFAULT_IQN}",lun="0"`;
    expect(s.get(`iscsi_target_lun_write_bytes_total{${lun}}`)).toBe(BYTES);
    expect(s.get(`iscsi_target_lun_read_bytes_total{${lun}}`)).toBe(BYTES);
    expect(s.get(`iscsi_target_lun_commands_total{${lun},op="write"}`)).toBe(COUNT);
    expect(s.get(`iscsi_target_lun_commands_total{${lun},op="read"}`)).toBe(COUNT);
    expect(s.get(`iscsi_target_lun_command_latency_seconds_count{${lun},op="read"}`)).toBe(COUNT);
    expect(s.get(`iscsi_target_lun_command_latency_seconds_bucket{le="+Inf",${lun},op="write"}`)).toBe(COUNT);
    // Both qemu-img runs logged out: no session left.
    expect(s.get(`iscsi_target_sessions{target="${DEFAULT_IQN}"}`)).toBe(0);

    const icl = (direction: string, kind: string) => s.get(`iscsi_target_copy_bytes_total{layer="icl",direction="${direction}",kind="${kind}"}`) ?? NaN;
    if (!copyMode) {
      expect(icl('in', 'copied')).toBe(0);
      expect(icl('out', 'copied')).toBe(0);
      expect(icl('in', 'referenced')).toBeGreaterThanOrEqual(BYTES);
      expect(icl('out', 'referenced')).toBeGreaterThanOrEqual(BYTES);
    } else {
      expect(icl('in', 'copied')).toBe(BYTES);
      expect(icl('out', 'copied')).toBeGreaterThanOrEqual(BYTES);
      expect(icl('out', 'copied')).toBeLessThan(BYTES + CONTROL_SLACK);
      expect(icl('out', 'referenced')).toBeLessThan(CONTROL_SLACK);
    }
    // CTL moves no payload itself.
    for (const d of ['in', 'out']) expect(s.get(`iscsi_target_copy_bytes_total{layer="ctl",direction="${d}",kind="copied"}`)).toBe(0);
    expect(target.logs.stdout()).toMatch(new RegExp(`metrics on http://127\\.0\\.0\\.1:${mport}/metrics`));
  });

  it('takes metrics-listen and nocopy off from the configuration file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-metrics-'));
    try {
      const port = await freePort();
      const mport = await freePort();
      const conf = path.join(dir, 'ctl.conf');
      const lun = path.join(dir, 'lun0.img');
      writeFileSync(lun, '');
      truncateSync(lun, 64 * 1024 * 1024);
      writeFileSync(
        conf,
        `metrics-listen 127.0.0.1:${mport}\nnocopy off\n` +
          `portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1:${port} }\n` +
          `target ${DEFAULT_IQN} { auth-group no-authentication; portal-group pg0; lun 0 { path ${lun} } }\n`,
      );
      target = await startTarget({ port, args: ['-f', conf] });
      await bench(target.url(0), true);
      const s = samples(await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text());
      // Copy mode from the file: every written byte was copied in userspace.
      expect(s.get('iscsi_target_copy_bytes_total{layer="icl",direction="in",kind="copied"}')).toBe(BYTES);
      expect(s.get(`iscsi_target_lun_write_bytes_total{target="${DEFAULT_IQN}",lun="0"}`)).toBe(BYTES);
    } finally {
      await target?.stop();
      target = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
