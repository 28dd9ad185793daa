// End-to-end (issue 13, item 4): `option unmap off` is honoured, not ignored
// with a warning. Two file LUNs full of data: LUN 0 with `option unmap off`,
// LUN 1 with the default (the control, which proves the probe can punch).
// LUN 0 answers UNMAP with ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE
// and WRITE SAME(16) with UNMAP with INVALID FIELD IN CDB, reports LBPME = 0
// (READ CAPACITY(16)) and LBPU = LBPWS = 0 (VPD B2h), and its file keeps
// every allocated block. Against the daemon from its bin.
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2ePeer, freePort, repoRoot, rawLogin, rawScsiCommand, rawTestUnitReady, startTarget, type RawSession, type TargetHandle } from '@iscsi-target/test-utils';

const IQN = 'iqn.2026-11.org.nodejs-iscsi:unmap';
const SIZE = 8 * 1024 * 1024;
const nativeHelper = path.join(repoRoot, 'packages', 'ctl-block', 'native', 'build', 'Release', 'ctl_block_native.node');

function unmapCdb(paramLen: number): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x42;
  cdb.writeUInt16BE(paramLen, 7);
  return cdb;
}

/** UNMAP parameter list: one descriptor over the whole LUN. */
function unmapList(blocks: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt16BE(22, 0);
  b.writeUInt16BE(16, 2);
  b.writeBigUInt64BE(0n, 8);
  b.writeUInt32BE(blocks, 16);
  return b;
}

describe.skipIf(e2ePeer() !== undefined)('option unmap off (process)', () => {
  let dir: string;
  let t: TargetHandle;
  let s: RawSession;
  const img = (n: number): string => path.join(dir, `d${n}.img`);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-unmap-'));
    writeFileSync(img(0), Buffer.alloc(SIZE, 0xab));
    writeFileSync(img(1), Buffer.alloc(SIZE, 0xcd));
    const port = await freePort('127.0.0.1');
    const file = path.join(dir, 'ctl.conf');
    writeFileSync(
      file,
      [
        `portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1:${port} }`,
        `target ${IQN} {`,
        '  auth-group no-authentication; portal-group pg0',
        `  lun 0 { path ${img(0)}; option unmap off }`,
        `  lun 1 { path ${img(1)} }`,
        '}',
        '',
      ].join('\n'),
    );
    t = await startTarget({ args: ['-f', file], port, dataDir: dir });
    s = await rawLogin('127.0.0.1', port, { targetName: IQN });
    expect(s.fullFeature).toBe(true);
    // Consume the POWER ON unit attention of each LUN.
    for (const lun of [0, 1]) await rawTestUnitReady(s, { lun });
  });
  afterAll(async () => {
    s?.socket.destroy();
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is accepted without a warning', () => {
    expect(t.logs.json().filter((l) => l['level'] === 40)).toEqual([]);
  });

  it('UNMAP is refused (INVALID COMMAND OPERATION CODE) and no hole is punched; the control LUN punches', async () => {
    const blocks = SIZE / 512;
    const allocated0 = statSync(img(0)).blocks;
    const r = await rawScsiCommand(s, unmapCdb(24), { lun: 0, dataOut: unmapList(blocks) });
    expect(r.status).toBe(2);
    expect([r.senseKey, r.asc, r.ascq]).toEqual([0x05, 0x20, 0x00]);
    expect(statSync(img(0)).blocks).toBe(allocated0);

    const allocated1 = statSync(img(1)).blocks;
    const c = await rawScsiCommand(s, unmapCdb(24), { lun: 1, dataOut: unmapList(blocks) });
    expect(c.status).toBe(0);
    // With the native helper (hole punching) the control file loses its blocks; the zero-fill fallback rewrites zeros.
    if (existsSync(nativeHelper)) expect(statSync(img(1)).blocks).toBeLessThan(allocated1);
    else expect(statSync(img(1)).blocks).toBeLessThanOrEqual(allocated1);
  });

  it('WRITE SAME(16) with UNMAP is refused (INVALID FIELD IN CDB)', async () => {
    const cdb = Buffer.alloc(16);
    cdb[0] = 0x93;
    cdb[1] = 0x08; // UNMAP
    cdb.writeBigUInt64BE(0n, 2);
    cdb.writeUInt32BE(8, 10);
    const r = await rawScsiCommand(s, cdb, { lun: 0, dataOut: Buffer.alloc(512) });
    expect(r.status).toBe(2);
    expect([r.senseKey, r.asc, r.ascq]).toEqual([0x05, 0x24, 0x00]);
  });

  it('LBPME = 0 in READ CAPACITY(16); LBPU = LBPWS = LBPWS10 = 0 in VPD B2h (the control LUN has them)', async () => {
    const rc16 = Buffer.alloc(16);
    rc16[0] = 0x9e;
    rc16[1] = 0x10;
    rc16.writeUInt32BE(32, 10);
    const vpd = Buffer.from([0x12, 0x01, 0xb2, 0x00, 0xff, 0x00]);
    for (const [lun, thin] of [[0, false], [1, true]] as const) {
      const cap = await rawScsiCommand(s, rc16, { lun, readLength: 32 });
      expect(cap.status).toBe(0);
      expect(((cap.data[14] ?? 0) & 0x80) !== 0).toBe(thin);
      const b2 = await rawScsiCommand(s, vpd, { lun, readLength: 255 });
      expect(b2.status).toBe(0);
      expect(b2.data[1]).toBe(0xb2);
      expect((b2.data[5] ?? 0) & 0xe0).toBe(thin ? 0xe0 : 0);
    }
  });
});
