// End-to-end: the daemon's process lifecycle — graceful exit on SIGTERM and
// SIGINT (also with a logged-in session), the default LUN file created thin in
// the data directory, and a broken `-f` configuration refused with a
// `file:line:col` message. Daemon-only behaviour: skipped with a reference peer.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  canConnect,
  DEFAULT_LUN_BYTES,
  e2ePeer,
  rawLogin,
  rawTestUnitReady,
  startTarget,
  waitForClose,
  type TargetHandle,
} from '@iscsi-target/test-utils';

/** Resolves to the exit status, or 'timeout'. */
async function exitWithin(t: TargetHandle, ms: number): Promise<{ code: number | null; signal: string | null } | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([t.exited, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]);
  clearTimeout(timer);
  return r;
}

describe.skipIf(e2ePeer() !== undefined)('daemon lifecycle', () => {
  const started: TargetHandle[] = [];
  afterEach(async () => {
    for (const t of started.splice(0)) await t.stop({ signal: 'SIGKILL' });
  });

  it('exits 0 within 5 s on SIGTERM', async () => {
    const t = await startTarget();
    started.push(t);
    process.kill(t.pid, 'SIGTERM');
    const st = await exitWithin(t, 5_000);
    expect(st, t.logs.text()).toEqual({ code: 0, signal: null });
  });

  it('exits 0 within 5 s on SIGINT', async () => {
    const t = await startTarget();
    started.push(t);
    process.kill(t.pid, 'SIGINT');
    const st = await exitWithin(t, 5_000);
    expect(st, t.logs.text()).toEqual({ code: 0, signal: null });
  });

  it('exits 0 within 5 s on SIGTERM while a session is logged in, closing it', async () => {
    const t = await startTarget();
    started.push(t);
    const s = await rawLogin(t.host, t.port);
    expect(s.fullFeature).toBe(true);
    expect((await rawTestUnitReady(s)).status).toBe(0);
    process.kill(t.pid, 'SIGTERM');
    const st = await exitWithin(t, 5_000);
    expect(st, t.logs.text()).toEqual({ code: 0, signal: null });
    expect((await waitForClose(s.socket, 2_000)).closed).toBe(true);
    s.socket.destroy();
    expect(await canConnect(t.host, t.port, 500)).toBe(false);
  });

  it('logs JSON lines on stdout', async () => {
    const t = await startTarget();
    started.push(t);
    const nonEmpty = (): string[] => t.logs.stdout().split('\n').filter((l) => l.trim() !== '');
    for (let i = 0; i < 40 && nonEmpty().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    const lines = nonEmpty();
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(() => JSON.parse(l) as unknown, l).not.toThrow();
    expect(t.logs.json().every((r) => typeof r['level'] !== 'undefined' && typeof r['time'] !== 'undefined')).toBe(true);
  });

  describe('default LUN file', () => {
    let dataDir: string;
    let t: TargetHandle;
    beforeAll(async () => {
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-data-'));
      t = await startTarget({ dataDir });
    });
    afterAll(async () => {
      await t?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('is <datadir>/lun0.img, 1 GiB long and sparse', () => {
      const st = statSync(path.join(dataDir, 'lun0.img'));
      expect(st.isFile()).toBe(true);
      expect(st.size).toBe(DEFAULT_LUN_BYTES);
      // Thin: allocated blocks (512-byte units) are a tiny fraction of the size.
      expect(st.blocks * 512).toBeLessThan(16 * 1024 * 1024);
    });
  });

  describe('broken configuration file', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-conf-'));
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('exits non-zero with a file:line:col message and never listens', async () => {
      const file = path.join(dir, 'broken.conf');
      // ctl.conf grammar (FreeBSD ctl.conf(5)); line 4 has a statement that does not exist.
      writeFileSync(
        file,
        ['portal-group pg0 {', '\tlisten 127.0.0.1:0', '}', 'this-is-not-a-statement 42', 'target iqn.2026-11.org.nodejs-iscsi:broken {', '}', ''].join('\n'),
      );
      const t = await startTarget({ args: ['-f', file], waitReady: false });
      started.push(t);
      const st = await exitWithin(t, 10_000);
      expect(st).not.toBe('timeout');
      expect(st === 'timeout' ? undefined : st.code).not.toBe(0);
      expect(st === 'timeout' ? undefined : st.code).not.toBeNull();
      const esc = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      expect(t.logs.text()).toMatch(new RegExp(`${esc}:4:\\d+`));
      expect(await canConnect(t.host, t.port, 500)).toBe(false);
    });
  });
});
