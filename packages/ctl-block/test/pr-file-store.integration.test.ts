// FilePrStore: the durable, atomic persistent reservation file (APTPL).
// The crash test runs the built store (dist/, `pnpm build` first) in a child
// process that saves continuously and is killed with SIGKILL at a random
// moment: the file must then hold one complete snapshot, old or new.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validatePrSnapshot, type PrSnapshot } from '@iscsi-target/ctl-core';
import { FilePrStore } from '../src/index.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-block-pr-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A snapshot whose every key is derived from its generation, so a mix of two is detectable. */
function snapshot(gen: number, count: number): PrSnapshot {
  const registrations = [];
  for (let i = 0; i < count; i++) {
    registrations.push({
      initiator: `iqn.2026-11.org.example:host${i},i,0x80000000000${i % 10}`,
      port: 'iqn.2026-11.org.example:disk0,t,0x0001',
      key: ((BigInt(gen) << 16n) | BigInt(i + 1)).toString(16).padStart(16, '0'),
    });
  }
  return { version: 1, generation: gen, registrations, reservation: { holder: registrations[0]!, type: 1, scope: 0 } };
}

function consistent(s: PrSnapshot): boolean {
  return s.registrations.every((r, i) => BigInt(`0x${r.key}`) === ((BigInt(s.generation) << 16n) | BigInt(i + 1)));
}

describe('FilePrStore', () => {
  it('round-trips a snapshot; load() is null when nothing was saved; save(null) removes the file', async () => {
    const file = path.join(dir, 'lun0.img.pr.json');
    const store = new FilePrStore(file);
    expect(store.load()).toBeNull();
    const s = snapshot(7, 3);
    await store.save(s);
    expect(new FilePrStore(file).load()).toEqual(s);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    await store.save(null);
    expect(fs.existsSync(file)).toBe(false);
    expect(store.load()).toBeNull();
    await store.save(null); // nothing to remove: still fine
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a failed save rejects, leaves the previous file intact and no temporary file', async () => {
    const file = path.join(dir, 'pr.json');
    const store = new FilePrStore(file);
    await store.save(snapshot(1, 2));
    // Make the rename fail: a non-empty directory cannot be replaced by a file.
    const blocker = path.join(dir, 'sub');
    fs.mkdirSync(blocker);
    fs.writeFileSync(path.join(blocker, 'x'), 'x');
    const bad = new FilePrStore(blocker);
    await expect(bad.save(snapshot(2, 2))).rejects.toThrow();
    expect(fs.readdirSync(dir).sort()).toEqual(['pr.json', 'sub']);
    expect(store.load()).toEqual(snapshot(1, 2));
  });

  it('load() removes temporary files left by an interrupted save and rejects a non-JSON file', () => {
    const file = path.join(dir, 'pr.json');
    fs.writeFileSync(`${file}.tmp-123-4`, '{"version":1,"gen');
    fs.writeFileSync(path.join(dir, 'other.tmp-1'), 'keep');
    expect(new FilePrStore(file).load()).toBeNull();
    expect(fs.readdirSync(dir)).toEqual(['other.tmp-1']);
    fs.writeFileSync(file, 'garbage');
    expect(() => new FilePrStore(file).load()).toThrow(SyntaxError);
  });

  it('SIGKILL during continuous saves leaves one complete snapshot, old or new', async () => {
    const dist = fileURLToPath(new URL('../dist/pr-file-store.js', import.meta.url));
    expect(fs.existsSync(dist), 'build ctl-block first (pnpm build)').toBe(true);
    const file = path.join(dir, 'crash.pr.json');
    const child = path.join(dir, 'child.mjs');
    fs.writeFileSync(
      child,
      `import { FilePrStore } from ${JSON.stringify(dist)};
const store = new FilePrStore(process.argv[2]);
${snapshot.toString()}
for (let g = 1; ; g++) {
  await store.save(snapshot(g, 400));
  if (g === 1) process.stdout.write('saved\\n');
}
`,
    );
    let lastGen = 0;
    for (let round = 0; round < 6; round++) {
      const p = spawn(process.execPath, [child, file], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        p.stdout.once('data', () => resolve());
        p.once('exit', (code) => reject(new Error(`child exited early (${String(code)})`)));
      });
      await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 40)));
      p.kill('SIGKILL');
      await new Promise((r) => p.once('exit', r));
      const loaded = new FilePrStore(file).load();
      expect(loaded).not.toBeNull();
      const v = validatePrSnapshot(loaded);
      expect(typeof v).not.toBe('string');
      const s = v as PrSnapshot;
      expect(s.registrations.length).toBe(400);
      expect(consistent(s)).toBe(true);
      expect(s.generation).toBeGreaterThanOrEqual(1);
      lastGen = Math.max(lastGen, s.generation);
      expect(fs.readdirSync(dir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    }
    // The child really was saving repeatedly when killed (not just once).
    expect(lastGen).toBeGreaterThan(1);
  }, 60_000);
});
