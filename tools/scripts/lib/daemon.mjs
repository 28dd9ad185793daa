// Starting and stopping the project's daemon from repository scripts
// (conformance, benchmarks, run-tests).
//
// What this does: spawns `node apps/target/bin/iscsi-target.js -l HOST:PORT
// -d DATADIR [args]` on a free port with a fresh temporary data directory,
// waits until the portal accepts connections, keeps its output, and stops it
// with SIGTERM (SIGKILL after a grace period), removing the temporary data
// directory it created.
// What it does NOT do: it does not build the daemon (see bootstrap.mjs) and
// does not speak iSCSI. The vitest twin is tools/test-utils/src/target.ts.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuSeconds, freePort, waitForPort } from './proc.mjs';

/** Repository root (two levels above tools/scripts/lib). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The daemon's command-line entry point. */
export const daemonBin = path.join(repoRoot, 'apps', 'target', 'bin', 'iscsi-target.js');
/** Target name the daemon serves when started without `-f`. */
export const DEFAULT_IQN = 'iqn.2026-11.org.nodejs-iscsi:target0';

/**
 * @typedef {object} Daemon
 * @property {string} host
 * @property {number} port
 * @property {string} iqn
 * @property {number} pid
 * @property {string} dataDir
 * @property {(lun?: number) => string} url  iscsi://host:port/iqn/lun
 * @property {() => string} output  everything the daemon wrote so far (stdout + stderr)
 * @property {() => boolean} alive
 * @property {() => number | null} exitCode  null while running
 * @property {() => number} cpuSeconds  user+system CPU seconds so far
 * @property {(timeoutMs?: number) => Promise<number | null>} stop  SIGTERM; resolves to the exit code (null if it had to be killed)
 */

/**
 * Starts the daemon with its embedded default configuration.
 * @param {{ args?: string[], dataDir?: string, host?: string, port?: number, readyTimeoutMs?: number, logLevel?: string }} [opts]
 *   `dataDir`: used as is and kept; otherwise a temporary one is created and removed by `stop()`.
 * @returns {Promise<Daemon>}
 */
export async function startDaemon(opts = {}) {
  if (!existsSync(daemonBin)) {
    throw new Error(`${path.relative(repoRoot, daemonBin)} does not exist: the daemon is not built (run \`pnpm build\`)`);
  }
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const ownDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'iscsi-target-data-'));
  const args = [daemonBin, '-l', `${host}:${port}`, '-d', dataDir, '--log-level', opts.logLevel ?? 'info', ...(opts.args ?? [])];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks = [];
  child.stdout.on('data', (b) => chunks.push(b));
  child.stderr.on('data', (b) => chunks.push(b));
  /** @type {number | null} */
  let code = null;
  let exited = false;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (c) => {
      exited = true;
      code = c;
      resolve(c);
    });
  });
  const output = () => Buffer.concat(chunks).toString('utf8');
  const cleanup = () => {
    if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitForPort(host, port, { timeoutMs: opts.readyTimeoutMs ?? 20_000, isAlive: () => !exited });
  } catch (e) {
    child.kill('SIGKILL');
    await exitPromise;
    cleanup();
    throw new Error(`daemon did not start: ${/** @type {Error} */ (e).message}\n--- daemon output ---\n${output()}`);
  }
  const pid = /** @type {number} */ (child.pid);
  return {
    host,
    port,
    iqn: DEFAULT_IQN,
    pid,
    dataDir,
    url: (lun = 0) => `iscsi://${host}:${port}/${DEFAULT_IQN}/${lun}`,
    output,
    alive: () => !exited,
    exitCode: () => code,
    cpuSeconds: () => cpuSeconds(pid),
    async stop(timeoutMs = 10_000) {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        await exitPromise;
        clearTimeout(t);
      }
      cleanup();
      return code;
    },
  };
}
