#!/usr/bin/env node
// The repository's test runner (`npm test` after bootstrap.mjs).
//
// What this does:
//   1. `vitest run` over every project, with the default reporter on the
//      console and the JSON reporter into .test-results/vitest.json;
//   2. `tsc -b` over the whole solution — sources, tests and benchmarks —
//      counted as ONE test (`--no-typecheck` skips it), then ESLint over the
//      repository (type-aware rules, the layer graph of DESIGN.md §2, and the
//      plain-JavaScript scripts), counted as ONE test (`--no-lint` skips it);
//   3. the conformance run (conformance.mjs: iscsi-test-cu ALL against a
//      freshly started default daemon, then the LUN profiles): every
//      iscsi-test-cu test counts (pass → passed, skip → skipped, fail or
//      crash → failed), and the run itself counts as one more test: passed
//      when every suite finished and no target crashed or hung
//      (`--no-conformance` skips it);
//   4. lists each skipped test with its reason (lib/skips.mjs: the trailing
//      parenthesis of its name, by convention), prints `N skipped`, then, as
//      the very last line, `N passed, N failed`,
//      and exits non-zero if anything failed.
// Files that vitest could not load (syntax error, failing import, failing
// beforeAll) count as failed tests even though they hold no test results.
// What it does NOT do: it does not build or install anything (bootstrap.mjs
// does).
//
// usage: node tools/scripts/run-tests.mjs [--no-typecheck] [--no-lint] [--no-conformance] [-- <extra vitest args>]
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runConformance } from './conformance.mjs';
import { haveCommand } from './lib/proc.mjs';
import { formatSkip, skippedTests } from './lib/skips.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const resultsDir = path.join(root, '.test-results');
const jsonFile = path.join(resultsDir, 'vitest.json');

const rawArgs = process.argv.slice(2);
const dashDash = rawArgs.indexOf('--');
const ownArgs = dashDash === -1 ? rawArgs : rawArgs.slice(0, dashDash);
const vitestArgs = dashDash === -1 ? [] : rawArgs.slice(dashDash + 1);
const withConformance = !ownArgs.includes('--no-conformance');
const withLint = !ownArgs.includes('--no-lint');
const withTypecheck = !ownArgs.includes('--no-typecheck');

/** @returns {Promise<number | null>} vitest's exit code */
function runVitest() {
  const bin = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');
  const args = [bin, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${jsonFile}`, ...vitestArgs];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
    child.on('error', (e) => {
      console.error(`run-tests: cannot start vitest: ${e.message}`);
      resolve(null);
    });
    child.on('exit', (code) => resolve(code));
  });
}

/**
 * Runs a repository tool (`node_modules/<bin>`) with the console attached.
 * @param {string} name for the error message
 * @param {string[]} bin path segments below node_modules
 * @param {string[]} args
 * @returns {Promise<number | null>} its exit code (its findings go to the console)
 */
function runTool(name, bin, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'node_modules', ...bin), ...args], { cwd: root, stdio: 'inherit' });
    child.on('error', (e) => {
      console.error(`run-tests: cannot start ${name}: ${e.message}`);
      resolve(null);
    });
    child.on('exit', (code) => resolve(code));
  });
}

/** `tsc -b` over the solution. */
const runTypecheck = () => runTool('tsc', ['typescript', 'bin', 'tsc'], ['-b']);
/** ESLint over the repository. */
const runLint = () => runTool('eslint', ['eslint', 'bin', 'eslint.js'], ['.']);

/**
 * Totals from vitest's JSON report (jest-compatible format).
 * @returns {{ passed: number, failed: number, skipped: number, skips: string[] } | null}
 */
function readVitestTotals() {
  let report;
  try {
    report = JSON.parse(readFileSync(jsonFile, 'utf8'));
  } catch {
    return null;
  }
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const file of report.testResults ?? []) {
    let fileFailed = 0;
    for (const t of file.assertionResults ?? []) {
      if (t.status === 'passed') passed++;
      else if (t.status === 'failed') fileFailed++;
      else skipped++; // skipped, pending, todo, disabled
    }
    // A file that failed without a failed test (load error, hook error) counts once.
    if (file.status === 'failed' && fileFailed === 0) fileFailed = 1;
    failed += fileFailed;
  }
  return { passed, failed, skipped, skips: skippedTests(report, root).map(formatSkip) };
}

async function main() {
  mkdirSync(resultsDir, { recursive: true });
  rmSync(jsonFile, { force: true });
  const code = await runVitest();
  const parsed = readVitestTotals();
  const totals = parsed ?? { passed: 0, failed: 0, skipped: 0, skips: [] };
  if (parsed === null) {
    console.error(`run-tests: vitest exited ${code} without a JSON report; counting it as one failure`);
    totals.failed += 1;
  } else if (code !== 0 && totals.failed === 0) {
    console.error(`run-tests: vitest exited ${code} although no test failed; counting it as one failure`);
    totals.failed += 1;
  }

  if (withTypecheck) {
    console.log('');
    const tscCode = await runTypecheck();
    console.log(`typecheck: ${tscCode === 0 ? 'PASSED' : `FAILED (tsc -b exited ${tscCode})`}`);
    if (tscCode === 0) totals.passed += 1;
    else totals.failed += 1;
  }

  if (withLint) {
    console.log('');
    const lintCode = await runLint();
    console.log(`lint: ${lintCode === 0 ? 'PASSED' : `FAILED (eslint exited ${lintCode})`}`);
    if (lintCode === 0) totals.passed += 1;
    else totals.failed += 1;
  }

  if (withConformance) {
    console.log('');
    if (!haveCommand('iscsi-test-cu')) {
      console.log('conformance: SKIPPED (iscsi-test-cu not found; Debian package libiscsi-bin)');
      totals.skipped += 1;
      totals.skips.push('skipped: the conformance run — iscsi-test-cu not found (Debian package libiscsi-bin)');
    } else {
      try {
        // Budget: a normal run takes well under a minute; even if every suite hung, CI stays
        // within ~17 minutes (no new suite after 15 min, each suite capped at 2 min).
        const r = await runConformance({ perSuiteSeconds: 120, budgetSeconds: 900, log: (l) => console.log(l) });
        console.log(`conformance score, default LUN: ${r.line}`);
        console.log(`conformance score, with LUN profiles: ${r.combined}`);
        // Every iscsi-test-cu test counts: pass → passed, skip → skipped, fail or crash → failed.
        const failedTests = [];
        for (const [test, v] of r.scores) {
          if (v === 'pass') totals.passed += 1;
          else if (v === 'skip') {
            totals.skipped += 1;
            totals.skips.push(`skipped: iscsi-test-cu ${test} — iscsi-test-cu skipped it (its log under .test-results/conformance/ says why)`);
          }
          else {
            totals.failed += 1;
            failedTests.push(`${v} ${test}`);
          }
        }
        for (const f of failedTests) console.log(`conformance: ${f}`);
        console.log(`conformance run: ${r.ok ? 'PASSED (no target crash or hang; every suite finished)' : 'FAILED (see above and .test-results/conformance/)'}`);
        if (r.ok) totals.passed += 1;
        else totals.failed += 1;
      } catch (e) {
        console.log(`conformance: FAILED (${e instanceof Error ? e.message : String(e)})`);
        totals.failed += 1;
      }
    }
  }

  console.log('');
  // Each skipped test with its reason, then the count.
  for (const line of totals.skips) console.log(line);
  console.log(`${totals.skipped} skipped`);
  console.log(`${totals.passed} passed, ${totals.failed} failed`);
  return totals.failed > 0 ? 1 : 0;
}

main().then(
  (c) => process.exit(c),
  (e) => {
    console.error(e);
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
