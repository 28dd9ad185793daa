/**
 * Running external commands from tests (libiscsi tools, qemu-img, tgtadm).
 *
 * What this module does: `run()` spawns a command without a shell, collects
 * its output and enforces a timeout; `haveCommand()` looks a command up on
 * PATH (for `describe.skipIf`); `cpuSeconds()`/`pidAlive()` read a process's
 * state from /proc.
 * What it does not do: it never throws for a non-zero exit status — tests
 * assert on `code` themselves so the failure message shows stdout/stderr.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import path from 'node:path';

/** Result of {@link run}. */
export interface RunResult {
  /** Exit status, or null when the process was killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** True when `timeoutMs` elapsed and the process was killed. */
  readonly timedOut: boolean;
  /** Wall-clock duration in milliseconds. */
  readonly ms: number;
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Kill the process after this many milliseconds (SIGTERM, then SIGKILL 5 s later). Default 60 000. */
  readonly timeoutMs?: number;
  /** Signal sent when the timeout fires. Default SIGTERM. */
  readonly killSignal?: NodeJS.Signals;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed. */
  readonly input?: string | Buffer;
  /** Called once the process is spawned (e.g. to kill it early). */
  readonly onSpawn?: (pid: number, kill: (signal?: NodeJS.Signals) => void) => void;
}

/**
 * Runs `cmd` with `args` (no shell) and resolves with its exit status and
 * UTF-8 output. Rejects only if the command cannot be spawned at all.
 */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { timeoutMs = 60_000, killSignal = 'SIGTERM' } = options;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {});
    child.stdin.end(options.input);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill(killSignal);
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (child.pid !== undefined && options.onSpawn) {
      options.onSpawn(child.pid, (signal: NodeJS.Signals = 'SIGTERM') => child.kill(signal));
    }
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

/** Whether `name` is an executable file on PATH (or, if it contains a slash, at that path). */
export function haveCommand(name: string): boolean {
  const candidates = name.includes('/')
    ? [name]
    : (process.env['PATH'] ?? '')
        .split(path.delimiter)
        .filter(Boolean)
        .map((d) => path.join(d, name));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

let clockTicks = 0;
function clockTicksPerSecond(): number {
  if (clockTicks === 0) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number.parseInt(r.stdout ?? '', 10);
    clockTicks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

/**
 * User + system CPU seconds used so far by a live process and all its
 * threads, from `/proc/<pid>/stat` (fields 14 and 15). Linux only.
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may contain spaces or parentheses: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return (utime + stime) / clockTicksPerSecond();
}

/** Whether a process with this pid exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: signal 0 succeeded
  }
}
