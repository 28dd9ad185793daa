// libiscsi's conformance suite (`iscsi-test-cu`) run one suite at a time and
// scored per test. A Node port of the project-provided helpers
// /work/shared/tools/testcu-run.sh and testcu-score.py, with target-death and
// hang detection added.
//
// What this does: lists the suites of a family (`ALL` by default), runs each
// as `iscsi-test-cu -d -v -t FAMILY.SUITE URL URL` (the URL twice so the
// multipath tests run) under a timeout, keeps one log per suite plus all.log,
// scores every test pass/skip/fail/crash exactly as testcu-score.py does,
// stops early when the target died or stopped answering, and writes
// score.txt, abnormal.txt and summary.json into the output directory.
// What it does NOT do: it does not start the target (conformance.mjs does).
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { run } from './proc.mjs';

/**
 * Suite names of `family` as listed by `iscsi-test-cu -l` (e.g. "Read10" for ALL.Read10).
 * @param {string} [family]
 * @returns {Promise<string[]>}
 */
export async function listSuites(family = 'ALL') {
  const r = await run('iscsi-test-cu', ['-l'], { timeoutMs: 30_000 });
  const suites = [];
  for (const line of r.stdout.split('\n')) {
    const parts = line.trim().split('.');
    if (parts.length === 2 && parts[0] === family && parts[1]) suites.push(parts[1]);
  }
  return suites;
}

/** CUnit's result word at the start of a (trimmed) line, alone or followed by other output. */
const RESULT_FIRST = /^(passed|FAILED)(?:\s|$)/;

/**
 * Scores a verbose iscsi-test-cu log (a port of testcu-score.py: same rules,
 * same names, same duplicate numbering), with one correction: CUnit's result
 * word may be followed on the same line by whatever the next test or the
 * suite teardown prints (`passed    [SKIPPED] PERSISTENT RESERVE IN is not
 * implemented.`). testcu-score.py then never sees the result and drops the
 * test, or charges the trailing `[SKIPPED]` to it; here a line whose text
 * *starts* with `passed`/`FAILED` is the result, and only what comes before
 * the result word counts for the test. A test whose result line never
 * appeared (the client died mid-test) is a "crash".
 * @param {string} log
 * @returns {Map<string, 'pass' | 'skip' | 'fail' | 'crash'>}
 */
export function scoreLog(log) {
  /** @type {Map<string, 'pass' | 'skip' | 'fail' | 'crash'>} */
  const res = new Map();
  let suite = null;
  /** @type {string | null} */
  let cur = null;
  /** @type {'pass' | 'skip'} */
  let state = 'pass';
  for (const line of log.split(/\r?\n/)) {
    let m = /^Suite: (\S+)/.exec(line);
    if (m) {
      suite = m[1];
      continue;
    }
    m = /^ {2}Test: (\S+) \.\.\.(.*)$/.exec(line);
    if (m) {
      const base = `${suite}.${m[1]}`;
      cur = base;
      for (let n = 2; res.has(cur); n++) cur = `${base}#${n}`;
      state = 'pass';
      const rest = (m[2] ?? '').trim();
      const lead = RESULT_FIRST.exec(rest);
      const before = lead ? '' : rest;
      if (before.includes('[SKIPPED]')) state = 'skip';
      if (lead?.[1] === 'FAILED' || (!lead && rest.endsWith('FAILED'))) {
        res.set(cur, 'fail');
        cur = null;
      } else if (lead?.[1] === 'passed' || rest.endsWith('passed')) {
        if (!lead && rest.includes('[SKIPPED]')) state = 'skip';
        res.set(cur, state);
        cur = null;
      }
      continue;
    }
    if (cur === null) continue;
    const lead = RESULT_FIRST.exec(line.trim());
    if (lead) {
      res.set(cur, lead[1] === 'FAILED' ? 'fail' : state);
      cur = null;
      continue;
    }
    if (line.includes('[SKIPPED]') && state === 'pass') state = 'skip';
    if (line.trimEnd().endsWith('passed')) {
      res.set(cur, state);
      cur = null;
    } else if (line.trimEnd().endsWith('FAILED')) {
      res.set(cur, 'fail');
      cur = null;
    }
  }
  if (cur !== null) res.set(cur, 'crash');
  return res;
}

/** @param {Map<string, string>} res */
export function countScores(res) {
  const c = { tests: res.size, pass: 0, skip: 0, fail: 0, crash: 0 };
  for (const v of res.values()) c[/** @type {'pass'|'skip'|'fail'|'crash'} */ (v)]++;
  return c;
}

/** @param {{ tests: number, pass: number, skip: number, fail: number, crash: number }} c */
export function scoreLine(c) {
  return `tests=${c.tests} pass=${c.pass} skip=${c.skip} fail=${c.fail} crash=${c.crash}`;
}

/**
 * Runs one suite under a timeout, writing its combined output to `logFile`.
 * @returns {Promise<{ code: number | null, signal: string | null, timedOut: boolean, seconds: number, output: string }>}
 */
function runSuite(family, suite, url, logFile, timeoutMs) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('iscsi-test-cu', ['-d', '-v', '-t', `${family}.${suite}`, url, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks = [];
    child.stdout.on('data', (b) => chunks.push(b));
    child.stderr.on('data', (b) => chunks.push(b));
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(t);
      const output = Buffer.concat(chunks).toString('utf8');
      writeFileSync(logFile, output);
      resolve({ code, signal, timedOut, seconds: (Date.now() - started) / 1000, output });
    });
  });
}

/**
 * Whether the target still answers a standard INQUIRY within `timeoutMs`.
 * @param {string} url
 */
export async function targetAnswers(url, timeoutMs = 15_000) {
  try {
    const r = await run('iscsi-inq', [url], { timeoutMs });
    return r.code === 0 && !r.timedOut;
  } catch {
    return false;
  }
}

/**
 * @typedef {object} SuiteResult
 * @property {string} name
 * @property {number} seconds
 * @property {number | null} exit
 * @property {string | null} signal
 * @property {'finished' | 'timeout' | 'crash'} status  timeout = hang; crash = iscsi-test-cu killed by a signal
 */

/**
 * Runs the family suite by suite and scores it.
 * @param {object} opts
 * @param {string} opts.url           iscsi://host:port/iqn/lun
 * @param {string} opts.outDir
 * @param {string} [opts.family]      default ALL
 * @param {string[]} [opts.suites]    restrict to these suite names (or single tests, `Suite.Test`)
 * @param {number} [opts.perSuiteSeconds]  default 120
 * @param {number} [opts.budgetSeconds]    stop starting new suites after this; default 1800
 * @param {() => boolean} [opts.targetAlive] for a target we started: false once its process exited
 * @param {(line: string) => void} [opts.log]
 */
export async function runTestCu(opts) {
  const family = opts.family ?? 'ALL';
  const perSuiteMs = (opts.perSuiteSeconds ?? 120) * 1000;
  const budgetMs = (opts.budgetSeconds ?? 1800) * 1000;
  const log = opts.log ?? (() => {});
  const targetAlive = opts.targetAlive ?? (() => true);
  mkdirSync(opts.outDir, { recursive: true });
  const allLog = path.join(opts.outDir, 'all.log');
  writeFileSync(allLog, '');
  writeFileSync(path.join(opts.outDir, 'abnormal.txt'), '');
  const started = Date.now();
  let suites = await listSuites(family);
  if (suites.length === 0) throw new Error(`iscsi-test-cu -l lists no ${family}.* suites`);
  if (opts.suites) {
    // A name with a dot is one test (`WriteSame10.UnmapUnaligned`): run as given.
    const want = new Set(opts.suites);
    const tests = opts.suites.filter((s) => s.includes('.'));
    suites = [...suites.filter((s) => want.has(s)), ...tests];
  }
  /** @type {SuiteResult[]} */
  const results = [];
  /** @type {string[]} */
  const abnormal = [];
  let targetDied = false;
  let targetHung = false;
  let budgetExceeded = false;
  const notRun = [];
  for (const s of suites) {
    if (targetDied || targetHung || budgetExceeded) {
      notRun.push(s);
      continue;
    }
    if (Date.now() - started > budgetMs) {
      budgetExceeded = true;
      notRun.push(s);
      continue;
    }
    const r = await runSuite(family, s, opts.url, path.join(opts.outDir, `${s}.log`), perSuiteMs);
    appendFileSync(allLog, r.output);
    /** @type {SuiteResult['status']} */
    let status = 'finished';
    if (r.timedOut) status = 'timeout';
    else if (r.signal !== null) status = 'crash';
    results.push({ name: s, seconds: Math.round(r.seconds * 10) / 10, exit: r.code, signal: r.signal, status });
    if (status !== 'finished') {
      const what = status === 'timeout' ? `hang/timeout after ${perSuiteMs / 1000} s` : `crash (signal ${r.signal})`;
      const line = `suite ${s}: ${what}`;
      abnormal.push(line);
      appendFileSync(path.join(opts.outDir, 'abnormal.txt'), line + '\n');
      appendFileSync(allLog, `  Test: __suite_${s}_${status} ...FAILED\n`);
    }
    if (!targetAlive()) {
      targetDied = true;
      const line = `target process exited during suite ${s}`;
      abnormal.push(line);
      appendFileSync(path.join(opts.outDir, 'abnormal.txt'), line + '\n');
    } else if (status === 'timeout' && !(await targetAnswers(opts.url))) {
      targetHung = true;
      const line = `target stopped answering INQUIRY after suite ${s}`;
      abnormal.push(line);
      appendFileSync(path.join(opts.outDir, 'abnormal.txt'), line + '\n');
    }
    log(`${s.padEnd(28)} ${status.padEnd(8)} ${r.seconds.toFixed(1)} s`);
  }
  const scores = scoreLog(readFileSync(allLog, 'utf8'));
  const listing = [...scores.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${v} ${k}`);
  const counts = countScores(scores);
  writeFileSync(path.join(opts.outDir, 'score.txt'), [...listing, scoreLine(counts)].join('\n') + '\n');
  const finished = notRun.length === 0 && results.every((r) => r.status === 'finished');
  const summary = {
    url: opts.url,
    family,
    startedAt: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    ...counts,
    finished,
    targetDied,
    targetHung,
    budgetExceeded,
    notRun,
    abnormal,
    suites: results,
  };
  writeFileSync(path.join(opts.outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  return { ...summary, scores };
}
