// End-to-end (issue 13, item 1): shrinking a LUN is never silent. The admin
// CLI refuses `lun resize` to a smaller size unless --force, a reload that
// lowers `size` is refused unless the LUN says `option allow_shrink on`,
// each refusal says how many bytes would be lost and leaves the file and
// its data untouched; a forced shrink is logged at warn; start refuses a
// file larger than `size` in the operator's words. Against the daemon from
// its bin; daemon-only behaviour: skipped with a reference peer.
import { mkdtempSync, openSync, readSync, closeSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2ePeer, freePort, repoRoot, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

const IQN = 'iqn.2026-11.org.nodejs-iscsi:shrink';
const ctlBin = path.join(repoRoot, 'apps', 'target', 'bin', 'iscsi-target-ctl.js');
const MiB = 1024 * 1024;

function config(port: number, img: string, size: string, extra = ''): string {
  return [
    `portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1:${port} }`,
    `target ${IQN} {`,
    '  auth-group no-authentication',
    '  portal-group pg0',
    `  lun 0 { path ${img}; size ${size}${extra} }`,
    '}',
    '',
  ].join('\n');
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function readAt(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}

const MARK = Buffer.from('data written at 40 MiB must survive a refused shrink');

describe.skipIf(e2ePeer() !== undefined)('shrinking a LUN is never silent (process)', () => {
  let dir: string;
  let file: string;
  let img: string;
  let port: number;
  let t: TargetHandle;
  const ctl = (...args: string[]) => run(process.execPath, [ctlBin, '-d', dir, ...args], { timeoutMs: 20_000 });
  const msgs = (): Array<Record<string, unknown>> => t.logs.json();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-shrink-'));
    file = path.join(dir, 'ctl.conf');
    img = path.join(dir, 'd0.img');
    port = await freePort('127.0.0.1');
    writeFileSync(file, config(port, img, '64M'));
    t = await startTarget({ args: ['-f', file], port, dataDir: dir });
    // The daemon created the file; put data near its end, as an initiator would.
    const fd = openSync(img, 'r+');
    writeSync(fd, MARK, 0, MARK.length, 40 * MiB);
    closeSync(fd);
  });
  afterAll(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lun resize to a smaller size is refused without --force, saying what would be lost', async () => {
    const r = await ctl('lun', 'resize', '0', '1M');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('holds 67108864 bytes (64 MiB); shrinking it to 1048576 bytes (1 MiB) would discard the last 66060288 bytes (63 MiB)');
    expect(r.stderr).toContain('--force');
    expect(statSync(img).size).toBe(64 * MiB);
    expect(readAt(img, 40 * MiB, MARK.length).equals(MARK)).toBe(true);
    // Growing needs no force.
    const grow = await ctl('lun', 'resize', '0', '96M');
    expect(grow.code).toBe(0);
    expect(statSync(img).size).toBe(96 * MiB);
  });

  it('a reload that lowers size is refused (the running configuration unchanged) unless allow_shrink', async () => {
    writeFileSync(file, config(port, img, '1M'));
    const r = await ctl('reload');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('would discard the last 99614720 bytes (95 MiB)');
    expect(r.stderr).toContain('option allow_shrink on');
    expect(statSync(img).size).toBe(96 * MiB);
    expect(readAt(img, 40 * MiB, MARK.length).equals(MARK)).toBe(true);
    const refused = msgs().find((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('reload refused'));
    expect(refused?.['level']).toBe(50);

    // Forced by the configuration: done, and logged at warn with what is gone.
    writeFileSync(file, config(port, img, '48M', '; option allow_shrink on'));
    const ok = await ctl('reload');
    expect(ok.code, ok.stderr).toBe(0);
    expect(statSync(img).size).toBe(48 * MiB);
    expect(readAt(img, 40 * MiB, MARK.length).equals(MARK)).toBe(true);
    await until('the warn line', () => msgs().some((l) => l['level'] === 40 && typeof l['msg'] === 'string' && l['msg'].includes('resized 96 MiB → 48 MiB')));
    const warn = msgs().find((l) => l['level'] === 40 && typeof l['msg'] === 'string' && l['msg'].includes('resized 96 MiB → 48 MiB'))!;
    expect(warn['lostBytes']).toBe(48 * MiB);
  });

  it('lun resize --force shrinks and logs at warn', async () => {
    const r = await ctl('lun', 'resize', '0', '32M', '--force');
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(img).size).toBe(32 * MiB);
    await until('the warn line', () => msgs().some((l) => l['level'] === 40 && typeof l['msg'] === 'string' && l['msg'].includes('shrunk from 48 MiB to 32 MiB')));
  });

  it('start refuses a file larger than size in the operator\'s words, and allow_shrink shrinks it with a warning', async () => {
    expect(await t.stop()).toBe(0);
    writeFileSync(file, config(port, img, '1M'));
    const s = await startTarget({ args: ['-f', file], port, dataDir: dir, waitReady: false });
    const code = (await s.exited).code;
    expect(code).toBe(1);
    const text = s.logs.text();
    expect(text).toContain('holds 33554432 bytes (32 MiB); shrinking it to 1048576 bytes (1 MiB) would discard the last 32505856 bytes (31 MiB)');
    expect(text).toContain('option allow_shrink on');
    expect(text).not.toContain('resize()');
    expect(statSync(img).size).toBe(32 * MiB);

    writeFileSync(file, config(port, img, '1M', '; option allow_shrink on'));
    t = await startTarget({ args: ['-f', file], port, dataDir: dir });
    expect(statSync(img).size).toBe(1 * MiB);
    const warn = t.logs.json().find((l) => l['level'] === 40 && typeof l['msg'] === 'string' && l['msg'].includes('shrunk'));
    expect(warn?.['msg']).toContain('the last 32505856 bytes (31 MiB)');
  });
});
