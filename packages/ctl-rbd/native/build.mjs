#!/usr/bin/env node
/**
 * Builds the optional librbd binding (ctl_rbd_native.node) with node-gyp,
 * against the local Node headers and Debian's librbd-dev / librados-dev.
 *
 * It NEVER fails the package build: when the platform is not Linux, the
 * librbd headers, node-gyp or the Node headers are missing, or the compiler
 * fails, it prints one warning and exits 0; backend `rbd` then reports
 * itself unavailable (`--check`) and its tests skip. Set CTL_RBD_NATIVE=0 to skip
 * the build on purpose. Skips the compile when the addon is newer than its
 * sources.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const output = join(here, 'build', 'Release', 'ctl_rbd_native.node');
const sources = [join(here, 'ctl_rbd_native.c'), join(here, 'binding.gyp')];

function skip(why) {
  console.warn(`ctl-rbd: librbd binding not built (${why}); backend rbd will be reported unavailable`);
  process.exit(0);
}

if (process.env.CTL_RBD_NATIVE === '0') skip('CTL_RBD_NATIVE=0');
if (process.platform !== 'linux') skip(`platform ${process.platform}`);
if (!existsSync('/usr/include/rbd/librbd.h') || !existsSync('/usr/include/rados/librados.h')) {
  skip('librbd-dev / librados-dev headers not installed');
}
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
