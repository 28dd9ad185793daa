// The network fuzzer: mutated login and full-feature PDU streams against the
// daemon started from its bin (issue 13 item 8b).
//
// What it does: starts `apps/target/bin/iscsi-target.js` (embedded default:
// one 1 GiB file LUN) on a free port, writes a known pattern far above the
// area fuzzed writes may touch (with qemu-io, a real initiator), then runs
// fast-check-generated cases (cases.mjs) on `concurrency` parallel
// connections until `pdus` PDUs were sent or `seconds` passed. Each case
// opens a connection, logs in cleanly where its kind asks for it, sends its
// mutated stream cut into several writes, answers R2Ts with (possibly bent)
// Data-Out, reads whatever comes back for a short while and closes. Every
// `healthEvery` cases and at the end it checks:
//   - crash: the daemon process exited;
//   - hang: a well-behaved client (libiscsi `iscsi-inq`, else the fuzzer's
//     own login) cannot log in and get an answer within 5 s;
//   - memory: the daemon's RSS grew more than `rssBoundMiB` over the RSS
//     measured after the first health check (warm-up);
//   - corruption: the pattern no longer reads back (qemu-io `read -P`), at
//     every 10th health check and at the end.
// After a crash the stream of every case in flight is saved (hex) and the
// daemon restarted, unless `stopOnFinding`.
// What it does not do: no CHAP, no multi-connection sessions, no coverage
// feedback (mutations are blind but structured); the pattern check cannot
// tell an arbitrary accepted write from corruption, so generated writes are
// kept below LBA SCRATCH_BLOCKS (+ what a mutated CDB length byte can add;
// see cases.mjs) and the pattern sits at 928 MiB.
//
// Buffer ownership: the fuzzer owns everything it sends and receives.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { startDaemon } from '../../scripts/lib/daemon.mjs';
import { haveCommand, run } from '../../scripts/lib/proc.mjs';
import { buildStream, caseArb, dataOut, expand } from './cases.mjs';
import { connect, frame, login, TargetOp } from './wire.mjs';

/** The pattern written before fuzzing: 64 KiB at 928 MiB, byte 0xa5. */
export const PATTERN = { offset: 928 * 1024 * 1024, length: 64 * 1024, byte: 0xa5 };
const BATCH = 64;

/**
 * @typedef {object} Finding
 * @property {'crash' | 'hang' | 'memory' | 'corruption'} kind
 * @property {string} detail
 * @property {number} atPdu  PDUs sent when it was found
 * @property {string[]} [cases]  hex streams of the cases in flight (crash)
 */

/**
 * @typedef {object} FuzzReport
 * @property {number} seed
 * @property {number} pdusSent
 * @property {number} bytesSent
 * @property {number} connections
 * @property {number} cases
 * @property {number} cleanLogins  clean logins that reached Full Feature Phase before a mutated stream
 * @property {number} responses  PDUs the target sent back
 * @property {number} targetClosed  cases after which the target had closed the connection
 * @property {number} healthChecks
 * @property {number} seconds
 * @property {number} rssStartMiB
 * @property {number} rssMaxMiB
 * @property {number} restarts
 * @property {string | null} corruptionCheck  null when run, else why it was skipped
 * @property {number} daemonErrorLines  log lines at error or fatal level (not findings by themselves; read them)
 * @property {string[]} daemonErrorSamples  up to 10 distinct error/fatal messages
 * @property {Finding[]} findings
 */

/**
 * @param {{ seed?: number, pdus?: number, seconds?: number, concurrency?: number, healthEvery?: number,
 *   rssBoundMiB?: number, stopOnFinding?: boolean, findingsDir?: string, log?: (line: string) => void,
 *   daemonArgs?: string[], onProgress?: (pdusSent: number, daemonPid: number) => void }} [opts]
 *   `onProgress` is called after every case (tests use it to kill the daemon and prove the crash detector).
 * @returns {Promise<FuzzReport>}
 */
export async function runFuzz(opts = {}) {
  const seed = opts.seed ?? 1;
  const maxPdus = opts.pdus ?? Infinity;
  const deadline = opts.seconds === undefined ? Infinity : Date.now() + opts.seconds * 1000;
  if (maxPdus === Infinity && deadline === Infinity) throw new Error('runFuzz: give pdus or seconds');
  const concurrency = opts.concurrency ?? 6;
  const healthEvery = opts.healthEvery ?? 200;
  const rssBound = opts.rssBoundMiB ?? 256;
  const log = opts.log ?? (() => {});
  const started = Date.now();
  const haveInq = haveCommand('iscsi-inq');
  const haveQemuIo = haveCommand('qemu-io');

  /** @type {FuzzReport} */
  const r = {
    seed,
    pdusSent: 0,
    bytesSent: 0,
    connections: 0,
    cases: 0,
    cleanLogins: 0,
    responses: 0,
    targetClosed: 0,
    healthChecks: 0,
    seconds: 0,
    rssStartMiB: 0,
    rssMaxMiB: 0,
    restarts: 0,
    corruptionCheck: haveQemuIo ? null : 'qemu-io not installed (qemu-utils, qemu-block-extra)',
    daemonErrorLines: 0,
    daemonErrorSamples: [],
    findings: [],
  };

  let daemon = await startDaemon({ logLevel: 'warn', args: opts.daemonArgs ?? [] });
  log(`fuzz: daemon pid ${daemon.pid} on ${daemon.host}:${daemon.port}, seed ${seed}`);
  if (haveQemuIo) await writePattern(daemon.url(0));

  /** @type {Map<number, Buffer>} */
  const inFlight = new Map();
  let nextCase = 0;
  let stop = false;
  let batchIndex = -1;
  /** @type {import('./cases.mjs').FuzzCase[]} */
  let batch = [];
  const nextOf = () => {
    const i = nextCase++;
    const b = Math.floor(i / BATCH);
    if (b !== batchIndex) {
      // fast-check is the only source of choices: batch b is sampled with seed + b.
      batch = fc.sample(caseArb, { seed: (seed + b) | 0, numRuns: BATCH });
      batchIndex = b;
    }
    return { i, c: batch[i % BATCH] };
  };

  /** Collects error/fatal log lines of a daemon about to be stopped or replaced. */
  const harvest = () => {
    for (const line of daemon.output().split('\n')) {
      let j;
      try {
        j = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof j?.level === 'number' && j.level >= 50) {
        r.daemonErrorLines++;
        const m = String(j.msg ?? '').slice(0, 160);
        if (r.daemonErrorSamples.length < 10 && !r.daemonErrorSamples.includes(m)) r.daemonErrorSamples.push(m);
      }
    }
  };

  /** @param {Finding} f */
  const found = (f) => {
    r.findings.push(f);
    log(`fuzz: FINDING ${f.kind} at ${f.atPdu} PDUs: ${f.detail}`);
    if (opts.findingsDir !== undefined) {
      mkdirSync(opts.findingsDir, { recursive: true });
      writeFileSync(path.join(opts.findingsDir, `finding-${r.findings.length}-${f.kind}.json`), JSON.stringify(f, null, 2));
    }
    if (opts.stopOnFinding) stop = true;
  };

  let health = Promise.resolve();
  let checking = false;
  /** @param {boolean} final */
  const healthCheck = async (final) => {
    r.healthChecks++;
    if (!daemon.alive()) {
      const tail = daemon.output().split('\n').slice(-30).join('\n');
      found({ kind: 'crash', detail: `daemon exited with ${daemon.exitCode()}\n${tail}`, atPdu: r.pdusSent, cases: [...inFlight.values()].map((b) => b.toString('hex')) });
      if (!stop && !final) {
        harvest();
        await daemon.stop();
        daemon = await startDaemon({ logLevel: 'warn', args: opts.daemonArgs ?? [] });
        r.restarts++;
        if (haveQemuIo) await writePattern(daemon.url(0));
      }
      return;
    }
    const t0 = Date.now();
    const ok = await canLogIn(daemon, haveInq);
    if (!ok.ok) found({ kind: 'hang', detail: `a well-behaved login did not succeed within 5 s (${ok.detail})`, atPdu: r.pdusSent });
    const rss = rssMiB(daemon.pid);
    if (r.rssStartMiB === 0) r.rssStartMiB = rss;
    r.rssMaxMiB = Math.max(r.rssMaxMiB, rss);
    if (rss - r.rssStartMiB > rssBound) found({ kind: 'memory', detail: `RSS ${rss} MiB, ${rss - r.rssStartMiB} MiB over the ${r.rssStartMiB} MiB after warm-up (bound ${rssBound})`, atPdu: r.pdusSent });
    if (haveQemuIo && (final || r.healthChecks % 10 === 0)) {
      const bad = await checkPattern(daemon.url(0));
      if (bad !== null) found({ kind: 'corruption', detail: bad, atPdu: r.pdusSent });
    }
    log(`fuzz: ${r.pdusSent} PDUs, ${r.connections} connections, ${r.findings.length} findings, RSS ${rss} MiB, login ${Date.now() - t0} ms`);
  };

  const worker = async () => {
    while (!stop && r.pdusSent < maxPdus && Date.now() < deadline) {
      while (checking) await health;
      const { i, c } = nextOf();
      const host = daemon.host;
      const port = daemon.port;
      await runCase(host, port, c, r, (b) => inFlight.set(i, b));
      inFlight.delete(i);
      r.cases++;
      opts.onProgress?.(r.pdusSent, daemon.pid);
      if (r.cases % healthEvery === 0 && !checking) {
        checking = true;
        health = healthCheck(false).finally(() => {
          checking = false;
        });
        await health;
      } else if (!daemon.alive() && !checking) {
        checking = true;
        health = healthCheck(false).finally(() => {
          checking = false;
        });
        await health;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await health;
  await healthCheck(true);
  r.seconds = Math.round((Date.now() - started) / 100) / 10;
  await daemon.stop();
  harvest();
  return r;
}

/**
 * Runs one case on a fresh connection.
 * @param {string} host
 * @param {number} port
 * @param {import('./cases.mjs').FuzzCase} c
 * @param {FuzzReport} r
 * @param {(stream: Buffer) => void} record
 */
export async function runCase(host, port, c, r, record) {
  let conn;
  try {
    conn = await connect(host, port, 2_000);
  } catch {
    return;
  }
  r.connections++;
  try {
    let seq = { cmdSn: 1, expStatSn: 0, itt: 0x10 };
    let digests = { headerDigest: false, dataDigest: false };
    let neg = { blockSize: 512, firstBurst: 65536, maxRecv: 8192, unsolicitedOk: false };
    if (c.kind !== 'login') {
      const extra = c.immediateData ? /** @type {const} */ ([['ImmediateData', 'Yes'], ['InitialR2T', 'No']]) : [];
      const s = await login(conn, {
        sessionType: c.kind === 'discovery' ? 'Discovery' : 'Normal',
        headerDigest: c.headerDigest,
        dataDigest: c.dataDigest,
        extraKeys: extra,
        timeoutMs: 2_000,
      });
      r.pdusSent += 1;
      if (!s.ok) return;
      r.cleanLogins++;
      seq = { cmdSn: s.cmdSn, expStatSn: s.expStatSn, itt: 0x10 };
      digests = { headerDigest: s.headerDigest, dataDigest: s.dataDigest };
      neg = {
        blockSize: 512,
        firstBurst: Number(s.keys.get('FirstBurstLength') ?? 65536),
        maxRecv: Math.min(s.maxRecv, 65536),
        unsolicitedOk: s.keys.get('InitialR2T') === 'No',
      };
      if (s.keys.get('ImmediateData') === 'No') c = { ...c, immediateData: false };
    }
    const specs = expand(c, seq, neg);
    const { pieces, pdus } = buildStream(c, specs, digests);
    record(Buffer.concat(pieces));
    // Answer R2Ts with Data-Out (bent as the case says), at most 32 PDUs.
    let answered = 0;
    conn.onPdu = (p) => {
      r.responses++;
      if (p.opcode !== TargetOp.R2t || answered >= 32) return;
      const itt = p.bhs.readUInt32BE(16);
      const ttt = p.bhs.readUInt32BE(20);
      const r2tSn = p.bhs.readUInt32BE(36);
      const offset = p.bhs.readUInt32BE(40);
      const want = Math.min(p.bhs.readUInt32BE(44), 256 * 1024);
      let dataSn = 0;
      for (let off = 0; off < want && answered < 32; ) {
        const n = Math.min(neg.maxRecv, want - off);
        const bend = c.r2t;
        const spec = dataOut({
          itt,
          ttt: bend.field === 'ttt' ? (ttt + bend.delta) >>> 0 : ttt,
          expStatSn: seq.expStatSn,
          dataSn: bend.field === 'dataSn' ? (dataSn + bend.delta) >>> 0 : dataSn,
          offset: bend.field === 'bufferOffset' ? (offset + off + bend.delta) >>> 0 : offset + off,
          data: Buffer.alloc(bend.field === 'length' ? Math.max(0, n + bend.delta) : n, 0x3c),
          final: off + n >= want,
        });
        dataSn++;
        void r2tSn;
        answered++;
        r.pdusSent++;
        const b = frame(spec, digests);
        r.bytesSent += b.length;
        void conn.write(b);
        off += n;
      }
    };
    r.pdusSent += pdus;
    for (const piece of pieces) {
      r.bytesSent += piece.length;
      if (!(await conn.write(piece))) break;
    }
    // Read what comes back: stop after 40 ms of silence, 400 ms in all, or the close.
    const until = Date.now() + 400;
    let last = conn.received;
    while (!conn.closed && Date.now() < until) {
      await new Promise((res) => setTimeout(res, 40));
      if (conn.received === last) break;
      last = conn.received;
    }
    if (conn.closed) r.targetClosed++;
  } finally {
    conn.destroy();
  }
}

/**
 * @param {{ host: string, port: number, url: (lun?: number) => string }} daemon
 * @param {boolean} haveInq
 * @returns {Promise<{ ok: boolean, detail: string }>}
 */
async function canLogIn(daemon, haveInq) {
  if (haveInq) {
    const res = await run('iscsi-inq', [daemon.url(0)], { timeoutMs: 5_000, killSignal: 'SIGKILL' });
    return { ok: res.code === 0 && !res.timedOut, detail: res.timedOut ? 'iscsi-inq timed out' : `iscsi-inq exit ${res.code}: ${res.stderr.trim().slice(0, 200)}` };
  }
  let conn;
  try {
    conn = await connect(daemon.host, daemon.port, 5_000);
    const s = await login(conn, { timeoutMs: 5_000 });
    return { ok: s.ok, detail: `fuzzer login status 0x${s.status.toString(16)}` };
  } catch (e) {
    return { ok: false, detail: /** @type {Error} */ (e).message };
  } finally {
    conn?.destroy();
  }
}

/** @param {number} pid */
function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Math.round(Number(m[1]) / 1024);
  } catch {
    return 0;
  }
}

/** @param {string} url */
export async function writePattern(url) {
  const hex = `0x${PATTERN.byte.toString(16)}`;
  const res = await run('qemu-io', ['-f', 'raw', '-c', `write -P ${hex} ${PATTERN.offset} ${PATTERN.length}`, url], { timeoutMs: 30_000 });
  if (res.code !== 0 || /error|failed/i.test(res.stdout + res.stderr)) {
    throw new Error(`fuzz: writing the pattern with qemu-io failed: ${res.stdout}${res.stderr}`);
  }
}

/**
 * @param {string} url
 * @returns {Promise<string | null>} null if the pattern reads back, else what went wrong
 */
export async function checkPattern(url) {
  const hex = `0x${PATTERN.byte.toString(16)}`;
  const res = await run('qemu-io', ['-f', 'raw', '-r', '-c', `read -P ${hex} ${PATTERN.offset} ${PATTERN.length}`, url], { timeoutMs: 30_000 });
  const out = res.stdout + res.stderr;
  if (res.code !== 0 || /Pattern verification failed|error|failed/i.test(out)) return `qemu-io read -P ${hex}: exit ${res.code}: ${out.trim().slice(0, 300)}`;
  return null;
}
