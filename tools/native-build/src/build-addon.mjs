/**
 * Builds one optional N-API addon with node-gyp against the local Node
 * headers — the build step every addon package of this project shares
 * (ctl-block's hole-punching helper, the io_uring engine, the librbd binding).
 *
 * What it does: `buildAddon(spec)` returns without compiling when the addon
 * is newer than its sources; otherwise it finds node-gyp (the one npm/pnpm
 * point to, a local install, or the copy bundled with npm), runs
 * `node-gyp rebuild` in the addon's directory and checks that the `.node`
 * file appeared. It NEVER fails the package build: when the platform is not
 * Linux, the package's switch is `0` (e.g. CTL_BLOCK_NATIVE=0), a
 * precondition is not met (headers of a system library), node-gyp or the
 * Node headers are missing, or the compiler fails, it prints one warning
 * naming the reason and what the package does without the addon, and the
 * process exits 0.
 *
 * What it does not do: load the addon (each package's `native.ts` does, and
 * reports why it is unavailable at run time), decide compiler flags
 * (`binding.gyp` of each addon), or download headers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

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

/** @param {import('./build-addon.d.mts').AddonSpec} spec */
export function buildAddon(spec) {
  const output = join(spec.dir, 'build', 'Release', `${spec.name}.node`);
  const sources = [...spec.sources, 'binding.gyp'].map((s) => join(spec.dir, s));
  const skip = (why) => {
    console.warn(`${spec.label} not built (${why}); ${spec.without}`);
    process.exit(0);
  };

  if (process.env[spec.switchEnv] === '0') skip(`${spec.switchEnv}=0`);
  if (process.platform !== 'linux') skip(`platform ${process.platform}`);
  for (const [file, what] of spec.requires ?? []) if (!existsSync(file)) skip(`${what} not installed (no ${file})`);
  if (existsSync(output)) {
    const built = statSync(output).mtimeMs;
    if (sources.every((s) => statSync(s).mtimeMs <= built)) return;
  }

  const nodeGyp = findNodeGyp();
  if (!nodeGyp) skip('node-gyp not found');
  const args = [nodeGyp, 'rebuild', `--directory=${spec.dir}`];
  // Use the headers installed with this Node (e.g. /usr/include/node): no download needed.
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0 || !existsSync(output)) {
    const tail = `${r.stderr ?? ''}${r.error ? String(r.error) : ''}`.trim().split('\n').slice(-5).join('\n');
    skip(`node-gyp failed${tail ? `:\n${tail}` : ''}`);
  }
}
