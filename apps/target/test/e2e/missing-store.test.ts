// End-to-end (issue 13, item 3): the identity of a disk follows its data.
// Two file LUNs created on first start (logged at warn as new, empty disks).
// LUN 0's file is deleted while served: the daemon logs it at error (the
// periodic check, here every 200 ms), `lun list` shows STATE unlinked, and a
// reload does not say a plain "no changes". After a restart LUN 0 is not
// served (error line; TEST UNIT READY on it answers "LUN not supported") while LUN 1
// is, and the file is NOT re-created; `lun list` shows it `missing`. Creating
// the file by hand and reloading serves it again. Against the daemon from
// its bin.
import { existsSync, mkdtempSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2ePeer, freePort, rawTestUnitReady, rawLogin, rawClose, repoRoot, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

const IQN = 'iqn.2026-11.org.nodejs-iscsi:missing';
const ctlBin = path.join(repoRoot, 'apps', 'target', 'bin', 'iscsi-target-ctl.js');

interface LunRow {
  name: string;
  ctlLun: number | null;
  state: string;
  path: string | null;
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(e2ePeer() !== undefined)('a missing backing file is not a new disk (process)', () => {
  let dir: string;
  let dataDir: string;
  let conf: string;
  let port: number;
  let t: TargetHandle | undefined;
  const img = (n: number): string => path.join(dir, `d${n}.img`);
  const ctl = (...args: string[]) => run(process.execPath, [ctlBin, '-d', dataDir, ...args], { timeoutMs: 20_000 });
  const lunList = async (): Promise<LunRow[]> => JSON.parse((await ctl('lun', 'list', '--json')).stdout) as LunRow[];
  const start = () => startTarget({ args: ['-f', conf, '--store-check-interval', '200'], port, dataDir });
  /** The status of TEST UNIT READY to `lun`: GOOD (0), or CHECK CONDITION (2) and the ASC. */
  async function tur(lun: number): Promise<{ status: number; asc?: number }> {
    const s = await rawLogin('127.0.0.1', port, { targetName: IQN });
    try {
      const r = await rawTestUnitReady(s, { lun });
      return { status: r.status, ...(r.asc !== undefined ? { asc: r.asc } : {}) };
    } finally {
      rawClose(s);
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-missing-'));
    dataDir = path.join(dir, 'data');
    port = await freePort('127.0.0.1');
    conf = path.join(dir, 'ctl.conf');
    writeFileSync(
      conf,
      [
        `portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1:${port} }`,
        `target ${IQN} {`,
        '  auth-group no-authentication; portal-group pg0',
        `  lun 0 { path ${img(0)}; size 4M }`,
        `  lun 1 { path ${img(1)}; size 4M }`,
        '}',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('first start: each created file is logged at warn as a new, empty disk', async () => {
    t = await start();
    const created = t.logs.json().filter((l) => l['level'] === 40 && l['created'] === true);
    expect(created.map((l) => l['path']).sort(), t.logs.text()).toEqual([img(0), img(1)]);
    expect(String(created[0]!['msg'])).toContain('a new, empty disk');
    expect((await lunList()).map((l) => l.state)).toEqual(['ok', 'ok']);
  });

  it('a served file deleted: an error line, STATE unlinked in lun list, and reload reports it', async () => {
    unlinkSync(img(0));
    await until('the error line', () => t!.logs.json().some((l) => l['level'] === 50 && l['store'] === 'unlinked'));
    const line = t!.logs.json().find((l) => l['level'] === 50 && l['store'] === 'unlinked')!;
    expect(line['path']).toBe(img(0));
    expect(String(line['msg'])).toContain('was deleted while served');
    const rows = await lunList();
    expect(rows.find((l) => l.path === img(0))!.state).toBe('unlinked');
    expect(rows.find((l) => l.path === img(1))!.state).toBe('ok');
    const human = (await ctl('lun', 'list')).stdout;
    expect(human).toMatch(/STATE/);
    expect(human).toMatch(/unlinked/);
    // Logged once, not at every check.
    expect(t!.logs.json().filter((l) => l['store'] === 'unlinked').length).toBe(1);
    const r = await ctl('reload');
    expect(r.stdout).toContain('problem: lun');
    expect(r.stdout).toContain('was deleted while served');
    await until('the reload error line', () => t!.logs.json().some((l) => l['level'] === 50 && String(l['msg']).startsWith('configuration reloaded: no changes; 1 LUN problem(s)')));
    // The served data is still readable through the unlinked inode.
    expect((await tur(0)).status).toBe(0);
  });

  it('restart: LUN 0 is not served and its file not re-created; LUN 1 is served', async () => {
    await t!.stop();
    t = await start();
    const err = t.logs.json().find((l) => l['level'] === 50 && l['missing'] === true);
    expect(err, t.logs.text()).toBeDefined();
    expect(String(err!['msg'])).toMatch(/is missing, but it was served before \(serial .+\); refusing to create an empty disk under the same identity.*the LUN is not served/);
    expect(existsSync(img(0))).toBe(false);
    expect(t.logs.json().some((l) => l['created'] === true)).toBe(false);
    expect((await tur(1)).status).toBe(0);
    // LOGICAL UNIT NOT SUPPORTED (ASC 25h) for the LUN that is not served.
    expect(await tur(0)).toEqual({ status: 2, asc: 0x25 });
    const rows = await lunList();
    const missing = rows.find((l) => l.path === img(0))!;
    expect(missing.state).toBe('missing');
    expect(missing.ctlLun).toBeNull();
    expect(rows.find((l) => l.path === img(1))!.state).toBe('ok');
    // A reload with the file still gone says so, and still does not create it.
    const r = await ctl('reload');
    expect(r.stdout).toContain('not served');
    expect(existsSync(img(0))).toBe(false);
  });

  it('the operator creates the file (a deliberate fresh disk): a reload serves it again', async () => {
    writeFileSync(img(0), '');
    truncateSync(img(0), 4 * 1024 * 1024);
    const r = await ctl('reload');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('its backing file is back: served');
    expect((await lunList()).map((l) => l.state)).toEqual(['ok', 'ok']);
    expect((await tur(0)).status).toBe(0);
  });

  it('lun create of a RAM disk larger than the free memory is refused (issue 13 item 5)', async () => {
    const r = await ctl('lun', 'create', '--backend', 'ramdisk', '--size', '1P');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/needs more memory than is available/);
  });
});
