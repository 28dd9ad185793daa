// The page-cached backing file the whole-target benchmarks serve.
//
// What this does: writes a file of non-zero data (every MiB distinct, so
// nothing below can deduplicate it), fsyncs it and reads it once so it sits in
// the page cache. What it does NOT do: drop caches or measure anything.
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';

const MiB = 1024 * 1024;

/** Writes `sizeMiB` of non-zero data (every MiB distinct), fsyncs, then reads it back to warm the page cache. */
export function prefill(file, sizeMiB) {
  const buf = Buffer.allocUnsafe(MiB);
  randomFillSync(buf);
  const fd = openSync(file, 'w');
  try {
    for (let i = 0; i < sizeMiB; i++) {
      buf.writeUInt32BE(i, 0); // distinct blocks: nothing below can deduplicate them
      writeSync(fd, buf, 0, MiB, i * MiB);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  warm(file, sizeMiB);
}

/** Reads the first `sizeMiB` of `file` once, so it sits in the page cache. */
export function warm(file, sizeMiB) {
  const buf = Buffer.allocUnsafe(MiB);
  const fd = openSync(file, 'r');
  try {
    for (let i = 0; i < sizeMiB; i++) readSync(fd, buf, 0, MiB, i * MiB);
  } finally {
    closeSync(fd);
  }
}

/**
 * iscsi-perf's last "iops average N (M MB/s)" line (its MB is 2^20 bytes).
 * @returns {{ iops: number, perfMiBps: number } | undefined}
 */
export function parsePerf(out) {
  let last;
  for (const m of out.replace(/\r/g, '\n').matchAll(/iops average (\d+) \((\d+) MB\/s\)/g)) last = m;
  return last ? { iops: Number(last[1]), perfMiBps: Number(last[2]) } : undefined;
}
