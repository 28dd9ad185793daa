#!/usr/bin/env node
// `npm run bench`: this target in no-copy mode, this target in copy mode and
// Debian's tgtd, side by side on ONE backing file in the page cache, over
// loopback, with alternating runs so that drift of the machine (other jobs,
// thermal, page cache) spreads evenly over the three targets.
//
// What this measures, per run (fixed time, --seconds):
// - seq-read-128k:  iscsi-perf, sequential READ, 128 KiB per command, QD 32;
// - seq-write-128k: qemu-img bench -w (QEMU's libiscsi driver), sequential
//   WRITE, 128 KiB per command, QD 32. iscsi-perf cannot write and
//   qemu-img bench counts requests rather than seconds, so the request count
//   is calibrated once (a short run against the no-copy target) to last about
//   --seconds, and every target writes that same count in every round;
// - rand-read-4k:   iscsi-perf -r, random READ, 4 KiB per command, QD 32.
// For each: MB/s (10^6 bytes), IOPS, the target process's CPU seconds
// (utime + stime of all its threads from /proc/<pid>/stat, sampled around the
// run) per GB moved, and for our daemons the payload bytes copied in
// userspace and passed by reference during the run (the copy counters, read
// from the daemon's Prometheus endpoint before and after). Several rounds
// (--rounds); the table shows medians and ratios to tgtd, the last line is
// JSON with every sample.
//
// What it does NOT measure: latency percentiles, the initiator's CPU, real
// networks (loopback: no NIC, MTU or latency), cold-cache or disk speed, many
// sessions. The initiator and the targets share the machine's cores, so a
// target that needs less CPU leaves more to the initiator; all three targets
// stay up for the whole benchmark, idle while another one is measured.
// Compare only on the same machine, in the same run.
//
// Not part of the tests. Needs iscsi-perf (libiscsi-bin), qemu-img with the
// iscsi driver (qemu-block-extra) and, for the peer, tgtd (package tgt, root).
//
// usage: node benchmarks/side-by-side.mjs [--seconds 10] [--rounds 3]
//          [--workload seq-read-128k ...] [--no-tgtd] [--no-build]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot, startDaemon } from '../tools/scripts/lib/daemon.mjs';
import { freePort, haveCommand, run } from '../tools/scripts/lib/proc.mjs';
import { startTgtd } from '../tools/scripts/lib/tgtd.mjs';
import { parsePerf, prefill, warm } from './lib/backing-file.mjs';

const BLOCK = 512;
/** The embedded default's LUN 0 is 1 GiB: the whole file is prefilled. */
const LUN_MIB = 1024;
const QUEUE_DEPTH = 32;

/** @typedef {'seq-read-128k' | 'seq-write-128k' | 'rand-read-4k'} Workload */
/** @type {Record<Workload, { bytes: number, tool: 'iscsi-perf' | 'qemu-img', random: boolean, write: boolean }>} */
const WORKLOADS = {
  'seq-read-128k': { bytes: 128 * 1024, tool: 'iscsi-perf', random: false, write: false },
  'seq-write-128k': { bytes: 128 * 1024, tool: 'qemu-img', random: false, write: true },
  'rand-read-4k': { bytes: 4 * 1024, tool: 'iscsi-perf', random: true, write: false },
};

function parse() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '3' },
      workload: { type: 'string', multiple: true },
      'no-tgtd': { type: 'boolean', default: false },
      'no-build': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: side-by-side.mjs [--seconds 10] [--rounds 3] [--workload NAME ...] [--no-tgtd] [--no-build]');
    console.log(`workloads: ${Object.keys(WORKLOADS).join(', ')}`);
    process.exit(0);
  }
  const int = (name, min) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const workloads = values.workload ?? Object.keys(WORKLOADS);
  for (const w of workloads) if (!(w in WORKLOADS)) throw new Error(`unknown --workload ${w} (known: ${Object.keys(WORKLOADS).join(', ')})`);
  return {
    seconds: int('seconds', 1),
    rounds: int('rounds', 1),
    /** @type {Workload[]} */
    workloads: /** @type {Workload[]} */ (workloads),
    tgtd: !values['no-tgtd'],
    build: !values['no-build'],
  };
}


/** The copy counters of one of our daemons (icl layer + ctl layer), from its /metrics. */
async function copyCounters(metricsPort) {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  if (res.status !== 200) throw new Error(`metrics endpoint answered ${res.status}`);
  const c = { copiedIn: 0, copiedOut: 0, referencedIn: 0, referencedOut: 0 };
  for (const m of (await res.text()).matchAll(/^iscsi_target_copy_bytes_total\{layer="\w+",direction="(in|out)",kind="(copied|referenced)"\} (\d+)$/gm)) {
    const key = `${m[2]}${m[1] === 'in' ? 'In' : 'Out'}`;
    c[/** @type {keyof typeof c} */ (key)] += Number(m[3]);
  }
  return c;
}

/**
 * Runs one workload against one target; returns the sample.
 * @param {{ name: string, url: string, cpuSeconds: () => number, metricsPort: number | null }} t
 */
async function measure(t, workload, o, writeCount, lunFile) {
  const w = WORKLOADS[workload];
  if (!w.write) warm(lunFile, LUN_MIB);
  const before = t.metricsPort !== null ? await copyCounters(t.metricsPort) : null;
  const cpu0 = t.cpuSeconds();
  const t0 = process.hrtime.bigint();
  let ops;
  let seconds;
  if (w.tool === 'iscsi-perf') {
    const args = ['-t', String(o.seconds), '-m', String(QUEUE_DEPTH), '-b', String(w.bytes / BLOCK), ...(w.random ? ['-r'] : []), t.url];
    const r = await run('iscsi-perf', args, { timeoutMs: (o.seconds + 60) * 1000, killSignal: 'SIGINT' });
    const perf = parsePerf(r.stdout);
    if (r.code !== 0 || !perf) throw new Error(`iscsi-perf ${workload} against ${t.name} failed (exit ${r.code}):\n${r.stdout.slice(-1500)}${r.stderr.slice(-1500)}`);
    ops = perf.iops * o.seconds;
    seconds = o.seconds;
  } else {
    const r = await benchWrite(t.url, writeCount, o.seconds * 20 + 60);
    if (r.error) throw new Error(`qemu-img bench against ${t.name} failed: ${r.error}`);
    ops = writeCount;
    seconds = r.seconds;
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = t.cpuSeconds() - cpu0;
  const after = t.metricsPort !== null ? await copyCounters(t.metricsPort) : null;
  const bytes = ops * w.bytes;
  const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;
  return {
    workload,
    target: t.name,
    seconds: round(seconds, 2),
    wallSeconds: round(wall, 2),
    ops,
    bytes,
    iops: Math.round(ops / seconds),
    mbPerSec: round(bytes / seconds / 1e6, 1),
    targetCpuSeconds: round(cpu, 3),
    targetCpuSecondsPerGB: bytes > 0 ? round(cpu / (bytes / 1e9), 4) : null,
    copy:
      before && after
        ? {
            copiedIn: after.copiedIn - before.copiedIn,
            copiedOut: after.copiedOut - before.copiedOut,
            referencedIn: after.referencedIn - before.referencedIn,
            referencedOut: after.referencedOut - before.referencedOut,
          }
        : null,
  };
}

/** qemu-img bench -w: `count` sequential 128 KiB writes at QD 32 (it wraps at the end of the LUN). */
async function benchWrite(url, count, timeoutSeconds) {
  const args = ['bench', '-w', '-t', 'none', '-d', String(QUEUE_DEPTH), '-s', String(WORKLOADS['seq-write-128k'].bytes), '-c', String(count), '-f', 'raw', url];
  const r = await run('qemu-img', args, { timeoutMs: timeoutSeconds * 1000 });
  const m = /Run completed in ([\d.]+) seconds/.exec(r.stdout);
  if (r.code !== 0 || !m) return { error: `exit ${r.code}: ${r.stdout.slice(-1500)}${r.stderr.slice(-1500)}`, seconds: 0 };
  return { error: null, seconds: Number(m[1]) };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? null : n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

function summarize(samples, workloads, targetNames) {
  const rows = [];
  for (const w of workloads) {
    const peer = samples.filter((s) => s.workload === w && s.target === 'tgtd');
    const peerMb = median(peer.map((s) => s.mbPerSec));
    for (const name of targetNames) {
      const mine = samples.filter((s) => s.workload === w && s.target === name);
      if (mine.length === 0) continue;
      const mb = median(mine.map((s) => s.mbPerSec));
      const sum = (k) => mine.reduce((n, s) => n + (s.copy ? s.copy[k] : 0), 0);
      rows.push({
        workload: w,
        target: name,
        runs: mine.length,
        mbPerSec: mb,
        iops: median(mine.map((s) => s.iops)),
        cpuSecondsPerGB: median(mine.map((s) => s.targetCpuSecondsPerGB)),
        ratioToTgtd: peerMb ? Math.round((mb / peerMb) * 100) / 100 : null,
        copiedBytes: mine[0].copy ? sum('copiedIn') + sum('copiedOut') : null,
        referencedBytes: mine[0].copy ? sum('referencedIn') + sum('referencedOut') : null,
      });
    }
  }
  return rows;
}

function printTable(rows) {
  const head = ['workload', 'target', 'MB/s', 'IOPS', 'CPU s/GB', 'x tgtd', 'copied B', 'by ref B'];
  const lines = rows.map((r) => [
    r.workload,
    r.target,
    r.mbPerSec.toFixed(1),
    String(r.iops),
    r.cpuSecondsPerGB === null ? '-' : r.cpuSecondsPerGB.toFixed(3),
    r.ratioToTgtd === null ? '-' : r.ratioToTgtd.toFixed(2),
    r.copiedBytes === null ? '-' : String(r.copiedBytes),
    r.referencedBytes === null ? '-' : String(r.referencedBytes),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(fmt(head));
  console.log(widths.map((n) => '-'.repeat(n)).join('  '));
  for (const l of lines) console.log(fmt(l));
}

async function main() {
  const o = parse();
  if (!haveCommand('iscsi-perf')) throw new Error('iscsi-perf not found (Debian package libiscsi-bin)');
  if (o.workloads.includes('seq-write-128k') && !haveCommand('qemu-img')) throw new Error('qemu-img not found (Debian packages qemu-utils, qemu-block-extra)');
  if (o.tgtd && !haveCommand('tgtd')) throw new Error('tgtd not found (Debian package tgt); or pass --no-tgtd');
  if (o.build) {
    const b = await run(process.execPath, [path.join(repoRoot, 'tools', 'scripts', 'bootstrap.mjs')], { timeoutMs: 15 * 60_000 });
    if (b.code !== 0) throw new Error(`bootstrap/build failed:\n${b.stdout}${b.stderr}`);
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'iscsi-side-by-side-'));
  const lunFile = path.join(dataDir, 'lun0.img');
  /** @type {Array<{ name: string, url: string, file: string, cpuSeconds: () => number, metricsPort: number | null, stop: () => Promise<unknown> }>} */
  const targets = [];
  const samples = [];
  try {
    console.log(`prefilling ${LUN_MIB} MiB backing file ${lunFile} ...`);
    prefill(lunFile, LUN_MIB);
    for (const mode of ['no-copy', 'copy']) {
      const metricsPort = await freePort('127.0.0.1');
      // Each daemon serves its own prefilled copy: the daemon locks its backing file (a second daemon on the
      // same file is refused, decision 48). All copies are page-cached, so the runs stay comparable.
      const own = path.join(dataDir, mode);
      mkdirSync(own);
      prefill(path.join(own, 'lun0.img'), LUN_MIB);
      const d = await startDaemon({ dataDir: own, args: [`--${mode}`, '--metrics', `127.0.0.1:${metricsPort}`, '--no-admin-socket'], logLevel: 'warn' });
      const file = path.join(own, 'lun0.img');
      targets.push({ name: `iscsi-target ${mode}`, url: d.url(0), file, cpuSeconds: () => d.cpuSeconds(), metricsPort, stop: () => d.stop() });
    }
    if (o.tgtd) {
      const t = await startTgtd({ backingFile: lunFile });
      targets.push({ name: 'tgtd', url: t.url(0), file: lunFile, cpuSeconds: () => t.cpuSeconds(), metricsPort: null, stop: () => t.stop() });
    }
    let writeCount = 0;
    if (o.workloads.includes('seq-write-128k')) {
      // Calibrate the write count on the first target: ~1 s probe, scaled to --seconds.
      const probe = 2048;
      const r = await benchWrite(targets[0].url, probe, 120);
      if (r.error) throw new Error(`qemu-img bench calibration failed: ${r.error}`);
      writeCount = Math.max(probe, Math.round((probe / Math.max(r.seconds, 0.01)) * o.seconds));
    }
    console.log(
      `${o.rounds} rounds x ${o.workloads.join(', ')} x ${targets.map((t) => t.name).join(', ')}; ${o.seconds} s per run, QD ${QUEUE_DEPTH}` +
        `${writeCount ? `, ${writeCount} writes per write run` : ''} (${os.cpus().length} CPUs, node ${process.version})`,
    );
    for (let round = 1; round <= o.rounds; round++) {
      for (const w of o.workloads) {
        // Rotate the order every round so no target always runs first.
        const order = targets.map((_, i) => targets[(i + round - 1) % targets.length]);
        for (const t of order) {
          const s = await measure(t, w, o, writeCount, t.file);
          samples.push({ round, ...s });
          console.log(
            `round ${round}  ${w.padEnd(14)} ${t.name.padEnd(21)} ${String(s.mbPerSec).padStart(8)} MB/s ${String(s.iops).padStart(7)} IOPS ` +
              `${String(s.targetCpuSecondsPerGB).padStart(7)} CPU s/GB${s.copy ? `  copied ${s.copy.copiedIn + s.copy.copiedOut} B` : ''}`,
          );
        }
      }
    }
  } finally {
    for (const t of targets) await t.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
  const rows = summarize(samples, o.workloads, targets.map((t) => t.name));
  console.log('');
  console.log('medians over rounds (copied/by ref: payload bytes summed over all runs, from the copy counters)');
  printTable(rows);
  console.log(
    JSON.stringify({ bench: 'side-by-side', node: process.version, cpus: os.cpus().length, seconds: o.seconds, rounds: o.rounds, queueDepth: QUEUE_DEPTH, summary: rows, samples }),
  );
}

main().catch((e) => {
  console.error(`side-by-side: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
