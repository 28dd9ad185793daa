#!/usr/bin/env node
// `npm run bench`: whole-target sequential read throughput with libiscsi's
// iscsi-perf, and what it costs the target in CPU.
//
// What this measures: iscsi-perf SEQUENTIAL READ of 128 KiB commands
// (`-b 256` blocks of 512 B) with 32 in flight (`-m 32`) for `--seconds`
// (default 20) against LUN 0 of the daemon's embedded default configuration,
// whose backing file `<datadir>/lun0.img` is prefilled (written, not sparse)
// and read once so it sits in the page cache. It samples the target process's
// CPU time (utime + stime of all its threads, /proc/<pid>/stat) before and
// after the run and prints MB/s, IOPS and CPU seconds per GB moved, then one
// final JSON line. With `--peer tgtd` the same run is repeated against
// Debian's tgtd serving the same file, for comparison on the same machine.
// What it does NOT measure: writes, random I/O, latency percentiles, the
// initiator's CPU, or anything across a real network (loopback only). Numbers
// are only comparable on the same machine; the machine this was written on
// has 2 noisy cores shared by initiator and target.
//
// usage: node benchmarks/read-bench.mjs [--seconds 20] [--depth 32] [--blocks 256]
//          [--copy] [--peer tgtd] [--no-build]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, startDaemon } from '../tools/scripts/lib/daemon.mjs';
import { haveCommand, run } from '../tools/scripts/lib/proc.mjs';
import { startTgtd } from '../tools/scripts/lib/tgtd.mjs';
import { parsePerf, prefill, warm } from './lib/backing-file.mjs';

const MiB = 1024 * 1024;
const BLOCK = 512;
/** The embedded default's LUN 0 is 1 GiB: the whole file is prefilled. */
const LUN_MIB = 1024;

function parse() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '20' },
      depth: { type: 'string', default: '32' },
      blocks: { type: 'string', default: '256' },
      copy: { type: 'boolean', default: false },
      peer: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: read-bench.mjs [--seconds 20] [--depth 32] [--blocks 256] [--copy] [--peer tgtd] [--no-build]');
    process.exit(0);
  }
  const int = (name, min) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  if (values.peer !== undefined && values.peer !== 'tgtd') throw new Error('--peer: only "tgtd" is supported');
  return {
    seconds: int('seconds', 1),
    depth: int('depth', 1),
    blocks: int('blocks', 1),
    copy: values.copy,
    peer: values.peer,
    build: !values['no-build'],
  };
}


/**
 * One measured run against `url`, sampling `cpuSeconds()` of the target around it.
 * @returns {Promise<object>}
 */
async function measure(name, mode, url, cpuSeconds, o, warmFile) {
  warm(warmFile, LUN_MIB);
  const cpu0 = cpuSeconds();
  const t0 = process.hrtime.bigint();
  const r = await run('iscsi-perf', ['-t', String(o.seconds), '-m', String(o.depth), '-b', String(o.blocks), url], {
    timeoutMs: (o.seconds + 60) * 1000,
    killSignal: 'SIGINT',
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds() - cpu0;
  const perf = parsePerf(r.stdout);
  if (r.code !== 0 || !perf) {
    throw new Error(`iscsi-perf against ${name} failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}):\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`);
  }
  const transfer = o.blocks * BLOCK;
  const bytes = perf.iops * o.seconds * transfer;
  return {
    target: name,
    mode,
    seconds: o.seconds,
    wallSeconds: Math.round(wall * 100) / 100,
    transferBytes: transfer,
    queueDepth: o.depth,
    iops: perf.iops,
    mbPerSec: Math.round((perf.iops * transfer) / 1e6),
    mibPerSec: Math.round((perf.iops * transfer) / MiB),
    targetCpuSeconds: Math.round(cpu * 100) / 100,
    targetCpuSecondsPerGB: bytes > 0 ? Math.round((cpu / (bytes / 1e9)) * 1000) / 1000 : null,
    targetCpuUtilization: Math.round((cpu / wall) * 100) / 100,
  };
}

function show(r) {
  console.log(
    `${`${r.target} (${r.mode})`.padEnd(28)} ${String(r.mbPerSec).padStart(6)} MB/s  ${String(r.iops).padStart(7)} IOPS  ` +
      `${String(r.targetCpuSecondsPerGB).padStart(6)} CPU s/GB  (target CPU ${r.targetCpuSeconds} s in ${r.wallSeconds} s)`,
  );
}

async function main() {
  const o = parse();
  if (!haveCommand('iscsi-perf')) throw new Error('iscsi-perf not found (Debian package libiscsi-bin)');
  if (o.peer === 'tgtd' && !haveCommand('tgtd')) throw new Error('--peer tgtd: tgtd not found (Debian package tgt)');
  if (o.build) {
    const b = await run(process.execPath, [path.join(repoRoot, 'tools', 'scripts', 'bootstrap.mjs')], { timeoutMs: 15 * 60_000 });
    if (b.code !== 0) throw new Error(`bootstrap/build failed:\n${b.stdout}${b.stderr}`);
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-bench-'));
  const lunFile = path.join(dataDir, 'lun0.img');
  const results = [];
  try {
    console.log(`prefilling ${LUN_MIB} MiB backing file ${lunFile} ...`);
    prefill(lunFile, LUN_MIB);
    console.log(
      `iscsi-perf: sequential read, ${(o.blocks * BLOCK) / 1024} KiB per command, queue depth ${o.depth}, ${o.seconds} s per target (${os.cpus().length} CPUs)`,
    );
    const mode = o.copy ? 'copy' : 'no-copy';
    const daemon = await startDaemon({ dataDir, args: [o.copy ? '--copy' : '--no-copy'], logLevel: 'warn' });
    try {
      const st = statSync(lunFile);
      if (st.blocks * 512 < st.size / 2) console.log('warning: the daemon replaced the prefilled backing file with a sparse one');
      const r = await measure('iscsi-target', mode, daemon.url(0), () => daemon.cpuSeconds(), o, lunFile);
      results.push(r);
      show(r);
    } finally {
      const code = await daemon.stop();
      if (code !== 0) console.log(`warning: the daemon exited with ${code}:\n${daemon.output().slice(-2000)}`);
    }
    if (o.peer === 'tgtd') {
      const tgtd = await startTgtd({ backingFile: lunFile });
      try {
        const r = await measure('tgtd', 'peer', tgtd.url(0), () => tgtd.cpuSeconds(), o, lunFile);
        results.push(r);
        show(r);
      } finally {
        await tgtd.stop();
      }
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ bench: 'read-seq', node: process.version, cpus: os.cpus().length, results }));
}

main().catch((e) => {
  console.error(`read-bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
