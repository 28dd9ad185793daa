#!/usr/bin/env node
/**
 * Builds the optional native helper (ctl_block_native.node: hole punching
 * and SEEK_DATA/SEEK_HOLE) with node-gyp, against the local Node headers.
 *
 * It NEVER fails the package build: when the platform is not Linux, node-gyp
 * or the headers are missing, or the compiler fails, it prints one warning
 * and exits 0, and the file backend uses its fallback (UNMAP writes zeros;
 * GET LBA STATUS reports every block mapped). Set CTL_BLOCK_NATIVE=0 to skip
 * the build on purpose. Skips the compile when the addon is newer than its
 * sources.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const output = join(here, 'build', 'Release', 'ctl_block_native.node');
const sources = [join(here, 'ctl_block_native.c'), join(here, 'binding.gyp')];

function skip(why) {
  console.warn(`ctl-block: native helper not built (${why}); the file backend will zero-fill on UNMAP instead of punching holes`);
  process.exit(0);
}

if (process.env.CTL_BLOCK_NATIVE === '0') skip('CTL_BLOCK_NATIVE=0');
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
