// End-to-end: the three plug points chosen by name from a ctl.conf, with the
// daemon started from its bin.
// - Built-ins named explicitly (`backend ramdisk`, `backend block`, `offload
//   none`, `nic tcp`) serve libiscsi's tools and a qemu-img round trip.
// - An unknown backend, ICL driver or NIC driver fails --check with its
//   file:line:col, and start exits 1 without listening.
// - A backend and a NIC driver from a package outside packages/
//   (test/fixtures/plugin-pkg, loaded with --plugin) are chosen from a
//   ctl.conf and serve a qemu-img round trip; the fixture's log proves that
//   its backend opened the LUN and its NIC driver carried the bytes.
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canConnect, daemonBin, freePort, haveCommand, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

const MiB = 1024 * 1024;
const IQN = 'iqn.2026-12.org.example:plug';
const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'plugin-pkg', 'index.mjs');

async function qemuHasIscsi(): Promise<boolean> {
  if (!haveCommand('qemu-img')) return false;
  const r = await run('qemu-img', ['--help'], { timeoutMs: 10_000 });
  return /Supported formats:.*\biscsi\b/s.test(r.stdout);
}
const haveQemu = await qemuHasIscsi();
const haveLibiscsi = haveCommand('iscsi-ls') && haveCommand('iscsi-inq');

/** Writes 8 MiB of random data at the start of the LUN with qemu-img and reads it back: same sha256. */
async function roundTrip(dir: string, url: string): Promise<void> {
  const input = path.join(dir, 'in.img');
  const data = Buffer.allocUnsafe(8 * MiB);
  randomFillSync(data);
  writeFileSync(input, data);
  const w = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', input, url], { timeoutMs: 60_000 });
  expect(w.code, w.stderr + w.stdout).toBe(0);
  const output = path.join(dir, 'out.img');
  const r = await run('qemu-img', ['dd', '-f', 'raw', '-O', 'raw', 'bs=1M', 'count=8', `if=${url}`, `of=${output}`], { timeoutMs: 60_000 });
  expect(r.code, r.stderr + r.stdout).toBe(0);
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  expect(sha(readFileSync(output))).toBe(sha(data));
  rmSync(output, { force: true });
  rmSync(input, { force: true });
}

describe('plug points chosen by name in ctl.conf', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-plug-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe.skipIf(!haveQemu || !haveLibiscsi)('built-ins named explicitly (needs qemu-img with iscsi and libiscsi-bin)', () => {
    let target: TargetHandle;
    let port: number;
    beforeAll(async () => {
      port = await freePort('127.0.0.1');
      const conf = path.join(dir, 'builtin.conf');
      writeFileSync(
        conf,
        [
          'portal-group pg0 {',
          `  listen 127.0.0.1:${port}`,
          '  discovery-auth-group no-authentication',
          '  offload none',
          '  nic tcp',
          '}',
          `target ${IQN} {`,
          '  auth-group no-authentication',
          '  portal-group pg0',
          '  lun 0 { backend ramdisk; size 32M }',
          `  lun 1 { backend block; path ${path.join(dir, 'b.img')}; size 32M }`,
          '}',
          '',
        ].join('\n'),
      );
      target = await startTarget({ host: '127.0.0.1', port, args: ['-f', conf] });
    });
    afterAll(async () => {
      await target?.stop();
    });

    it('libiscsi sees both LUNs; the log names the NIC driver', async () => {
      const ls = await run('iscsi-ls', ['-s', `iscsi://127.0.0.1:${port}`], { timeoutMs: 30_000 });
      expect(ls.code, ls.stderr).toBe(0);
      expect(ls.stdout).toMatch(/Lun:0\s+Type:DIRECT_ACCESS.*\(Size:3[12]M\)/);
      expect(ls.stdout).toMatch(/Lun:1\s+Type:DIRECT_ACCESS.*\(Size:3[12]M\)/);
      expect(target.logs.text()).toContain('NIC driver tcp');
    });

    it.each([0, 1])('qemu-img round trip on LUN %i', async (lun) => {
      await roundTrip(dir, `iscsi://127.0.0.1:${port}/${IQN}/${lun}`);
      expect(target.alive()).toBe(true);
    });
  });

  describe('unknown names', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['backend', `target ${IQN} { auth-type none; portal-group pg0; lun 0 { backend zfs; size 1M } }`, /:9:\d+: invalid backend "zfs": expected block, ramdisk or rbd/],
      ['ICL driver', `target ${IQN} { auth-type none; portal-group pg0; lun 0 { backend ramdisk; size 1M } }`, /:4:\d+: portal-group "pg0": unknown ICL driver "cxgbei" \(offload\): expected none/],
      ['NIC driver', `target ${IQN} { auth-type none; portal-group pg0; lun 0 { backend ramdisk; size 1M } }`, /:5:\d+: portal-group "pg0": unknown NIC driver "dpdk": expected tcp/],
    ];
    it.each(cases)('an unknown %s fails --check with its position, and start listens on nothing', async (what, targetLine, message) => {
      const port = await freePort('127.0.0.1');
      const conf = path.join(dir, `unknown-${what.replace(' ', '-')}.conf`);
      writeFileSync(
        conf,
        [
          'portal-group pg0 {',
          `  listen 127.0.0.1:${port}`,
          '  discovery-auth-group no-authentication',
          what === 'ICL driver' ? '  offload cxgbei' : '  offload none',
          what === 'NIC driver' ? '  nic dpdk' : '  nic tcp',
          '}',
          '',
          targetLine.replace('{ backend', '{\n backend'),
          '',
        ].join('\n'),
      );
      const check = await run(process.execPath, [daemonBin, '-f', conf, '--check'], { timeoutMs: 30_000 });
      expect(check.code).toBe(1);
      expect(check.stderr).toMatch(message);
      expect(check.stderr).toContain(conf);
      const start = await run(process.execPath, [daemonBin, '-f', conf, '--no-admin-socket'], { timeoutMs: 30_000 });
      expect(start.code).toBe(1);
      expect(start.stderr).toMatch(message);
      expect(await canConnect('127.0.0.1', port)).toBe(false);
    });
  });

  describe.skipIf(!haveQemu)('a backend and a NIC driver from a package outside packages/ (needs qemu-img with iscsi)', () => {
    let target: TargetHandle;
    let port: number;
    let log: string;
    beforeAll(async () => {
      expect(existsSync(FIXTURE)).toBe(true);
      port = await freePort('127.0.0.1');
      log = path.join(dir, 'plugin.log');
      const conf = path.join(dir, 'plugin.conf');
      writeFileSync(
        conf,
        [
          'portal-group pg0 {',
          `  listen 127.0.0.1:${port}`,
          '  discovery-auth-group no-authentication',
          '  nic fixture-tcp',
          '}',
          `target ${IQN} {`,
          '  auth-group no-authentication',
          '  portal-group pg0',
          '  lun 0 { backend fixture-mem; size 16M; option fixture_tag blue }',
          '}',
          '',
        ].join('\n'),
      );
      const check = await run(process.execPath, [daemonBin, '--plugin', FIXTURE, '-f', conf, '--check'], { timeoutMs: 30_000 });
      expect(check.code, check.stderr).toBe(0);
      expect(check.stdout).toContain('iscsi-target: NIC driver fixture-tcp: test fixture');
      expect(check.stdout).toContain('iscsi-target: backend fixture-mem: test fixture');
      target = await startTarget({ host: '127.0.0.1', port, args: ['--plugin', FIXTURE, '-f', conf], env: { ...process.env, FIXTURE_PLUGIN_LOG: log } });
    });
    afterAll(async () => {
      await target?.stop();
    });

    it('serves a qemu-img round trip through the plug-in backend and NIC driver', async () => {
      await roundTrip(dir, `iscsi://127.0.0.1:${port}/${IQN}/0`);
      const lines = readFileSync(log, 'utf8').split('\n');
      expect(lines).toContain(`backend open ${IQN},lun,0 size=${16 * MiB} tag=blue`);
      expect(lines).toContain('nic accept');
      // Every byte to the initiator went through the plug-in's NIC driver: at least the 8 MiB read back.
      const sent = lines.filter((l) => l.startsWith('nic send ')).reduce((n, l) => n + Number(l.slice('nic send '.length)), 0);
      expect(sent).toBeGreaterThan(8 * MiB);
      expect(target.alive()).toBe(true);
    });

    it('refuses a --plugin that cannot be loaded, naming it', async () => {
      const r = await run(process.execPath, [daemonBin, '--plugin', path.join(dir, 'missing.mjs'), '--check'], { timeoutMs: 30_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`--plugin ${path.join(dir, 'missing.mjs')}: cannot load`);
    });
  });
});
