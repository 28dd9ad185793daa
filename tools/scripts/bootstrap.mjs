#!/usr/bin/env node
// Makes a checkout ready to run on a machine that has only Node 20 and npm.
//
// What this does, in order, each step only when needed:
//   1. installs the pinned pnpm (package.json "packageManager") into .tools/
//      with npm;
//   2. `pnpm install --frozen-lockfile` when node_modules is missing or older
//      than pnpm-lock.yaml;
//   3. with --test-deps: the Debian packages the end-to-end tests and the
//      conformance run use (libiscsi-bin qemu-utils qemu-block-extra tgt) —
//      installed with apt-get when running as root, otherwise it lists which
//      tests will be reported as skipped;
//   4. `pnpm build` (turbo, cached: a no-op when nothing changed).
// Says on stderr what it is doing when a step does real work (installing
// pnpm, installing the dependencies, Debian packages, the first build: the
// first `npm start` used to be silent for about a minute), and how long it
// took; quiet when everything is in place. On failure it prints the failing
// command's output and exits non-zero.
// What it does NOT do: it never changes package.json or the lockfile, never
// uses a global pnpm, and never runs tests.
//
// usage: node tools/scripts/bootstrap.mjs [--test-deps] [--no-build] [--verbose]
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const argv = new Set(process.argv.slice(2));
const verbose = argv.has('--verbose');

/** Debian packages for the e2e tests, with what is lost without them. */
const TEST_PACKAGES = [
  { pkg: 'libiscsi-bin', probe: () => have('iscsi-inq') && have('iscsi-test-cu'), loses: 'e2e discovery, inquiry, perf-smoke; the conformance run (iscsi-test-cu)' },
  { pkg: 'qemu-utils', probe: () => have('qemu-img'), loses: 'e2e qemu-roundtrip' },
  { pkg: 'qemu-block-extra', probe: () => debInstalled('qemu-block-extra'), loses: 'e2e qemu-roundtrip (QEMU iscsi:// block driver)' },
  { pkg: 'tgt', probe: () => have('tgtd'), loses: 'the tgtd comparison of `npm run bench -- --peer tgtd` (no test is skipped)' },
];

class StepError extends Error {
  /** @param {string} message @param {string} output */
  constructor(message, output) {
    super(message);
    this.name = 'StepError';
    this.code = 'BOOTSTRAP_STEP_FAILED';
    this.output = output;
  }
}

function have(cmd) {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .some((d) => {
      try {
        return (statSync(path.join(d, cmd)).mode & 0o111) !== 0;
      } catch {
        return false;
      }
    });
}

function debInstalled(pkg) {
  if (!have('dpkg-query')) return false;
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

/** Runs a command; output is captured (shown only on failure) unless --verbose. */
function step(what, cmd, args, opts = {}) {
  const started = Date.now();
  if (verbose) console.error(`bootstrap: ${what}: ${cmd} ${args.join(' ')}`);
  else if (opts.announce) console.error(`bootstrap: ${what}${opts.announce === true ? '' : ` (${opts.announce})`}...`);
  const r = spawnSync(cmd, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: verbose ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PATH: `${shimDir}${path.delimiter}${process.env.PATH ?? ''}`,
      TURBO_TELEMETRY_DISABLED: '1',
      DO_NOT_TRACK: '1',
      ...(opts.env ?? {}),
    },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw new StepError(`${what}: cannot run ${cmd}: ${r.error.message}`, '');
  if (r.status !== 0) {
    throw new StepError(`${what} failed (${cmd} ${args.join(' ')} exited ${r.status ?? r.signal})`, `${r.stdout ?? ''}${r.stderr ?? ''}`);
  }
  if (opts.announce && !verbose) console.error(`bootstrap: ${what}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function pinnedPnpmVersion() {
  const pm = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).packageManager ?? '';
  const m = /^pnpm@(\d+\.\d+\.\d+)/.exec(pm);
  if (!m?.[1]) throw new StepError(`package.json "packageManager" does not pin pnpm (found "${pm}")`, '');
  return m[1];
}

/** Path of the pnpm entry point in .tools (run with node: .bin links are not relied upon). */
const pnpmCjs = path.join(root, '.tools', 'node_modules', 'pnpm', 'bin', 'pnpm.cjs');
/**
 * A directory holding a `pnpm` shim, put first on PATH for every step: turbo
 * looks the package manager up on PATH, and npm does not always create
 * .tools/node_modules/.bin links.
 */
const shimDir = path.join(root, '.tools', 'bin');

function ensurePnpmShim() {
  const shim = path.join(shimDir, 'pnpm');
  const body = `#!/bin/sh\nexec "${process.execPath}" "${pnpmCjs}" "$@"\n`;
  let current = '';
  try {
    current = readFileSync(shim, 'utf8');
  } catch {
    /* missing */
  }
  if (current === body) return;
  mkdirSync(shimDir, { recursive: true });
  writeFileSync(shim, body, { mode: 0o755 });
  chmodSync(shim, 0o755);
}

function ensurePnpm() {
  const version = pinnedPnpmVersion();
  let installed = '';
  try {
    installed = JSON.parse(readFileSync(path.join(root, '.tools', 'node_modules', 'pnpm', 'package.json'), 'utf8')).version;
  } catch {
    /* not installed */
  }
  if (installed === version && existsSync(pnpmCjs)) return;
  mkdirSync(path.join(root, '.tools'), { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  step(
    `installing pnpm ${version} into .tools/`,
    npm,
    ['install', '--prefix', '.tools', '--no-audit', '--no-fund', '--loglevel=error', '--save-exact', `pnpm@${version}`],
    { announce: 'first run only' },
  );
}

function pnpm(what, args, announce) {
  step(what, process.execPath, [pnpmCjs, ...args], { announce });
}

function mtime(p) {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return -1;
  }
}

function ensureInstall() {
  const stamp = path.join(root, 'node_modules', '.bootstrap-installed');
  const lock = path.join(root, 'pnpm-lock.yaml');
  const installedAt = existsSync(stamp) ? mtime(stamp) : mtime(path.join(root, 'node_modules', '.modules.yaml'));
  if (installedAt >= 0 && installedAt >= mtime(lock)) return;
  pnpm('installing dependencies (pnpm install --frozen-lockfile)', ['install', '--frozen-lockfile', '--reporter=append-only'], 'about a minute on a first run');
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}

function ensureBuild() {
  // Announced when the daemon was never built (a first run); a cached rebuild is quiet.
  const first = !existsSync(path.join(root, 'apps', 'target', 'dist', 'main.js'));
  pnpm('building (turbo)', ['run', 'build', '--output-logs=errors-only'], first ? 'first build' : undefined);
}

function ensureTestDeps() {
  const missing = TEST_PACKAGES.filter((p) => !p.probe());
  if (missing.length === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && have('apt-get')) {
    const names = missing.map((p) => p.pkg);
    console.error(`bootstrap: installing Debian packages: ${names.join(' ')}`);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    step('apt-get update', 'apt-get', ['update', '-q'], { env, announce: true });
    step('apt-get install', 'apt-get', ['install', '-y', '-q', '--no-install-recommends', ...names], { env, announce: true });
    const still = missing.filter((p) => !p.probe());
    if (still.length === 0) return;
    missing.splice(0, missing.length, ...still);
  }
  console.error('bootstrap: missing Debian packages; these will be reported as skipped:');
  for (const p of missing) console.error(`  ${p.pkg.padEnd(17)} ${p.loses}`);
  console.error(`  (install them with: sudo apt-get install ${missing.map((p) => p.pkg).join(' ')})`);
}

try {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) throw new StepError(`Node ${process.versions.node} is too old: Node 20 or newer is required`, '');
  ensurePnpm();
  ensurePnpmShim();
  ensureInstall();
  if (argv.has('--test-deps')) ensureTestDeps();
  if (!argv.has('--no-build')) ensureBuild();
} catch (e) {
  if (e instanceof StepError) {
    if (e.output) process.stderr.write(`${e.output.trimEnd()}\n`);
    console.error(`bootstrap: ${e.message}`);
    process.exit(1);
  }
  throw e;
}
