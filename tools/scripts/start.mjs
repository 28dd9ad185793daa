#!/usr/bin/env node
// `npm start`: bootstrap the checkout, then run the daemon in the foreground.
//
// What this does: runs bootstrap.mjs (which says what it does on a first
// run: installing pnpm, the dependencies, building), then spawns
// `apps/target/bin/iscsi-target.js` with this script's arguments
// (`npm start -- -f ctl.conf`), with the console attached. SIGINT, SIGTERM
// and SIGHUP sent to this process (or to `npm start`, which forwards
// SIGINT/SIGTERM to it) are passed on to the daemon, and this process exits
// with the daemon's status once it has exited — so `kill <pid of npm start>`
// stops the daemon gracefully instead of leaving it orphaned. A signal that
// arrives during bootstrap stops bootstrap and exits.
// `npm start` runs it with `exec` so that the shell npm starts is replaced
// and npm's own signal forwarding reaches this process; if the parent dies
// anyway (npm killed with SIGKILL), this process notices within 0.5 s and
// stops the daemon with SIGTERM.
// What it does NOT do: a SIGKILL of this process itself cannot be passed on;
// use the daemon's pidfile or a service manager for that
// (docs/iscsi-target.service).
//
// usage: node tools/scripts/start.mjs [daemon options]
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FORWARDED = /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP']);

/** @type {import('node:child_process').ChildProcess | null} */
let child = null;
for (const sig of FORWARDED) {
  process.on(sig, () => {
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill(sig);
  });
}

/**
 * Runs `node args` attached to the console; resolves with its exit status.
 * @param {string[]} args
 * @returns {Promise<{ code: number | null, signal: NodeJS.Signals | null }>}
 */
function runNode(args) {
  return new Promise((resolve) => {
    child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
    child.on('error', (e) => {
      process.stderr.write(`start: cannot run ${args[0]}: ${e.message}\n`);
      resolve({ code: 1, signal: null });
    });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

// If our parent dies without passing a signal on (`npm start` killed with SIGKILL), stop the daemon:
// an orphaned daemon would go on serving with nobody to stop it.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent && child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}, 500).unref();

const boot = await runNode([path.join(root, 'tools', 'scripts', 'bootstrap.mjs')]);
if (boot.code !== 0) process.exit(boot.code ?? 1);
const daemon = await runNode([path.join(root, 'apps', 'target', 'bin', 'iscsi-target.js'), ...process.argv.slice(2)]);
// Exit as the daemon did (a daemon killed by a signal: 128 + signal number, as a shell reports it).
const signals = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
process.exit(daemon.code ?? 128 + (daemon.signal !== null ? (signals[/** @type {keyof typeof signals} */ (daemon.signal)] ?? 0) : 0));
