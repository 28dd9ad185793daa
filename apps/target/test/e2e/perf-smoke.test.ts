// End-to-end: a short iscsi-perf run (sequential 128 KiB reads, 32 in flight)
// completes with non-zero throughput, and an initiator that is killed with
// 32 reads in flight does not take the daemon down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveCommand, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

/** iscsi-perf's final line: "iops average N (M MB/s)". */
const AVERAGE = /iops average (\d+) \((\d+) MB\/s\)/g;

function lastAverage(out: string): { iops: number; mbPerSec: number } | undefined {
  let last: RegExpExecArray | undefined;
  for (const m of out.matchAll(AVERAGE)) last = m;
  return last ? { iops: Number(last[1]), mbPerSec: Number(last[2]) } : undefined;
}

describe.skipIf(!haveCommand('iscsi-perf') || !haveCommand('iscsi-inq'))('iscsi-perf smoke', () => {
  let target: TargetHandle;
  beforeAll(async () => {
    target = await startTarget();
  });
  afterAll(async () => {
    await target?.stop();
  });

  it('reads for 3 s at queue depth 32 with non-zero throughput', async () => {
    const r = await run('iscsi-perf', ['-t', '3', '-m', '32', '-b', '256', target.url(0)], { timeoutMs: 60_000, killSignal: 'SIGINT' });
    expect(r.timedOut, r.stdout + r.stderr).toBe(false);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const avg = lastAverage(r.stdout.replace(/\r/g, '\n'));
    expect(avg, r.stdout).toBeDefined();
    expect(avg?.iops ?? 0).toBeGreaterThan(0);
    expect(avg?.mbPerSec ?? 0).toBeGreaterThan(0);
    expect(target.alive()).toBe(true);
  });

  it('survives an initiator killed with 32 reads in flight, and still answers', async () => {
    let kill: ((s?: NodeJS.Signals) => void) | undefined;
    const perf = run('iscsi-perf', ['-m', '32', '-b', '256', target.url(0)], {
      timeoutMs: 60_000,
      onSpawn: (_pid, k) => (kill = k),
    });
    await new Promise((r) => setTimeout(r, 3_000)); // iscsi-perf prints its first stats after 1 s
    kill?.('SIGKILL');
    const r = await perf;
    expect(r.signal).toBe('SIGKILL');
    // iscsi-perf was really moving data before it died.
    expect(r.stdout).toMatch(/iops current [1-9]\d*/);
    const inq = await run('iscsi-inq', [target.url(0)], { timeoutMs: 30_000 });
    expect(inq.code, inq.stderr + inq.stdout).toBe(0);
    expect(inq.stdout).toMatch(/^Peripheral Device Type:DIRECT_ACCESS$/m);
    expect(target.alive()).toBe(true);
  });
});
