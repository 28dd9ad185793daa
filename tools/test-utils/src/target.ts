/**
 * Starting the daemon under test for an end-to-end test.
 *
 * What this module does: `startTarget()` spawns the BUILT daemon
 * (`node apps/target/bin/iscsi-target.js -l 127.0.0.1:<free port> -d <temp
 * dir> [args]`), waits until its portal accepts TCP connections, keeps its
 * output, and returns a handle to address it (`url(lun)`), watch it
 * (`alive()`, `cpuSeconds()`, `logs`) and stop it (`stop()`: SIGTERM, exit
 * code). The temporary data directory is removed by `stop()` (and, as a safety
 * net, when the test worker exits).
 *
 * Peer mode: with `ISCSI_E2E_PEER=tgtd` in the environment the same handle is
 * backed by Debian's tgtd (see tgtd.ts) so the e2e tests can be checked
 * against a reference target; tests of daemon-only behaviour skip themselves
 * with `describe.skipIf(e2ePeer() !== undefined)`.
 *
 * What it does not do: it does not build the daemon — e2e tests need
 * `pnpm build` first (bootstrap.mjs does it); a missing build is a start
 * error, never a skip.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TargetStartError } from './errors.js';
import { ManagedProcess, removeNow, removeOnExit, type ExitStatus } from './managed-process.js';
import { freePort, waitForPort } from './net.js';
import { cpuSeconds } from './process.js';
import { startTgtdPeer } from './tgtd.js';

/** Repository root. */
export const repoRoot: string = fileURLToPath(new URL('../../../', import.meta.url));
/** The daemon's command-line entry point (needs `pnpm build`). */
export const daemonBin: string = path.join(repoRoot, 'apps', 'target', 'bin', 'iscsi-target.js');
/** Target name of the daemon's embedded default configuration. */
export const DEFAULT_IQN = 'iqn.2026-11.org.nodejs-iscsi:target0';
/** Capacity of the default LUN 0 (a thin file `<datadir>/lun0.img`). */
export const DEFAULT_LUN_BYTES = 1024 * 1024 * 1024;
/** Block size of the default LUN 0. */
export const DEFAULT_BLOCK_SIZE = 512;

/** Which target implementation `startTarget()` runs. */
export type TargetKind = 'iscsi-target' | 'tgtd';

/**
 * The reference peer selected with `ISCSI_E2E_PEER` (only `tgtd` is known),
 * or undefined when the tests run against the project's daemon.
 */
export function e2ePeer(): 'tgtd' | undefined {
  const v = process.env['ISCSI_E2E_PEER'];
  if (v === undefined || v === '') return undefined;
  if (v === 'tgtd') return 'tgtd';
  throw new Error(`ISCSI_E2E_PEER=${v}: only "tgtd" is supported`);
}

/** Output of the target process. */
export interface TargetLogs {
  /** Standard output so far (the daemon logs JSON lines here). */
  stdout(): string;
  /** Standard error so far. */
  stderr(): string;
  /** stdout followed by stderr. */
  text(): string;
  /** stdout then stderr lines that parse as JSON objects (pino records; the daemon writes error and fatal ones to stderr). */
  json(): Record<string, unknown>[];
}

/** A running target, as returned by {@link startTarget}. */
export interface TargetHandle {
  readonly kind: TargetKind;
  readonly host: string;
  readonly port: number;
  /** Target name of the default target. */
  readonly iqn: string;
  readonly pid: number;
  /** The data directory passed with `-d`. */
  readonly dataDir: string;
  /** `iscsi://host:port/iqn/<lun>` for the default target's LUN `lun` (default 0). */
  url(lun?: number): string;
  /** `iscsi://host:port` (for discovery). */
  portalUrl(): string;
  /** The LUN number on the wire for our LUN `lun` (tgtd shifts by one: its LUN 0 is a controller). */
  wireLun(lun?: number): number;
  readonly logs: TargetLogs;
  /** True until the process exited. */
  alive(): boolean;
  /** Resolves when the process exited. */
  readonly exited: Promise<ExitStatus>;
  /** User + system CPU seconds the target used so far. */
  cpuSeconds(): number;
  /**
   * Stops the target (default SIGTERM), SIGKILL after `timeoutMs` (default 10 s).
   * Resolves to the exit code — null if it died from a signal or had to be killed.
   * Removes the temporary data directory. Safe to call twice.
   */
  stop(options?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<number | null>;
}

/** Options of {@link startTarget}. */
export interface StartTargetOptions {
  /** Extra daemon arguments, e.g. `['--copy']` or `['-f', file]`. */
  readonly args?: readonly string[];
  /** Data directory (`-d`), used as is and kept. Default: a fresh temporary directory, removed by `stop()`. */
  readonly dataDir?: string;
  /** Listen address. Default 127.0.0.1. */
  readonly host?: string;
  /** Listen port. Default: a free port. */
  readonly port?: number;
  /** `--log-level`. Default `info`. */
  readonly logLevel?: string;
  /** How long to wait for the portal. Default 20 s. */
  readonly readyTimeoutMs?: number;
  /**
   * Wait until the portal accepts connections (default true). Set false to
   * test start-up failures: the handle is returned right after spawning.
   */
  readonly waitReady?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

function makeLogs(p: ManagedProcess): TargetLogs {
  return {
    stdout: () => p.stdout(),
    stderr: () => p.stderr(),
    text: () => p.stdout() + p.stderr(),
    json: () => {
      const out: Record<string, unknown>[] = [];
      for (const line of `${p.stdout()}\n${p.stderr()}`.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const v: unknown = JSON.parse(line);
          if (typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(v as Record<string, unknown>);
        } catch {
          /* not JSON */
        }
      }
      return out;
    },
  };
}

/**
 * Starts the daemon (or the `ISCSI_E2E_PEER` reference target) with the
 * embedded default configuration on 127.0.0.1:<free port>.
 * Call `stop()` in `afterAll`.
 * @throws TargetStartError when the daemon is not built, exits early or does not listen in time.
 */
export async function startTarget(options: StartTargetOptions = {}): Promise<TargetHandle> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? (await freePort(host));
  const ownDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'iscsi-e2e-'));
  if (ownDataDir) removeOnExit(dataDir);
  const cleanup = (): void => {
    if (ownDataDir) removeNow(dataDir);
  };

  if (e2ePeer() === 'tgtd') {
    try {
      return await startTgtdPeer({ host, port, dataDir, iqn: DEFAULT_IQN, cleanup, makeLogs });
    } catch (e) {
      cleanup();
      throw e;
    }
  }

  if (!existsSync(daemonBin)) {
    cleanup();
    throw new TargetStartError(`${daemonBin} does not exist: build the daemon first (pnpm build)`, '');
  }
  const args = [daemonBin, '-l', `${host}:${port}`, '-d', dataDir, '--log-level', options.logLevel ?? 'info', ...(options.args ?? [])];
  const proc = new ManagedProcess(process.execPath, args, {
    cwd: repoRoot,
    ...(options.env !== undefined ? { env: options.env } : {}),
  });
  const logs = makeLogs(proc);
  if (options.waitReady !== false) {
    try {
      await waitForPort(host, port, { timeoutMs: options.readyTimeoutMs ?? 20_000, isAlive: () => proc.alive() });
    } catch (e) {
      await proc.stop('SIGKILL', 1_000);
      cleanup();
      throw new TargetStartError(`daemon did not start: ${(e as Error).message}`, logs.text());
    }
  }
  let stopped: Promise<number | null> | undefined;
  return {
    kind: 'iscsi-target',
    host,
    port,
    iqn: DEFAULT_IQN,
    pid: proc.pid,
    dataDir,
    url: (lun = 0) => `iscsi://${host}:${port}/${DEFAULT_IQN}/${lun}`,
    portalUrl: () => `iscsi://${host}:${port}`,
    wireLun: (lun = 0) => lun,
    logs,
    alive: () => proc.alive(),
    exited: proc.exited,
    cpuSeconds: () => cpuSeconds(proc.pid),
    stop(stopOptions = {}) {
      stopped ??= (async () => {
        const st = await proc.stop(stopOptions.signal ?? 'SIGTERM', stopOptions.timeoutMs ?? 10_000);
        cleanup();
        return st.killed ? null : st.code;
      })();
      return stopped;
    },
  };
}
