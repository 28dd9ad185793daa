#!/usr/bin/env node
/**
 * A throw-away Ceph cluster for tests and benchmarks: 1 monitor, 1 manager and
 * 1 memstore OSD on 127.0.0.1, authentication off, pool size 1, started
 * without systemd or cephadm in a directory of its own (conf, data, logs,
 * admin sockets, pid files all under it), with free ports picked at start so
 * parallel runs do not collide.
 *
 * What it does: `startCluster({ dir })` writes `ceph.conf`, creates the
 * monitor (`ceph-mon --mkfs`), starts mon, OSD and mgr, creates pool `rbd`
 * (size 1) and initialises it for RBD, waits until the pool's PGs are active,
 * and returns `{ dir, conf, monAddr, pids, stop() }`. `stop()` kills exactly
 * the pids this run started (SIGTERM, then SIGKILL after a grace period) and
 * removes the directory unless `keep`. `cephAvailable()` says why a cluster
 * cannot be started here (binaries missing), or null.
 *
 * What it does not do: no authentication (auth none: never expose the ports),
 * no persistence (memstore: data lives in the OSD's memory and is gone when it
 * stops), no more than one OSD, no stopping of anything it did not start (never
 * kills by name).
 *
 * CLI: `node tools/ceph/cluster.mjs start DIR` (prints the conf path and pids
 * as JSON and leaves the cluster running), `node tools/ceph/cluster.mjs stop DIR`
 * (kills the pids recorded in DIR/*.pid, then removes DIR).
 */
import { spawn, spawnSync, execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BINARIES = ['ceph-mon', 'ceph-osd', 'ceph-mgr', 'ceph', 'rbd'];

/** null when the Ceph daemons and CLIs are installed; otherwise which are missing. */
export function cephAvailable() {
  const missing = BINARIES.filter((b) => spawnSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' }).status !== 0);
  return missing.length === 0 ? null : `Ceph binaries missing: ${missing.join(', ')} (apt-get install ceph-mon ceph-osd ceph-mgr ceph-common)`;
}

function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function run(cmd, args, { timeoutMs = 60_000 } = {}) {
  return new Promise((res, rej) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`.trim()));
      else res(stdout);
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills exactly `pids` (SIGTERM, then SIGKILL after `graceMs`); resolves when all are gone. */
export async function killPids(pids, graceMs = 5_000) {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(50);
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  while (pids.some(alive)) await sleep(20);
}

function confText(dir, fsid, monPort, osdPorts) {
  return `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
ms bind ipv6 = false
ms bind msgr2 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd objectstore = memstore
osd class update on start = false
osd crush update on start = false
memstore device bytes = ${2 * 1024 * 1024 * 1024}
mon allow pool delete = true
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
ms bind port min = ${osdPorts[0]}
ms bind port max = ${osdPorts[1]}
run dir = ${dir}/run
log file = ${dir}/log/$name.log
pid file = ${dir}/run/$name.pid
admin socket = ${dir}/run/$name.asok
mon data = ${dir}/mon/$cluster-$id
osd data = ${dir}/osd/$cluster-$id
mgr data = ${dir}/mgr/$cluster-$id
keyring = /dev/null
[mon.a]
public addr = v1:127.0.0.1:${monPort}
`;
}

/**
 * A free range of `n` consecutive ports for the OSD and mgr messengers
 * (Ceph binds inside [ms bind port min, max]). Probes a random base.
 */
async function freePortRange(n) {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let ok = true;
    for (let p = base; p < base + n && ok; p++) {
      ok = await new Promise((res) => {
        const s = net.createServer();
        s.once('error', () => res(false));
        s.listen(p, '0.0.0.0', () => s.close(() => res(true)));
      });
    }
    if (ok) return [base, base + n - 1];
  }
  throw new Error('no free port range for the Ceph daemons');
}

/**
 * Starts a cluster in `dir` (created; must not hold another running cluster).
 * Options: `dir` (default a fresh directory under the OS temp dir), `keep`
 * (stop() leaves the directory), `timeoutMs` for health (default 90 000).
 */
export async function startCluster(options = {}) {
  const why = cephAvailable();
  if (why) throw new Error(why);
  const dir = resolve(options.dir ?? join(process.env.TMPDIR ?? '/tmp', `ceph-${process.pid}-${randomUUID().slice(0, 8)}`));
  const timeoutMs = options.timeoutMs ?? 90_000;
  for (const d of ['run', 'log', 'mon', 'osd/ceph-0', 'mgr/ceph-x']) mkdirSync(join(dir, d), { recursive: true });
  const fsid = randomUUID();
  const monPort = await freePort();
  const osdPorts = await freePortRange(12);
  const conf = join(dir, 'ceph.conf');
  writeFileSync(conf, confText(dir, fsid, monPort, osdPorts));
  const pids = [];
  const cluster = {
    dir,
    conf,
    monAddr: `127.0.0.1:${monPort}`,
    pids,
    /** Runs the `ceph` CLI against this cluster; resolves its stdout. */
    ceph: (...args) => run('ceph', ['--conf', conf, ...args]),
    /** Runs the `rbd` CLI against this cluster; resolves its stdout. */
    rbd: (...args) => run('rbd', ['--conf', conf, ...args]),
    /** Kills exactly the daemons this run started, then removes `dir` unless `keep`. */
    async stop() {
      await killPids(pids.splice(0));
      if (!options.keep) rmSync(dir, { recursive: true, force: true });
    },
  };
  /** Starts a daemon in the foreground (-f) as our child; we hold its pid. */
  const daemon = (bin, id) => {
    const child = spawn(bin, ['--conf', conf, '--id', id, '-f'], { stdio: 'ignore', detached: true });
    child.unref();
    if (!child.pid) throw new Error(`${bin} did not start`);
    pids.push(child.pid);
    writeFileSync(join(dir, 'run', `${bin}.${id}.pid`), `${child.pid}\n`);
    return child.pid;
  };
  try {
    // An explicit monmap: the monitor binds the port we picked, not 6789/3300.
    const monmap = join(dir, 'monmap');
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v1:127.0.0.1:${monPort}]`, monmap]);
    await run('ceph-mon', ['--conf', conf, '--id', 'a', '--mkfs', '--monmap', monmap, '--keyring', '/dev/null']);
    daemon('ceph-mon', 'a');
    await waitFor(async () => {
      await cluster.ceph('--connect-timeout', '3', 'mon', 'stat');
      return true;
    }, timeoutMs, 'the monitor');
    const osdId = (await cluster.ceph('osd', 'create')).trim();
    if (osdId !== '0') throw new Error(`expected osd id 0, got ${osdId}`);
    await cluster.ceph('osd', 'crush', 'add', 'osd.0', '1', 'root=default');
    await run('ceph-osd', ['--conf', conf, '--id', '0', '--mkfs']);
    daemon('ceph-osd', '0');
    daemon('ceph-mgr', 'x');
    await cluster.ceph('osd', 'pool', 'create', 'rbd', '8');
    await cluster.ceph('osd', 'pool', 'set', 'rbd', 'size', '1', '--yes-i-really-mean-it');
    await waitFor(async () => {
      const st = JSON.parse(await run('ceph', ['--conf', conf, '--connect-timeout', '5', 'pg', 'stat', '--format', 'json'], { timeoutMs: 10_000 }));
      const summary = st.pg_summary ?? st;
      const total = summary.num_pgs ?? 0;
      const active = (summary.num_pg_by_state ?? []).filter((s) => /active/.test(s.name)).reduce((a, s) => a + s.num, 0);
      return total > 0 && active === total;
    }, timeoutMs, 'the pool PGs to become active');
    await cluster.rbd('pool', 'init', 'rbd');
    return cluster;
  } catch (e) {
    const logs = tailLogs(dir);
    await cluster.stop();
    throw new Error(`${e.message}${logs ? `\n--- logs ---\n${logs}` : ''}`, { cause: e });
  }
}

async function waitFor(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      if (await fn()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(250);
  }
}

function tailLogs(dir) {
  const logDir = join(dir, 'log');
  if (!existsSync(logDir)) return '';
  return readdirSync(logDir)
    .map((f) => `${f}:\n${readFileSync(join(logDir, f), 'utf8').split('\n').slice(-8).join('\n')}`)
    .join('\n');
}

/** Kills the pids recorded in `dir/run/*.pid` by a CLI `start`, then removes `dir`. */
export async function stopClusterDir(dir) {
  const runDir = join(resolve(dir), 'run');
  const pids = existsSync(runDir)
    ? readdirSync(runDir)
        .filter((f) => /^ceph-(mon|osd|mgr)\.[^.]+\.pid$/.test(f))
        .map((f) => Number(readFileSync(join(runDir, f), 'utf8').trim()))
        .filter((p) => Number.isInteger(p) && p > 0)
    : [];
  await killPids(pids);
  rmSync(resolve(dir), { recursive: true, force: true });
  return pids;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, dir] = process.argv.slice(2);
  if (cmd === 'start') {
    const t0 = Date.now();
    const c = await startCluster({ dir, keep: true });
    console.log(JSON.stringify({ dir: c.dir, conf: c.conf, monAddr: c.monAddr, pids: c.pids, seconds: (Date.now() - t0) / 1000 }));
  } else if (cmd === 'stop' && dir) {
    console.log(JSON.stringify({ killed: await stopClusterDir(dir) }));
  } else {
    console.error('usage: cluster.mjs start [DIR] | stop DIR');
    process.exit(2);
  }
}
