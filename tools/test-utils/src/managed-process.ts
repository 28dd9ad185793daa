/**
 * A long-running child process owned by a test (the daemon, tgtd), with its
 * output kept and a guarantee that it does not outlive the test worker.
 *
 * What this module does: spawns the process with piped stdout/stderr, keeps
 * every byte it writes, tracks its exit, stops it with a signal and a SIGKILL
 * deadline, and — as a safety net for tests that forget `stop()` or crash —
 * SIGKILLs every still-running child and removes registered temporary
 * directories when the worker process exits.
 * What it does not do: it does not decide when the process is "ready" (see
 * target.ts) and does not parse its output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/** How a managed process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const liveChildren = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of liveChildren) c.kill('SIGKILL');
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  });
}

/** Registers a temporary directory for removal when the worker exits (if nothing removed it before). */
export function removeOnExit(dir: string): void {
  installExitHook();
  tempDirs.add(dir);
}

/** Removes a directory now and forgets it. */
export function removeNow(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** A spawned child process whose output is collected. */
export class ManagedProcess {
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  #child: ChildProcess;
  #stdout: Buffer[] = [];
  #stderr: Buffer[] = [];
  #status: ExitStatus | undefined;

  constructor(cmd: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    installExitHook();
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.env !== undefined ? { env: options.env } : {}),
    });
    this.#child = child;
    liveChildren.add(child);
    child.stdout?.on('data', (b: Buffer) => this.#stdout.push(b));
    child.stderr?.on('data', (b: Buffer) => this.#stderr.push(b));
    this.exited = new Promise((resolve) => {
      let spawnError: Error | undefined;
      child.once('error', (e) => {
        spawnError = e;
        this.#stderr.push(Buffer.from(`spawn error: ${e.message}\n`));
      });
      child.once('close', (code, signal) => {
        liveChildren.delete(child);
        this.#status = { code: spawnError && code === null ? -1 : code, signal };
        resolve(this.#status);
      });
    });
    this.pid = child.pid ?? -1;
  }

  /** Everything written to stdout so far. */
  stdout(): string {
    return Buffer.concat(this.#stdout).toString('utf8');
  }

  /** Everything written to stderr so far. */
  stderr(): string {
    return Buffer.concat(this.#stderr).toString('utf8');
  }

  /** The exit status, or undefined while running. */
  status(): ExitStatus | undefined {
    return this.#status;
  }

  /** True until the process has exited. */
  alive(): boolean {
    return this.#status === undefined;
  }

  /** Sends a signal (no-op once exited). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.#status === undefined) this.#child.kill(signal);
  }

  /**
   * Sends `signal` and waits for the exit; SIGKILLs after `timeoutMs`.
   * @returns the exit status; `killed` is true if SIGKILL was needed.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitStatus & { killed: boolean }> {
    if (this.#status !== undefined) return { ...this.#status, killed: false };
    let killed = false;
    this.#child.kill(signal);
    const t = setTimeout(() => {
      killed = true;
      this.#child.kill('SIGKILL');
    }, timeoutMs);
    const st = await this.exited;
    clearTimeout(t);
    return { ...st, killed };
  }
}
