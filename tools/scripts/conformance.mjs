#!/usr/bin/env node
// `pnpm conformance`: libiscsi's iscsi-test-cu ALL family against the target.
//
// What this does: starts the built daemon on a free port with a fresh
// temporary data directory (its default thin 1 GiB LUN 0) — or uses `--url`
// for a target that is already running (tgtd, another build) — runs the
// suites one by one with a timeout each (lib/testcu.mjs), detects target death
// and hangs, prints `tests=N pass=N skip=N fail=N crash=N`, and writes
// per-suite logs, score.txt and summary.json to the output directory
// (default .test-results/conformance/).
// What it does NOT do: it does not build the daemon (`pnpm build` or
// bootstrap.mjs first) and does not judge the score: the exit code only says
// whether the run completed without a crash or hang of the target.
//
// usage: node tools/scripts/conformance.mjs [--url URL] [--out DIR]
//          [--per-suite SECONDS] [--budget SECONDS] [--suite NAME]... [--family ALL]
//          [--daemon-arg=ARG]... [--quiet]   (e.g. --daemon-arg=--copy)
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { repoRoot, startDaemon } from './lib/daemon.mjs';
import { haveCommand } from './lib/proc.mjs';
import { runTestCu, scoreLine } from './lib/testcu.mjs';

/**
 * @typedef {object} ConformanceResult
 * @property {boolean} ok            suites all finished, target neither died nor hung, and (if we started it) exited 0 on SIGTERM
 * @property {string} line           the score line
 * @property {object} summary        lib/testcu.mjs summary plus `daemonExitCode`
 * @property {string} outDir
 */

/**
 * Runs the conformance suite; starts and stops the daemon unless `url` is given.
 * @param {{ url?: string, outDir?: string, perSuiteSeconds?: number, budgetSeconds?: number, suites?: string[], family?: string, daemonArgs?: string[], log?: (line: string) => void }} [opts]
 * @returns {Promise<ConformanceResult>}
 */
export async function runConformance(opts = {}) {
  const log = opts.log ?? ((l) => console.log(l));
  const outDir = path.resolve(repoRoot, opts.outDir ?? path.join('.test-results', 'conformance'));
  if (!haveCommand('iscsi-test-cu')) throw new Error('iscsi-test-cu not found (Debian package libiscsi-bin)');
  const daemon = opts.url === undefined ? await startDaemon({ args: opts.daemonArgs ?? [] }) : undefined;
  const url = opts.url ?? /** @type {NonNullable<typeof daemon>} */ (daemon).url(0);
  log(`conformance: ${url}${daemon ? ` (daemon pid ${daemon.pid}, data ${daemon.dataDir})` : ''}`);
  /** @type {number | null | undefined} */
  let daemonExitCode;
  let summary;
  try {
    summary = await runTestCu({
      url,
      outDir,
      family: opts.family ?? 'ALL',
      perSuiteSeconds: opts.perSuiteSeconds ?? 120,
      budgetSeconds: opts.budgetSeconds ?? 1800,
      ...(opts.suites ? { suites: opts.suites } : {}),
      targetAlive: daemon ? () => daemon.alive() : () => true,
      log: (l) => log(`  ${l}`),
    });
  } finally {
    if (daemon) {
      const wasAlive = daemon.alive();
      daemonExitCode = await daemon.stop();
      if (!wasAlive) log(`daemon had exited with code ${daemonExitCode}; its output:\n${daemon.output().slice(-4000)}`);
      else if (daemonExitCode !== 0) log(`daemon exited with code ${daemonExitCode} after SIGTERM`);
    }
  }
  const full = { ...summary, daemonExitCode: daemonExitCode ?? null };
  writeFileSync(path.join(outDir, 'summary.json'), JSON.stringify(full, null, 2) + '\n');
  for (const a of summary.abnormal) log(a);
  if (summary.notRun.length > 0) log(`not run: ${summary.notRun.join(' ')}`);
  const ok = summary.finished && !summary.targetDied && !summary.targetHung && (daemon === undefined || daemonExitCode === 0);
  const line = scoreLine(summary);
  return { ok, line, summary: full, outDir };
}

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      out: { type: 'string' },
      'per-suite': { type: 'string' },
      budget: { type: 'string' },
      suite: { type: 'string', multiple: true },
      family: { type: 'string' },
      'daemon-arg': { type: 'string', multiple: true },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      'usage: conformance.mjs [--url URL] [--out DIR] [--per-suite SECONDS] [--budget SECONDS] [--suite NAME]... [--family ALL] [--daemon-arg=ARG]... [--quiet]',
    );
    return 0;
  }
  const num = (v, name) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number of seconds`);
    return n;
  };
  const perSuiteSeconds = num(values['per-suite'], 'per-suite');
  const budgetSeconds = num(values.budget, 'budget');
  const result = await runConformance({
    ...(values.url !== undefined ? { url: values.url } : {}),
    ...(values.out !== undefined ? { outDir: path.resolve(values.out) } : {}),
    ...(perSuiteSeconds !== undefined ? { perSuiteSeconds } : {}),
    ...(budgetSeconds !== undefined ? { budgetSeconds } : {}),
    ...(values.suite ? { suites: values.suite } : {}),
    ...(values.family ? { family: values.family } : {}),
    ...(values['daemon-arg'] ? { daemonArgs: values['daemon-arg'] } : {}),
    log: values.quiet ? () => {} : (l) => console.log(l),
  });
  const rel = path.relative(process.cwd(), result.outDir);
  console.log(`results: ${rel.startsWith('..') || rel === '' ? result.outDir : rel}/ (score.txt, summary.json)`);
  console.log(result.line);
  return result.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(`conformance: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(2);
    },
  );
}
