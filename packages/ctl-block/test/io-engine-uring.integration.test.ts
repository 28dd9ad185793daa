// The file backend's integration suites again, with the `uring` I/O engine
// as the process default (reads, writes, FUA / SYNCHRONIZE CACHE through
// fdatasync SQEs, UNMAP through fallocate PUNCH_HOLE SQEs). The same files
// run with `threadpool` (the default) under their own names. Skipped, with
// the reason, where io_uring is unavailable.
import { describe, expect, it } from 'vitest';
import { effectiveIoEngine, ioEngineFallbackReason, setDefaultIoEngine } from '../src/index.js';

const why = ioEngineFallbackReason();

if (why !== null) {
  describe.skip(`io engine uring (skipped: ${why})`, () => {
    it('runs the file backend suites over io_uring', () => {});
  });
} else {
  setDefaultIoEngine('uring');
  describe('io engine uring', () => {
    it('is in effect', () => {
      expect(effectiveIoEngine()).toBe('uring');
    });
  });
  await import('./file-backend.integration.test.js');
  await import('./thin-provisioning.integration.test.js');
  await import('./block-integrity.integration.test.js');
}

if (why === null) {
  const { sharedRing } = await import('@iscsi-target/io-uring');
  describe('io engine uring: the ring carried the I/O', () => {
    it('submitted SQEs through the shared ring, batched', () => {
      const s = sharedRing().stats();
      expect(s.submitted).toBeGreaterThan(100);
      expect(s.enters).toBeLessThanOrEqual(s.submitted);
    });
  });
}
