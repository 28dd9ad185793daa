// End-to-end (issue 13, item 5): `--check` runs every validation start runs
// that needs no socket. A table pairs each start failure with the `--check`
// failure that predicts it, from the same configuration and data directory:
// `--check` exits 1 naming the cause, and start fails with the same cause
// (exit 1) — or, for a file served before and gone, serves without that LUN
// (error line). Against the daemon from its bin. (A lock held by another
// daemon is paired in one-store-one-lun.test.ts.)
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonBin, e2ePeer, freePort, run, startTarget } from '@iscsi-target/test-utils';

const IQN = 'iqn.2026-11.org.nodejs-iscsi:check';

interface Case {
  readonly what: string;
  /** The LUN's body, given the test directory. */
  readonly lun: (dir: string) => string;
  /** Run before --check and start (given the config file and data directory). */
  readonly setup?: (dir: string, conf: string, port: number, dataDir: string) => Promise<void>;
  /** What both --check and start say. */
  readonly cause: RegExp;
  /** Start exits 1 (default), or serves the other LUNs and logs the cause at error. */
  readonly startServes?: boolean;
}

const cases: Case[] = [
  { what: 'a LUN in a missing directory', lun: (d) => `path ${d}/nope/d.img; size 1M`, cause: /nope\/d\.img.*(ENOENT|missing)/ },
  { what: 'a read-only LUN whose file is missing', lun: (d) => `path ${d}/ro.img; option readonly on`, cause: /ro\.img does not exist/ },
  { what: 'a size the file system refuses (1P)', lun: (d) => `path ${d}/big.img; size 1P`, cause: /big\.img.*EFBIG/ },
  { what: 'a RAM disk larger than the free memory', lun: () => 'backend ramdisk; size 1P', cause: /RAM disk|memory/ },
  {
    what: 'a file served before and missing now',
    lun: (d) => `path ${d}/gone.img; size 1M`,
    setup: async (dir, conf, port, dataDir) => {
      const t = await startTarget({ args: ['-f', conf], dataDir, port });
      await t.stop();
      unlinkSync(path.join(dir, 'gone.img'));
    },
    cause: /gone\.img is missing, but it was served before/,
    startServes: true,
  },
];

describe.skipIf(e2ePeer() !== undefined)('--check predicts start (process)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-check-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(cases.map((c, i) => [c.what, c, i] as const))('%s: --check fails, and start fails with the same cause', async (_w, c, i) => {
    const sub = path.join(dir, `c${i}`);
    mkdirSync(sub);
    const dataDir = path.join(sub, 'data');
    const port = await freePort('127.0.0.1');
    const conf = path.join(sub, 'ctl.conf');
    const text = [
      `portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1:${port} }`,
      `target ${IQN} {`,
      '  auth-group no-authentication; portal-group pg0',
      `  lun 0 { ${c.lun(sub)} }`,
      '  lun 1 { backend ramdisk; size 1M }',
      '}',
      '',
    ].join('\n');
    writeFileSync(conf, text);
    await c.setup?.(sub, conf, port, dataDir);
    const check = await run(process.execPath, [daemonBin, '--check', '-f', conf, '-d', dataDir], { timeoutMs: 20_000 });
    expect(check.code, check.stdout + check.stderr).toBe(1);
    expect(check.stderr).toMatch(c.cause);
    const t = await startTarget({ args: ['-f', conf], dataDir, port, waitReady: c.startServes === true });
    try {
      if (c.startServes === true) {
        expect(t.alive()).toBe(true);
        expect(t.logs.json().some((l) => l['level'] === 50 && c.cause.test(String(l['msg']))), t.logs.text()).toBe(true);
      } else {
        expect((await t.exited).code, t.logs.text()).toBe(1);
        expect(t.logs.text()).toMatch(c.cause);
      }
    } finally {
      await t.stop();
    }
  });

  it('the same configurations without the fault: --check says OK', async () => {
    const port = await freePort('127.0.0.1');
    const conf = path.join(dir, 'ok.conf');
    writeFileSync(
      conf,
      [
        `portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1:${port} }`,
        `target ${IQN} {`,
        '  auth-group no-authentication; portal-group pg0',
        `  lun 0 { path ${dir}/ok.img; size 1G }`,
        '  lun 1 { backend ramdisk; size 1M }',
        '}',
        '',
      ].join('\n'),
    );
    const check = await run(process.execPath, [daemonBin, '--check', '-f', conf, '-d', path.join(dir, 'okdata')], { timeoutMs: 20_000 });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain(': OK (');
  });
});
