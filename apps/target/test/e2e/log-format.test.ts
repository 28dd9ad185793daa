// End-to-end: the log is JSON lines when stdout is not a terminal (see
// lifecycle.test.ts) and human-readable (pino-pretty) when it is one — run
// under script(1) to give the daemon a pseudo-terminal. Daemon-only.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { daemonBin, e2ePeer, freePort, haveCommand, run } from '@iscsi-target/test-utils';

describe.skipIf(e2ePeer() !== undefined || !haveCommand('script'))('log format', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-tty-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is human-readable on a terminal', async () => {
    const port = await freePort('127.0.0.1');
    // The daemon is started and stopped (SIGTERM) by the inner shell, so nothing outlives the test.
    const inner = `${process.execPath} ${daemonBin} -l 127.0.0.1:${port} -d ${dir} & p=$!; sleep 2; kill -TERM $p; wait $p; echo "exit=$?"`;
    const r = await run('script', ['-qec', `sh -c '${inner}'`, '/dev/null'], { timeoutMs: 30_000 });
    // Strip ANSI colour sequences (ESC [ ... m).
    const out = r.stdout
      .split('\x1b[')
      .map((part, i) => (i === 0 ? part : part.replace(/^[0-9;]*m/, '')))
      .join('')
      .replace(/\r/g, '');
    expect(r.code, out).toBe(0);
    expect(out).toMatch(new RegExp(`^\\[\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\] INFO: listening on 127\\.0\\.0\\.1:${port} \\(portal group default, tag 1, NIC driver tcp\\)$`, 'm'));
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: SIGTERM: shutting down$/m);
    // The last line before exit is not lost in the pretty-printer's worker.
    expect(out).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: stopped$/m);
    expect(out).toContain('exit=0');
    expect(out.split('\n').filter((l) => l.startsWith('{'))).toEqual([]);
  });
});
