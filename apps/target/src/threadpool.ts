/**
 * The default size of libuv's threadpool, which runs the file backends'
 * `preadv`/`pwritev`/`fdatasync` (and nothing of the network path).
 *
 * Four threads per CPU, at least 8 and at most 128. Measured on the 2-core
 * development machine against one page-cached file LUN at queue depth 32
 * (`iscsi-perf -m 32 -b 8 -r`, alternating runs, median of 2): 16 threads gave
 * about 38 000 IOPS, 8 threads 45 000 and 4 threads 46 000; sequential 128 KiB
 * reads and writes did not change beyond noise. With more threads than CPUs
 * can run, cached I/O pays for context switches; with too few, a slow device
 * cannot get a deep queue. libuv's own default (4) caps the whole target at 4
 * file requests in flight, so the minimum stays at 8, and large machines get
 * enough threads for disks that want deep queues.
 *
 * What it does not do: it does not change a value the environment already
 * sets (`UV_THREADPOOL_SIZE`, max 1024), and it has no effect once libuv has
 * created the pool (at its first request): call it first thing.
 */
import { availableParallelism } from 'node:os';

/** Four threads per CPU, clamped to 8..128. */
export function defaultUvThreadpoolSize(cpus: number = availableParallelism()): number {
  return Math.min(128, Math.max(8, 4 * cpus));
}

/** Sets `UV_THREADPOOL_SIZE` to the default unless it is already set. */
export function setDefaultUvThreadpoolSize(): void {
  process.env.UV_THREADPOOL_SIZE ??= String(defaultUvThreadpoolSize());
}
