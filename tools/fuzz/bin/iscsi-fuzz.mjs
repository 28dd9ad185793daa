#!/usr/bin/env node
// `npm run fuzz -- [--pdus N | --seconds N] [--seed S] [--concurrency C]
//   [--health-every N] [--rss-bound-mib M] [--stop-on-finding] [--findings DIR] [--json]`
//
// Runs the network fuzzer (tools/fuzz/src/fuzz.mjs) against the built daemon
// and prints PDUs sent, connections, cases and findings; the last line is one
// JSON object with the whole report. Exit status: 0 without findings, 1 with
// findings, 2 on a usage error. Needs `pnpm build` first (the daemon runs
// from its bin). Default: --pdus 100000 --seed 1.
import { parseArgs } from 'node:util';
import { runFuzz } from '../src/fuzz.mjs';

let values;
try {
  ({ values } = parseArgs({
    options: {
      pdus: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '6' },
      'health-every': { type: 'string', default: '200' },
      'rss-bound-mib': { type: 'string', default: '256' },
      'stop-on-finding': { type: 'boolean', default: false },
      findings: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (e) {
  process.stderr.write(`iscsi-fuzz: ${/** @type {Error} */ (e).message}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write('usage: npm run fuzz -- [--pdus N | --seconds N] [--seed S] [--concurrency C] [--health-every N] [--rss-bound-mib M] [--stop-on-finding] [--findings DIR]\n');
  process.exit(0);
}
/** @param {string | undefined} v @param {string} name */
function num(v, name) {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`iscsi-fuzz: --${name} needs a positive number, got ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return n;
}
const pdus = num(values.pdus, 'pdus');
const seconds = num(values.seconds, 'seconds');
const report = await runFuzz({
  pdus: pdus ?? (seconds === undefined ? 100_000 : undefined),
  seconds,
  seed: Number(values.seed),
  concurrency: num(values.concurrency, 'concurrency'),
  healthEvery: num(values['health-every'], 'health-every'),
  rssBoundMiB: num(values['rss-bound-mib'], 'rss-bound-mib'),
  stopOnFinding: values['stop-on-finding'],
  findingsDir: values.findings,
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(
  `${report.pdusSent} PDUs sent (${report.bytesSent} bytes), ${report.connections} connections, ${report.cases} cases, ` +
    `${report.cleanLogins} clean logins, ${report.responses} PDUs received, ${report.targetClosed} closed by the target, ` +
    `${report.healthChecks} health checks, RSS ${report.rssStartMiB}→${report.rssMaxMiB} MiB, ${report.restarts} restarts, ` +
    `${report.seconds} s, seed ${report.seed}\n`,
);
if (report.corruptionCheck !== null) process.stdout.write(`corruption check skipped: ${report.corruptionCheck}\n`);
if (report.daemonErrorLines > 0) {
  process.stdout.write(`${report.daemonErrorLines} daemon log lines at error/fatal level, e.g.:\n`);
  for (const m of report.daemonErrorSamples) process.stdout.write(`  ${m}\n`);
}
process.stdout.write(`${report.findings.length} findings\n`);
for (const f of report.findings) process.stdout.write(`  ${f.kind} at ${f.atPdu} PDUs: ${f.detail.split('\n')[0]}\n`);
process.stdout.write(`${JSON.stringify({ ...report, findings: report.findings.map((f) => ({ ...f, cases: f.cases?.length })) })}\n`);
process.exit(report.findings.length > 0 ? 1 : 0);
