// End-to-end (issue 12, step 1): two daemons — gateway A and gateway B, started
// from docs/gateways/gateway-{a,b}.conf with only the listen ports rewritten to
// free ones — serve one RBD image of a throw-away Ceph cluster. Through each
// gateway: the same NAA designator and serial (VPD 83h / 80h), TPGS = 01b,
// each gateway's own relative target port and target port group in VPD 83h,
// and a REPORT TARGET PORT GROUPS answer that is byte-identical on both.
// Ownership (one Active/Optimized owner) is not implemented yet: both groups
// report Active/Optimized.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  e2ePeer,
  freePort,
  rawClose,
  rawLogin,
  rawLogout,
  rawScsiCommand,
  repoRoot,
  ScsiStatus,
  startTarget,
  type RawSession,
  type TargetHandle,
} from '@iscsi-target/test-utils';
import { rbdNativeUnavailable } from '@iscsi-target/ctl-rbd';
import { cephAvailable, startCluster, type CephCluster } from '../../../../tools/ceph/cluster.mjs';

const IQN = 'iqn.2026-12.org.example.gateways:shared0';
const HOST = 'iqn.2026-12.org.example:alua-host';
const why = e2ePeer() !== undefined ? 'a peer target is under test' : (cephAvailable() ?? rbdNativeUnavailable());

function inquiryCdb(evpd: boolean, page: number, alloc: number): Buffer {
  return Buffer.from([0x12, evpd ? 1 : 0, page, (alloc >> 8) & 0xff, alloc & 0xff, 0]);
}

function rtpgCdb(alloc: number, extended: boolean): Buffer {
  const c = Buffer.alloc(12);
  c[0] = 0xa3;
  c[1] = 0x0a | (extended ? 0x20 : 0);
  c.writeUInt32BE(alloc, 6);
  return c;
}

/** VPD 83h designators: type → value, for association `assoc` (0 = LU, 1 = target port). */
function designator(page: Buffer, type: number, assoc: number): Buffer | undefined {
  const end = 4 + page.readUInt16BE(2);
  for (let off = 4; off < end; ) {
    const len = page[off + 3]!;
    if ((page[off + 1]! & 0x0f) === type && ((page[off + 1]! >> 4) & 3) === assoc) return page.subarray(off + 4, off + 4 + len);
    off += 4 + len;
  }
  return undefined;
}

async function command(s: RawSession, cdb: Buffer, readLength: number): Promise<Buffer> {
  // The first command may report the POWER ON unit attention; RTPG is not exempt from it.
  for (let i = 0; i < 4; i++) {
    const r = await rawScsiCommand(s, cdb, { readLength, timeoutMs: 20_000 });
    if (r.status === ScsiStatus.Good) return r.data;
    expect(r.status).toBe(ScsiStatus.CheckCondition);
  }
  throw new Error('no GOOD status after 4 tries');
}

describe.skipIf(why !== null)(`two gateways on one RBD image: one identity, ALUA port groups${why ? ` (skipped: ${why})` : ''}`, () => {
  let cluster: CephCluster;
  let dir: string;
  const gw: TargetHandle[] = [];
  const sessions: RawSession[] = [];

  beforeAll(async () => {
    cluster = await startCluster();
    dir = mkdtempSync(join(tmpdir(), 'iscsi-e2e-gw-'));
    for (const [name, from] of [
      ['a', '127.0.0.1:3260'],
      ['b', '127.0.0.1:3262'],
    ] as const) {
      const port = await freePort('127.0.0.1');
      const text = readFileSync(join(repoRoot, 'docs', 'gateways', `gateway-${name}.conf`), 'utf8').replace(from, `127.0.0.1:${port}`);
      const conf = join(dir, `gateway-${name}.conf`);
      writeFileSync(conf, text);
      // Gateway A creates rbd/shared0 (size 1G) first; B then opens the existing image.
      gw.push(
        await startTarget({
          host: '127.0.0.1',
          port,
          dataDir: join(dir, name),
          args: ['-f', conf],
          env: { ...process.env, CEPH_CONF: cluster.conf },
          readyTimeoutMs: 60_000,
        }),
      );
    }
    for (const t of gw) sessions.push(await rawLogin(t.host, t.port, { initiatorName: HOST, targetName: IQN }));
  }, 180_000);

  afterAll(async () => {
    for (const s of sessions) {
      await rawLogout(s).catch(() => undefined);
      rawClose(s);
    }
    for (const t of gw) await t.stop();
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('both gateways report the same NAA and serial, TPGS = 01b, and their own port and group', async () => {
    const naa: string[] = [];
    const serial: string[] = [];
    for (const [i, s] of sessions.entries()) {
      const std = await command(s, inquiryCdb(false, 0, 96), 96);
      expect((std[5]! >> 4) & 3).toBe(1);
      const p83 = await command(s, inquiryCdb(true, 0x83, 1024), 1024);
      naa.push(designator(p83, 0x3, 0)!.toString('hex'));
      expect(designator(p83, 0x4, 1)!.readUInt16BE(2)).toBe(i + 1);
      expect(designator(p83, 0x5, 1)!.readUInt16BE(2)).toBe(i + 1);
      const p80 = await command(s, inquiryCdb(true, 0x80, 255), 255);
      serial.push(p80.toString('latin1', 4));
    }
    expect(naa[0]).toBe(naa[1]);
    expect(serial).toEqual(['SHARED0', 'SHARED0']);
  });

  it('REPORT TARGET PORT GROUPS is byte-identical through A and B and lists both groups', async () => {
    for (const ext of [false, true]) {
      const [a, b] = [await command(sessions[0]!, rtpgCdb(1024, ext), 1024), await command(sessions[1]!, rtpgCdb(1024, ext), 1024)];
      expect(a.equals(b)).toBe(true);
      const off = ext ? 8 : 4;
      expect(a.readUInt32BE(0)).toBe(a.length - 4);
      expect(a.readUInt16BE(off + 2)).toBe(1);
      expect(a.readUInt16BE(off + 10)).toBe(1);
      expect(a.readUInt16BE(off + 14)).toBe(2);
      expect(a.readUInt16BE(off + 22)).toBe(2);
    }
  });
});
