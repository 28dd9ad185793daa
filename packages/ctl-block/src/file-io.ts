/**
 * The file-system calls the file backend makes, behind an interface so tests
 * (and applications: e.g. to add tracing or fault injection) can substitute
 * them. `nodeFileIo` is the real implementation over Node's callback `fs`
 * API on raw file descriptors (cheaper than `FileHandle`; each call is one
 * libuv thread-pool request, so concurrency is bounded by
 * `UV_THREADPOOL_SIZE`, see the README).
 *
 * Nothing here retries, splits or interprets I/O: short reads and writes are
 * returned as such and handled by the caller.
 *
 * Buffer ownership: `readv`/`read` fill the caller's buffers and `writev`
 * reads them; the buffers must stay untouched until the returned promise
 * settles, and are not referenced afterwards.
 */
import * as fs from 'node:fs';

export interface FileIo {
  /** `open(2)`; `flags` as accepted by `fs.open` ('r', 'r+', 'wx+', or numeric). */
  open(path: string, flags: string | number, mode?: number): Promise<number>;
  close(fd: number): Promise<void>;
  fstat(fd: number): Promise<fs.Stats>;
  /** `preadv(2)` into `buffers` in order; resolves with the bytes read (0 at EOF). */
  readv(fd: number, buffers: readonly Buffer[], position: number): Promise<number>;
  /** `pread(2)`. */
  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** `pwritev(2)` of `buffers` in order; resolves with the bytes written (may be short). */
  writev(fd: number, buffers: readonly Buffer[], position: number): Promise<number>;
  ftruncate(fd: number, length: number): Promise<void>;
  /** `fdatasync(2)`: data and the metadata needed to read it back are durable. */
  fdatasync(fd: number): Promise<void>;
  /** Reads a small text file (used for `/sys/dev/block/<maj>:<min>/size`). */
  readTextFile(path: string): Promise<string>;
  /** Removes a file (only a backing file this package just created and failed to set up). */
  unlink(path: string): Promise<void>;
}

function settle<T>(resolve: (v: T) => void, reject: (e: Error) => void) {
  return (err: NodeJS.ErrnoException | null, value: T): void => {
    if (err) reject(err);
    else resolve(value);
  };
}

/** The real file-system calls. */
export const nodeFileIo: FileIo = {
  open: (path, flags, mode = 0o644) =>
    new Promise((resolve, reject) => fs.open(path, flags, mode, settle(resolve, reject))),
  close: (fd) =>
    new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve()))),
  fstat: (fd) => new Promise((resolve, reject) => fs.fstat(fd, settle(resolve, reject))),
  readv: (fd, buffers, position) =>
    new Promise((resolve, reject) =>
      fs.readv(fd, buffers, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))),
    ),
  read: (fd, buffer, offset, length, position) =>
    new Promise((resolve, reject) =>
      fs.read(fd, buffer, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead))),
    ),
  writev: (fd, buffers, position) =>
    new Promise((resolve, reject) =>
      fs.writev(fd, buffers, position, (err, bytesWritten) => (err ? reject(err) : resolve(bytesWritten))),
    ),
  ftruncate: (fd, length) =>
    new Promise((resolve, reject) => fs.ftruncate(fd, length, (err) => (err ? reject(err) : resolve()))),
  fdatasync: (fd) =>
    new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
  readTextFile: (path) =>
    new Promise((resolve, reject) => fs.readFile(path, 'latin1', settle(resolve, reject))),
  unlink: (path) => new Promise((resolve, reject) => fs.unlink(path, (err) => (err ? reject(err) : resolve()))),
};
