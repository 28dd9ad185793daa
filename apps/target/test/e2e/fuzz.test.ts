// End-to-end: the network fuzzer (tools/fuzz, issue 13 item 8b) in its
// bounded, seeded form — mutated login and full-feature streams against the
// daemon from its bin, no crash, hang, memory growth or corruption allowed —
// and proof that each detector can fail: a daemon killed mid-run is a crash,
// a stopped one a hang, an overwritten pattern a corruption. The long run is
// `npm run fuzz -- --pdus N` (docs/testing.md).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { e2ePeer, haveCommand, startTarget } from '@iscsi-target/test-utils';
import { checkPattern, PATTERN, runFuzz } from '../../../../tools/fuzz/src/fuzz.mjs';

const daemonOnly = e2ePeer() !== undefined;
const noQemuIo = !haveCommand('qemu-io');

describe.skipIf(daemonOnly)('network fuzzer (daemon-only: skipped in peer mode)', () => {
  it('a bounded seeded run (seed 13, ≤ 12 000 PDUs or 30 s) finds nothing', async () => {
    const lines: string[] = [];
    const r = await runFuzz({ seed: 13, pdus: 12_000, seconds: 30, healthEvery: 250, log: (l) => lines.push(l) });
    expect(r.findings, JSON.stringify(r.findings, null, 2).slice(0, 4000)).toEqual([]);
    expect(r.pdusSent).toBeGreaterThan(2_000);
    expect(r.connections).toBeGreaterThan(300);
    expect(r.cleanLogins).toBeGreaterThan(100);
    expect(r.healthChecks).toBeGreaterThan(2);
    console.log(lines.at(-1), `— ${r.pdusSent} PDUs, ${r.connections} connections, ${r.seconds} s`);
  }, 90_000);

  it('reports a crash when the daemon dies mid-run', async () => {
    let killed = false;
    const r = await runFuzz({
      seed: 5,
      pdus: 5_000,
      healthEvery: 1_000,
      stopOnFinding: true,
      onProgress: (pdus, pid) => {
        if (!killed && pdus > 200) {
          killed = true;
          process.kill(pid, 'SIGKILL');
        }
      },
    });
    expect(killed).toBe(true);
    expect(r.findings.map((f) => f.kind)).toContain('crash');
  }, 60_000);

  it('reports a hang when a well-behaved client cannot log in within 5 s', async () => {
    let stopped = 0;
    const r = await runFuzz({
      seed: 6,
      pdus: 100_000,
      seconds: 40,
      healthEvery: 12,
      concurrency: 4,
      stopOnFinding: true,
      onProgress: (pdus, pid) => {
        if (stopped === 0 && pdus > 100) {
          stopped = pid;
          process.kill(pid, 'SIGSTOP');
        }
      },
      // Let the daemon run again once the hang is reported, so it can be stopped.
      log: (line) => {
        if (line.includes('FINDING hang') && stopped !== 0) process.kill(stopped, 'SIGCONT');
      },
    });
    expect(stopped).not.toBe(0);
    expect(r.findings.map((f) => f.kind)).toContain('hang');
  }, 90_000);

  it.skipIf(noQemuIo)('reports corruption when the pattern is overwritten (skipped without qemu-io)', async () => {
    const t = await startTarget();
    try {
      const url = t.url(0);
      const write = (byte: number) =>
        execFileSync('qemu-io', ['-f', 'raw', '-c', `write -P ${byte} ${PATTERN.offset} ${PATTERN.length}`, url], { encoding: 'utf8', timeout: 30_000 });
      write(PATTERN.byte);
      expect(await checkPattern(url)).toBeNull();
      write(0x11);
      expect(await checkPattern(url)).toMatch(/qemu-io read -P/);
    } finally {
      await t.stop();
    }
  }, 60_000);
});
