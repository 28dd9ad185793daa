// Backing-store locks: a conflicting flock held on another open file
// description (as another process would hold it) makes acquire and open
// fail; shared locks coexist; holders in this process share one lock, which
// ends with the last release.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireBackingLock, backingLockUnavailable, BackingLockedError, FileBackend, probeBackingLock } from '../src/index.js';

const unavailable = backingLockUnavailable();
const native = unavailable === null ? (createRequire(import.meta.url)('../native/build/Release/ctl_block_native.node') as { flock(fd: number, mode: number): boolean }) : null;

describe.skipIf(unavailable !== null)(`backing-store locks${unavailable !== null ? ` (skipped: ${unavailable})` : ''}`, () => {
  let dir: string;
  let file: string;
  let st: fs.Stats;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-block-lock-'));
    file = path.join(dir, 'd.img');
    fs.writeFileSync(file, Buffer.alloc(64 * 1024));
    st = fs.statSync(file);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Holds a lock on its own descriptor, as another process would. */
  function foreign(mode: 1 | 2): () => void {
    const fd = fs.openSync(file, 'r');
    expect(native!.flock(fd, mode)).toBe(true);
    return () => fs.closeSync(fd);
  }

  it('an exclusive lock elsewhere refuses both modes, with a clear message', async () => {
    const drop = foreign(2);
    try {
      expect(() => acquireBackingLock(file, st.dev, st.ino, 'exclusive')).toThrow(BackingLockedError);
      expect(() => acquireBackingLock(file, st.dev, st.ino, 'exclusive')).toThrow(/is in use by (process \d+|another process) \(it holds a lock on it\)/);
      expect(() => acquireBackingLock(file, st.dev, st.ino, 'shared')).toThrow(/can be shared only when every user is read-only/);
      expect(probeBackingLock(file, 'shared')).toBeInstanceOf(BackingLockedError);
      await expect(FileBackend.open({ path: file })).rejects.toBeInstanceOf(BackingLockedError);
      await expect(FileBackend.open({ path: file, readOnly: true })).rejects.toBeInstanceOf(BackingLockedError);
    } finally {
      drop();
    }
  });

  it('shared locks coexist; a writer is refused while a reader holds one', async () => {
    const drop = foreign(1);
    try {
      expect(probeBackingLock(file, 'exclusive')).toBeInstanceOf(BackingLockedError);
      expect(probeBackingLock(file, 'shared')).toBeNull();
      const ro = await FileBackend.open({ path: file, readOnly: true });
      try {
        expect(ro.lockHeld).toBe(true);
        // A refused upgrade keeps the reader's shared lock.
        await expect(FileBackend.open({ path: file })).rejects.toBeInstanceOf(BackingLockedError);
        const probe = fs.openSync(file, 'r');
        expect(native!.flock(probe, 2)).toBe(false);
        fs.closeSync(probe);
      } finally {
        await ro.shutdown();
      }
    } finally {
      drop();
    }
  });

  it('holders in this process share one lock, released with the last of them', async () => {
    const a = await FileBackend.open({ path: file });
    const b = await FileBackend.open({ path: file });
    expect(a.lockHeld && b.lockHeld).toBe(true);
    const fd = fs.openSync(file, 'r');
    try {
      expect(native!.flock(fd, 1)).toBe(false);
      await a.shutdown();
      expect(native!.flock(fd, 1)).toBe(false);
      await b.shutdown();
      expect(native!.flock(fd, 2)).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });
});
