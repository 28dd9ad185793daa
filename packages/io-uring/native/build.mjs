#!/usr/bin/env node
/**
 * Builds the optional io_uring addon (io_uring_native.node, liburing linked
 * statically from liburing-dev's liburing.a) with node-gyp, against the
 * local Node headers.
 *
 * It NEVER fails the package build: when the platform is not Linux, node-gyp,
 * the headers or liburing-dev are missing, or the compiler fails, it prints
 * one warning and exits 0; `available()` then says "addon not built" and the
 * target uses the `tcp` NIC driver and the thread pool. Set IO_URING_NATIVE=0
 * to skip the build on purpose. Skips the compile when the addon is newer than its
 * sources.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const output = join(here, 'build', 'Release', 'io_uring_native.node');
const sources = [join(here, 'io_uring_native.c'), join(here, 'binding.gyp')];

function skip(why) {
  console.warn(`io-uring: native addon not built (${why}); the tcp NIC driver and the libuv thread pool will be used instead`);
  process.exit(0);
}

if (process.env.IO_URING_NATIVE === '0') skip('IO_URING_NATIVE=0');
if (process.platform !== 'linux') skip(`platform ${process.platform}`);
if (existsSync(output)) {
  const built = statSync(output).mtimeMs;
  if (sources.every((s) => statSync(s).mtimeMs <= built)) process.exit(0);
}

/** node-gyp: the one npm/pnpm point to, a local install, or the copy bundled with npm. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  const prefix = dirname(dirname(process.execPath));
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => c && existsSync(c));
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) skip('node-gyp not found');
const args = [nodeGyp, 'rebuild', `--directory=${here}`];
// Use the headers installed with this Node (e.g. /usr/include/node): no download needed.
const prefix = dirname(dirname(process.execPath));
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 180_000 });
if (r.status !== 0 || !existsSync(output)) {
  const tail = `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim().split('\n').slice(-5).join('\n');
  skip(`node-gyp failed${tail ? `:\n${tail}` : ''}`);
}
