// The forced fallback: with ISCSI_TARGET_NO_URING=1 (read once per process,
// set here before anything asks) a LUN asking for `io_engine uring` gets
// the thread pool, says why, and still does its I/O. The real-ring side is
// io-engine-uring.integration.test.ts and the conformance kit.
process.env.ISCSI_TARGET_NO_URING = '1';

import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackendConformance } from '@iscsi-target/ctl-core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { FileBackend, effectiveIoEngine, fileIoFor, ioEngineFallbackReason, nodeFileIo, setDefaultIoEngine } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ctl-block-io-fallback-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describe('io engine: forced fallback (ISCSI_TARGET_NO_URING=1)', () => {
  it('reports the switch as the reason and resolves uring to threadpool', () => {
    expect(ioEngineFallbackReason()).toBe('disabled by ISCSI_TARGET_NO_URING=1');
    expect(effectiveIoEngine('uring')).toBe('threadpool');
    expect(fileIoFor('uring')).toBe(nodeFileIo);
  });

  it('refuses an unknown engine as the process default', () => {
    expect(() => setDefaultIoEngine('aio' as never)).toThrow(TypeError);
  });
});

// The whole backend kit over a LUN that asked for uring: it must work on the thread pool.
runBackendConformance({
  name: 'block (file, io_engine uring, forced fallback)',
  open: (o) => {
    const path = join(dir, `lun${n++}.img`);
    if (o.readOnly) {
      writeFileSync(path, '');
      truncateSync(path, o.blocks * o.blockSize);
    }
    return FileBackend.open({
      path,
      size: o.blocks * o.blockSize,
      blockSize: o.blockSize,
      readOnly: o.readOnly,
      copyMode: o.copyMode,
      maxIoSize: o.maxIoSize,
      ioEngine: 'uring',
    });
  },
  resize: async (be, bytes) => {
    await (be as FileBackend).resize(bytes);
  },
});
