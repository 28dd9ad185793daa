// The CTL backend conformance kit (@iscsi-target/ctl-core/testing) over the
// two backends of this package: the file backend (sparse file in a temp
// directory, hole punching when the native helper loaded) once per I/O
// engine (`threadpool`, and `uring` where io_uring is available — else
// reported skipped with the reason) and the RAM disk.
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBackendConformance, type BackendConformanceOpen } from '@iscsi-target/ctl-core/testing';
import { afterAll, describe, it } from 'vitest';
import { FileBackend, IO_ENGINES, RamdiskBackend, ioEngineFallbackReason } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ctl-block-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** The options both backends take from the kit. */
const common = (o: BackendConformanceOpen) => ({
  blockSize: o.blockSize,
  readOnly: o.readOnly,
  copyMode: o.copyMode,
  maxIoSize: o.maxIoSize,
});

for (const ioEngine of IO_ENGINES) {
  const why = ioEngine === 'uring' ? ioEngineFallbackReason() : null;
  if (why !== null) {
    describe.skip(`block (file, io_engine ${ioEngine}) (skipped: ${why})`, () => {
      it('runs the backend conformance kit', () => {});
    });
    continue;
  }
  runBackendConformance({
    name: `block (file, io_engine ${ioEngine})`,
    open: async (o) => {
      const path = join(dir, `lun${n++}.img`);
      if (o.readOnly) {
        // A read-only LUN serves an existing file.
        writeFileSync(path, '');
        truncateSync(path, o.blocks * o.blockSize);
      }
      return FileBackend.open({ ...common(o), path, size: o.blocks * o.blockSize, ioEngine });
    },
    resize: async (be, bytes) => {
      await (be as FileBackend).resize(bytes);
    },
  });
}

runBackendConformance({
  name: 'ramdisk',
  open: (o) =>
    Promise.resolve(
      new RamdiskBackend({ ...common(o), name: `conformance-${n++}`, size: o.blocks * o.blockSize }),
    ),
  resize: async (be, bytes) => {
    await (be as RamdiskBackend).resize(bytes);
  },
});
