// bootstrap.mjs says what it does on a first run (issue 13 item 7: the first
// `npm start` printed nothing for about a minute) and is quiet once
// everything is in place. Run on a scratch copy of the repository layout
// with a stand-in pnpm (the real install and build are not repeated here).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
const pnpmVersion = /pnpm@(\d+\.\d+\.\d+)/.exec(readFileSync(path.join(repo, 'package.json'), 'utf8'))![1]!;

// A pnpm that "installs" by creating node_modules/.modules.yaml and "builds" by creating apps/target/dist/main.js.
const FAKE_PNPM = `const fs = require('node:fs');
const args = process.argv.slice(2);
if (args[0] === 'install') { fs.mkdirSync('node_modules', { recursive: true }); fs.writeFileSync('node_modules/.modules.yaml', ''); }
if (args[0] === 'run' && args[1] === 'build') { fs.mkdirSync('apps/target/dist', { recursive: true }); fs.writeFileSync('apps/target/dist/main.js', ''); }
`;

describe('bootstrap', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'iscsi-bootstrap-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('announces installing and the first build, then is quiet', () => {
    mkdirSync(path.join(root, 'tools', 'scripts'), { recursive: true });
    copyFileSync(path.join(repo, 'tools', 'scripts', 'bootstrap.mjs'), path.join(root, 'tools', 'scripts', 'bootstrap.mjs'));
    writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'scratch', private: true, packageManager: `pnpm@${pnpmVersion}` }));
    writeFileSync(path.join(root, 'pnpm-lock.yaml'), "lockfileVersion: '9.0'\n");
    const pnpmDir = path.join(root, '.tools', 'node_modules', 'pnpm');
    mkdirSync(path.join(pnpmDir, 'bin'), { recursive: true });
    writeFileSync(path.join(pnpmDir, 'package.json'), JSON.stringify({ name: 'pnpm', version: pnpmVersion }));
    writeFileSync(path.join(pnpmDir, 'bin', 'pnpm.cjs'), FAKE_PNPM);

    const run = () => spawnSync(process.execPath, [path.join(root, 'tools', 'scripts', 'bootstrap.mjs')], { cwd: root, encoding: 'utf8' });
    const first = run();
    expect(first.status, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/^bootstrap: installing dependencies \(pnpm install --frozen-lockfile\) \(about a minute on a first run\)\.\.\.$/m);
    expect(first.stderr).toMatch(/^bootstrap: installing dependencies \(pnpm install --frozen-lockfile\): done in [\d.]+ s$/m);
    expect(first.stderr).toMatch(/^bootstrap: building \(turbo\) \(first build\)\.\.\.$/m);
    const second = run();
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).toBe('');
  });
});
