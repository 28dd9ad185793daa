// Process and socket helpers shared by the repository scripts (bootstrap,
// run-tests, conformance, benchmarks). Plain Node, no dependencies, so they run
// on a fresh machine before `pnpm install`.
//
// What this does: run a command with a timeout and capture its output, find a
// command on PATH, pick a free TCP port, wait until a port accepts
// connections, read a process's CPU time from /proc.
// What it does NOT do: nothing here knows about iSCSI or about the daemon; see
// daemon.mjs, tgtd.mjs and testcu.mjs for that. The TypeScript twin used by
// the vitest e2e tests is tools/test-utils/src (kept separate because Node 20
// cannot import TypeScript).
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/**
 * Runs `cmd args` and collects stdout/stderr as UTF-8 strings.
 * Never rejects for a non-zero exit: the caller inspects `code`.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ timeoutMs?: number, cwd?: string, env?: NodeJS.ProcessEnv, input?: string, killSignal?: NodeJS.Signals }} [opts]
 * @returns {Promise<{ code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string, timedOut: boolean, ms: number }>}
 */
export function run(cmd, args, opts = {}) {
  const { timeoutMs = 60_000, cwd, env, input, killSignal = 'SIGTERM' } = opts;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    let timedOut = false;
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => err.push(b));
    child.stdin.on('error', () => {});
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill(killSignal);
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        ms: Date.now() - started,
      });
    });
  });
}

/**
 * Whether `name` is an executable on PATH (or an executable path).
 * @param {string} name
 */
export function haveCommand(name) {
  const candidates = name.includes('/')
    ? [name]
    : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

/**
 * A TCP port that was free on `host` a moment ago (bind to port 0, read it, close).
 * @param {string} [host]
 * @returns {Promise<number>}
 */
export function freePort(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Tries one TCP connection; resolves true if it was accepted.
 * @param {string} host
 * @param {number} port
 * @param {number} [timeoutMs]
 */
export function canConnect(host, port, timeoutMs = 1_000) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok) => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Polls until `host:port` accepts a connection.
 * @param {string} host
 * @param {number} port
 * @param {{ timeoutMs?: number, isAlive?: () => boolean }} [opts] `isAlive`
 *   lets the caller stop waiting as soon as the server process has died.
 * @returns {Promise<void>} rejects on timeout or when `isAlive()` turns false.
 */
export async function waitForPort(host, port, opts = {}) {
  const { timeoutMs = 15_000, isAlive = () => true } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isAlive()) throw new Error(`process exited before ${host}:${port} accepted connections`);
    if (await canConnect(host, port, 500)) return;
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let clockTicks = 0;
/** Kernel clock ticks per second (USER_HZ), for /proc/<pid>/stat times. */
export function clockTicksPerSecond() {
  if (clockTicks === 0) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number.parseInt(r.stdout ?? '', 10);
    clockTicks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

/**
 * CPU time (user + system, all threads) a live process has used, in seconds,
 * from /proc/<pid>/stat fields 14 and 15. Linux only.
 * @param {number} pid
 */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / clockTicksPerSecond();
}

/** Whether a process with this pid exists (signal 0). */
export function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return /** @type {NodeJS.ErrnoException} */ (e).code === 'EPERM';
  }
}
