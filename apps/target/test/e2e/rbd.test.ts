// End-to-end over a Ceph RBD LUN (backend rbd) on a throw-away cluster
// (tools/ceph/cluster.mjs, started once for this file): the qemu-img 64 MiB
// round trip reads back the same bytes, with ZERO payload bytes copied in
// userspace in either direction in no-copy mode (metrics); iscsi-inq sees the
// LUN with thin provisioning (VPD B2h); a resize through the admin CLI is
// seen by the initiator (CAPACITY DATA HAS CHANGED, READ CAPACITY); two raw
// initiators race COMPARE AND WRITE (one winner per round); UNMAP then GET
// LBA STATUS shows the hole; iscsi-ls and a qemu-io unaligned pattern; an OSD
// stalled (SIGSTOP/SIGCONT) mid-run loses nothing; an OSD op timeout is a
// SCSI error, not a hung session; SIGTERM flushes and closes the image; a
// LUN whose cluster is down or whose image is missing at start is a clear
// error naming the LUN while the ramdisk LUN serves.
// Skipped (with the reason) without Ceph, the librbd binding or qemu-img's iscsi driver.
import { createHash, randomFillSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IQN, freePort, haveCommand, rawClose, rawLogin, rawScsiCommand, repoRoot, run, startTarget, type RawSession, type TargetHandle } from '@iscsi-target/test-utils';
import { rbdNativeUnavailable } from '@iscsi-target/ctl-rbd';
import { cephAvailable, startCluster, type CephCluster } from '../../../../tools/ceph/cluster.mjs';

const MiB = 1024 * 1024;
const BYTES = 64 * MiB;
const ctlBin = path.join(repoRoot, 'apps', 'target', 'bin', 'iscsi-target-ctl.js');

function cawCdb(lba: number, blocks: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = 0x89; // COMPARE AND WRITE (SBC-4 5.3)
  c.writeBigUInt64BE(BigInt(lba), 2);
  c[13] = blocks;
  return c;
}
function readCapacity16(): Buffer {
  const c = Buffer.alloc(16);
  c[0] = 0x9e;
  c[1] = 0x10;
  c.writeUInt32BE(32, 10);
  return c;
}
function getLbaStatus(lba: number): Buffer {
  const c = Buffer.alloc(16);
  c[0] = 0x9e;
  c[1] = 0x12; // GET LBA STATUS (SBC-4 5.7)
  c.writeBigUInt64BE(BigInt(lba), 2);
  c.writeUInt32BE(4096, 10);
  return c;
}
function unmapList(lba: number, blocks: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt16BE(22, 0);
  b.writeUInt16BE(16, 2);
  b.writeBigUInt64BE(BigInt(lba), 8);
  b.writeUInt32BE(blocks, 16);
  return b;
}
function unmapCdb(len: number): Buffer {
  const c = Buffer.alloc(10);
  c[0] = 0x42;
  c.writeUInt16BE(len, 7);
  return c;
}
/** GET LBA STATUS descriptors: [lba, blocks, provisioning status] (0 mapped, 1 deallocated). */
function lbaStatus(data: Buffer): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  const len = data.readUInt32BE(0);
  for (let o = 8; o + 16 <= Math.min(data.length, len + 4); o += 16) {
    out.push([Number(data.readBigUInt64BE(o)), data.readUInt32BE(o + 8), (data[o + 12] ?? 0) & 0x0f]);
  }
  return out;
}

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

  describe('two initiators on one RBD LUN (raw sessions), iscsi-ls, qemu-io', () => {
    let target: TargetHandle;
    let port: number;
    let a: RawSession;
    let b: RawSession;
    let tdir: string;
    beforeAll(async () => {
      port = await freePort();
      tdir = mkdtempSync(path.join(dir, 'two-'));
      const file = path.join(tdir, 'ctl.conf');
      writeFileSync(file, conf(port, `  lun 0 {\n    backend rbd\n    path rbd/e2e2\n    size 64M\n    option ceph_conf ${cluster.conf}\n  }\n`));
      target = await startTarget({ port, args: ['-f', file], dataDir: tdir });
      a = await rawLogin('127.0.0.1', port, { targetName: DEFAULT_IQN, initiatorName: 'iqn.2026-12.test:rbd-a' });
      b = await rawLogin('127.0.0.1', port, { targetName: DEFAULT_IQN, initiatorName: 'iqn.2026-12.test:rbd-b' });
      // Clear the power-on unit attention on both.
      for (const s of [a, b]) for (let i = 0; i < 3; i++) if ((await rawScsiCommand(s, Buffer.alloc(6))).status === 0) break;
    }, 60_000);
    afterAll(async () => {
      if (a) rawClose(a);
      if (b) rawClose(b);
      await target?.stop();
    });

    it.skipIf(!haveCommand('iscsi-ls'))('iscsi-ls lists the target and the LUN', async () => {
      const r = await run('iscsi-ls', ['-s', `iscsi://127.0.0.1:${port}`], { timeoutMs: 20_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(DEFAULT_IQN);
      expect(r.stdout).toMatch(/Lun:0\b/);
    });

    it.skipIf(!haveCommand('qemu-io'))('qemu-io: an unaligned pattern write reads back, its neighbours untouched', async () => {
      const url = target.url(0);
      const w = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x00 0 65536', '-c', 'write -P 0xa5 1000 5001', url], { timeoutMs: 30_000 });
      expect(w.code, w.stderr + w.stdout).toBe(0);
      const r = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0xa5 1000 5001', '-c', 'read -P 0x00 0 1000', '-c', 'read -P 0x00 6001 59535', url], { timeoutMs: 30_000 });
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout + r.stderr).not.toMatch(/Pattern verification failed|error/i);
    });

    it('COMPARE AND WRITE from two initiators: exactly one winner each round', async () => {
      const lba = 4096;
      const block = (v: number) => Buffer.alloc(512, v);
      const init = await rawScsiCommand(a, (() => { const c = Buffer.alloc(10); c[0] = 0x2a; c.writeUInt32BE(lba, 2); c.writeUInt16BE(1, 7); return c; })(), { dataOut: block(0) });
      expect(init.status).toBe(0);
      let cur = 0;
      for (let round = 0; round < 20; round++) {
        const va = (2 * round + 1) & 0xff;
        const vb = (2 * round + 2) & 0xff;
        const [ra, rb] = await Promise.all([
          rawScsiCommand(a, cawCdb(lba, 1), { dataOut: Buffer.concat([block(cur), block(va)]) }),
          rawScsiCommand(b, cawCdb(lba, 1), { dataOut: Buffer.concat([block(cur), block(vb)]) }),
        ]);
        const wins = [ra, rb].filter((r) => r.status === 0).length;
        expect(wins, `round ${round}`).toBe(1);
        const loser = ra.status === 0 ? rb : ra;
        expect([loser.status, loser.senseKey, loser.asc]).toEqual([2, 0x0e, 0x1d]); // MISCOMPARE
        cur = ra.status === 0 ? va : vb;
        const rd = Buffer.alloc(10);
        rd[0] = 0x28;
        rd.writeUInt32BE(lba, 2);
        rd.writeUInt16BE(1, 7);
        const back = await rawScsiCommand(b, rd, { readLength: 512 });
        expect(back.data.equals(block(cur)), `round ${round}`).toBe(true);
      }
    }, 60_000);

    it('UNMAP then GET LBA STATUS shows the hole (one RADOS object)', async () => {
      // Map the first 8 MiB (two 4 MiB objects), then unmap the first object.
      const w = await run('qemu-io', ['-f', 'raw', '-c', `write -P 0x11 0 ${8 * MiB}`, target.url(0)], { timeoutMs: 30_000 });
      expect(w.code, w.stderr).toBe(0);
      const u = await rawScsiCommand(a, unmapCdb(24), { dataOut: unmapList(0, 8192) });
      expect(u.status).toBe(0);
      const st = await rawScsiCommand(a, getLbaStatus(0), { readLength: 4096 });
      expect(st.status).toBe(0);
      const d = lbaStatus(st.data);
      expect(d[0]).toEqual([0, 8192, 1]);
      expect(d[1]?.[0]).toBe(8192);
      expect(d[1]?.[2]).toBe(0);
    }, 60_000);

    it('lun resize through the admin CLI: CAPACITY DATA HAS CHANGED, then READ CAPACITY shows the new size', async () => {
      const r = await run(process.execPath, [ctlBin, '-d', tdir, 'lun', 'resize', '0', '96M'], { timeoutMs: 20_000 });
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const first = await rawScsiCommand(a, readCapacity16(), { readLength: 32 });
      expect([first.status, first.senseKey, first.asc, first.ascq]).toEqual([2, 6, 0x2a, 0x09]);
      const cap = await rawScsiCommand(a, readCapacity16(), { readLength: 32 });
      expect(cap.status).toBe(0);
      expect(Number(cap.data.readBigUInt64BE(0)) + 1).toBe((96 * MiB) / 512);
      const info = JSON.parse(await cluster.rbd('info', '--format', 'json', 'rbd/e2e2')) as { size: number };
      expect(info.size).toBe(96 * MiB);
    }, 60_000);

    it.skipIf(!haveCommand('qemu-io'))('an OSD stalled (SIGSTOP) during a write run: the run completes once it resumes, every block reads back', async () => {
      const osdPid = cluster.pids[1] as number; // mon, osd, mgr (tools/ceph/cluster.mjs start order)
      const url = target.url(0);
      const writes = Array.from({ length: 16 }, (_, i) => ['-c', `write -P ${0x40 + i} ${i * MiB} ${MiB}`]).flat();
      const stalled = run('qemu-io', ['-f', 'raw', ...writes, url], { timeoutMs: 60_000 });
      await new Promise((r) => setTimeout(r, 150));
      process.kill(osdPid, 'SIGSTOP');
      try {
        await new Promise((r) => setTimeout(r, 3000));
      } finally {
        process.kill(osdPid, 'SIGCONT');
      }
      const w = await stalled;
      expect(w.code, w.stderr + w.stdout).toBe(0);
      const reads = Array.from({ length: 16 }, (_, i) => ['-c', `read -P ${0x40 + i} ${i * MiB} ${MiB}`]).flat();
      const r = await run('qemu-io', ['-f', 'raw', ...reads, url], { timeoutMs: 60_000 });
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout + r.stderr).not.toMatch(/Pattern verification failed/);
    }, 90_000);

    it('SIGTERM flushes and closes the image: exit 0, no watcher left, the data is in the pool', async () => {
      const mark = Buffer.alloc(512, 0x77);
      mark.write('written just before SIGTERM', 0);
      const wcdb = Buffer.alloc(10);
      wcdb[0] = 0x2a;
      wcdb.writeUInt32BE(20000, 2);
      wcdb.writeUInt16BE(1, 7);
      expect((await rawScsiCommand(a, wcdb, { dataOut: mark })).status).toBe(0);
      rawClose(a);
      rawClose(b);
      expect(await target.stop()).toBe(0);
      const st = await cluster.rbd('status', 'rbd/e2e2');
      expect(st).toMatch(/Watchers: none/);
      const exp = path.join(tdir, 'after-stop.img');
      await cluster.rbd('export', 'rbd/e2e2', exp);
      expect(readFileSync(exp).subarray(20000 * 512, 20001 * 512).equals(mark)).toBe(true);
    }, 60_000);
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

  it('an OSD that does not answer within rados_osd_op_timeout: the command gets a SCSI error, the session goes on', async () => {
    const port = await freePort();
    const tconf = path.join(dir, 'timeout.conf');
    writeFileSync(tconf, `${readFileSync(cluster.conf, 'utf8')}\n[client]\nrados osd op timeout = 2\n`);
    const file = path.join(dir, 'ctl-timeout.conf');
    writeFileSync(file, conf(port, `  lun 0 {\n    backend rbd\n    path rbd/e2e-timeout\n    size 16M\n    option ceph_conf ${tconf}\n  }\n`));
    const target = await startTarget({ port, args: ['-f', file] });
    const s = await rawLogin('127.0.0.1', port, { targetName: DEFAULT_IQN });
    const osdPid = cluster.pids[1] as number;
    try {
      for (let i = 0; i < 3; i++) if ((await rawScsiCommand(s, Buffer.alloc(6))).status === 0) break;
      const w = Buffer.alloc(10);
      w[0] = 0x2a;
      w.writeUInt32BE(100, 2);
      w.writeUInt16BE(1, 7);
      process.kill(osdPid, 'SIGSTOP');
      let r;
      const t0 = Date.now();
      try {
        r = await rawScsiCommand(s, w, { dataOut: Buffer.alloc(512, 1), timeoutMs: 20_000 });
      } finally {
        process.kill(osdPid, 'SIGCONT');
      }
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(r.status).toBe(2);
      const again = await rawScsiCommand(s, w, { dataOut: Buffer.alloc(512, 2), timeoutMs: 20_000 });
      expect(again.status).toBe(0);
    } finally {
      rawClose(s);
      await target.stop();
    }
  }, 60_000);
});
