/**
 * `FileBackend`: a CTL LUN stored in a regular file or a block device
 * (FreeBSD's block backend, FILE and DEV types). Reads go from the page cache
 * straight into pooled segments with one `preadv` per piece, and those
 * segments are lent to the frontend as Data-In chunks with a reference count
 * (`beio.ts`); writes take the frontend's views of the received data and
 * store them with one `pwritev` per piece. No userspace copy of payload in
 * either direction (copy mode, for comparison, makes the frontend copy).
 *
 * Opening: a missing file is created SPARSE when `size` is given (`open`
 * with O_CREAT|O_EXCL, then `ftruncate`); an existing file is grown to
 * `size` but never shrunk at open (`resize()` may). A read-write open that
 * fails with EROFS/EACCES falls back to read-only, as FreeBSD does. Block
 * devices are sized through sysfs or by probing (`device-size.ts`); `size`
 * may expose a prefix of the device.
 *
 * Thin provisioning: with the native helper (hole-ops.ts) UNMAP and WRITE
 * SAME with UNMAP punch holes (fallocate PUNCH_HOLE | KEEP_SIZE) and GET LBA
 * STATUS reports the file's real holes (SEEK_DATA / SEEK_HOLE). Without it —
 * or on a file system that cannot punch holes, found by a probe at open —
 * UNMAP writes zeros and GET LBA STATUS reports every block mapped
 * (`deallocates` is false; VPD 0xB0 then reports no unmap granularity and a
 * bounded MAXIMUM UNMAP LBA COUNT). Either way unmapped blocks read as zeros
 * (LBPRZ = 1).
 *
 * Locking: the store is `flock`ed (exclusive when writable, shared when
 * read-only) for the backend's lifetime, so a second process cannot serve
 * it (`backing-lock.ts`; nothing is locked without the native helper).
 *
 * It does not do COMPARE AND WRITE, O_DIRECT, or serialization of
 * sequential reads; it does not open block devices with O_EXCL (the
 * advisory lock guards only against processes that also lock).
 */
import { resolve as resolvePath } from 'node:path';
import type {
  BackendLun,
  BlockRequest,
  CtlBackendServices,
  LogicalBlockProvisioningInfo,
  ScsiIo,
} from '@iscsi-target/ctl-core';
import { defaultBufferPool, type BufferPool } from './buffer-pool.js';
import { acquireBackingLock, type BackingLock } from './backing-lock.js';
import { BeIo, freeBeIo, kernDataRef } from './beio.js';
import type { AllocationExtent, BlockStore, ReadPiece } from './block-store.js';
import { loadHoleOps, type HoleOps } from './hole-ops.js';
import { DEFAULT_MAX_WRITE_SAME_BYTES, provisioningInfo } from './provisioning-info.js';
import { BlockDispatcher } from './block-dispatch.js';
import { blockDeviceSize } from './device-size.js';
import {
  BackendOpenError,
  BackendShutDownError,
  InvalidOptionError,
  ShrinkRefusedError,
  UnsupportedOperationError,
} from './errors.js';
import type { FileIo } from './file-io.js';
import { defaultIoEngine, fileIoFor, holeOpsFor, type IoEngine } from './io-engine.js';
import { IdentifiedBackendLun, lunIdentity, type LunIdentity, type LunIdentityOptions } from './lun-identity.js';
import {
  DEFAULT_BLOCK_SIZE,
  DEFAULT_FILE_PRODUCT,
  defaultMaxIoSize,
  requireBlockSize,
  requirePositiveInteger,
} from './options.js';
import { sgFill, sgView } from './sg-list.js';

export interface FileBackendOptions extends LunIdentityOptions {
  /** Regular file or block device; relative paths are resolved against the cwd. */
  path: string;
  /** Logical block size (power of two ≥ 512; default 512). */
  blockSize?: number;
  /**
   * Capacity in bytes (a multiple of `blockSize`). Creates a missing file
   * sparse; grows a smaller existing file; an existing larger file is an
   * error (`ShrinkRefusedError`) unless `allowShrink`. For a device: at
   * most the device size. Default: the file's or device's size, rounded
   * down to whole blocks.
   */
  size?: number;
  /**
   * An existing file larger than `size` is truncated to `size` at open
   * (the data beyond it is lost; `shrunkFromBytes` says so). Default false.
   */
  allowShrink?: boolean;
  /** Open read-only (default false). */
  readOnly?: boolean;
  /** Report a volatile write cache (default true); false flushes every write. */
  writeCache?: boolean;
  /** Report thin provisioning (default true for files, false for devices). */
  thin?: boolean;
  /** Physical block size (power-of-two multiple of `blockSize`; default `blockSize`). */
  physicalBlockSize?: number;
  /** VPD 0xB1 medium rotation rate: 0 not reported (default), 1 non-rotating. */
  rotationRate?: number;
  /**
   * Lock the store against other processes (default true): an exclusive
   * `flock` when writable, a shared one when read-only (`backing-lock.ts`);
   * a conflicting lock held elsewhere fails the open with
   * `BackingLockedError`. Without the native helper nothing is locked
   * (`lockHeld` is false).
   */
  lock?: boolean;
  /** Pool of read / copy-mode buffers (default: the process-wide pool). */
  pool?: BufferPool;
  /** Largest datamove piece in bytes (multiple of `blockSize`, ≤ pool cap; default 1 MiB). */
  maxIoSize?: number;
  /** Make the frontend copy payload (no `kernDataRef`, `DataOutMode.Copy`); default false. */
  copyMode?: boolean;
  /** File-system calls (default: those of `ioEngine`); for tests and instrumentation. */
  fileIo?: FileIo;
  /**
   * `uring` (io_uring, no thread pool) or `threadpool` (Node's fs); default
   * `defaultIoEngine()`. `uring` falls back to `threadpool` where io_uring
   * is unavailable (see io-engine.ts). Ignored when `fileIo` is given.
   */
  ioEngine?: IoEngine;
  /**
   * Hole punching / finding (default: the native helper if it loads). `null`
   * forces the fallback: UNMAP writes zeros, GET LBA STATUS reports mapped.
   */
  holeOps?: HoleOps | null;
  /** MAXIMUM WRITE SAME LENGTH in bytes (rounded down to blocks; default 1 GiB). */
  maxWriteSameBytes?: number;
}

/** errno codes meaning "this file system (or device) cannot punch holes". */
const PUNCH_UNSUPPORTED = new Set(['EOPNOTSUPP', 'ENOTSUP', 'ENOSYS', 'ENOTTY']);

/** The storage half: preadv into pooled segments, pwritev of views, fdatasync, holes. */
class FileStore implements BlockStore {
  readonly #io: FileIo;
  readonly #fd: number;
  readonly #pool: BufferPool;
  /** null: no hole punching (the dispatcher zero-fills; everything reads as mapped). */
  #holes: HoleOps | null;

  constructor(io: FileIo, fd: number, pool: BufferPool, holes: HoleOps | null) {
    this.#io = io;
    this.#fd = fd;
    this.#pool = pool;
    this.#holes = holes;
  }

  /** Punches a hole; false if the file system turns out not to support it (then never tried again). */
  async deallocate(offset: number, length: number): Promise<boolean> {
    const holes = this.#holes;
    if (holes === null) return false;
    try {
      await holes.punchHole(this.#fd, offset, length);
      return true;
    } catch (err) {
      if (!PUNCH_UNSUPPORTED.has(errnoOf(err) ?? '')) throw err;
      this.#holes = null;
      return false;
    }
  }

  /** SEEK_DATA / SEEK_HOLE from `offset`; without hole support everything is mapped. */
  allocationAt(offset: number, limit: number): Promise<AllocationExtent> {
    return new Promise((resolve) => {
      const holes = this.#holes;
      if (holes === null) return resolve({ mapped: true, length: limit });
      const data = holes.seekData(this.#fd, offset);
      // No data at or after offset (or offset past EOF): a hole through the end.
      if (data < 0) return resolve({ mapped: false, length: limit });
      if (data > offset) return resolve({ mapped: false, length: Math.min(limit, data - offset) });
      const hole = holes.seekHole(this.#fd, offset);
      resolve({ mapped: true, length: hole < 0 ? limit : Math.max(1, Math.min(limit, hole - offset)) });
    });
  }

  async readPiece(offset: number, length: number): Promise<ReadPiece> {
    const segments = await this.#pool.acquire(this.#pool.segmentsFor(length));
    const beio = new BeIo(this.#pool, segments);
    try {
      const sgList = sgView(segments, 0, length);
      let got = 0;
      while (got < length) {
        const iov = got === 0 ? sgList : sgView(sgList, got, length - got);
        const n = await this.#io.readv(this.#fd, iov, offset + got);
        if (n === 0) {
          // End of file inside the LUN (a file shorter than its capacity, e.g.
          // just shrunk or grown under us): unwritten space reads as zeros.
          sgFill(sgList, got, 0);
          break;
        }
        got += n;
      }
      return { sgList, ref: kernDataRef, arg: beio };
    } catch (err) {
      freeBeIo(beio);
      throw err;
    }
  }

  async write(sgList: readonly Buffer[], offset: number): Promise<void> {
    let length = 0;
    for (const b of sgList) length += b.length;
    let put = 0;
    while (put < length) {
      const iov = put === 0 ? sgList : sgView(sgList, put, length - put);
      const n = await this.#io.writev(this.#fd, iov, offset + put);
      if (n <= 0) throw Object.assign(new Error('pwritev wrote nothing'), { code: 'EIO' });
      put += n;
    }
  }

  flush(): Promise<void> {
    return this.#io.fdatasync(this.#fd);
  }
}

interface FileBackendInit {
  path: string;
  io: FileIo;
  fd: number;
  isBlockDevice: boolean;
  blockSize: number;
  numBlocks: number;
  physicalBlockExponent: number;
  identity: LunIdentity;
  readOnly: boolean;
  writeCache: boolean;
  thin: boolean;
  rotationRate: number;
  pool: BufferPool;
  maxIoSize: number;
  copyMode: boolean;
  holes: HoleOps | null;
  granularityBytes: number;
  maxWriteSameBytes: number;
  shrunkFrom: number | null;
  created: boolean;
  lock: BackingLock | null;
}

function errnoOf(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

export class FileBackend extends IdentifiedBackendLun implements BackendLun {
  /** Absolute path of the backing file or device. */
  readonly path: string;
  readonly isBlockDevice: boolean;
  readonly blockSize: number;
  readonly physicalBlockExponent: number;
  readonly readOnly: boolean;
  readonly writeCache: boolean;
  readonly thinProvisioned: boolean;
  readonly provisioning: LogicalBlockProvisioningInfo;
  /** UNMAP really frees space (hole punching); false: it writes zeros. */
  readonly deallocates: boolean;
  readonly rotationRate: number;
  readonly maxTransferBlocks = 0;
  readonly optimalTransferBlocks: number;
  readonly copyMode: boolean;
  /** The size of the file before `allowShrink` truncated it at open; null if it was not shrunk. */
  readonly shrunkFromBytes: number | null;
  /** `open` created the file (it did not exist). */
  readonly created: boolean;
  /** A lock against other processes is held on the store (see `FileBackendOptions.lock`). */
  readonly lockHeld: boolean;
  readonly #lock: BackingLock | null;
  readonly #io: FileIo;
  readonly #fd: number;
  readonly #dispatcher: BlockDispatcher;
  #numBlocks: number;
  #shutdown: Promise<void> | null = null;

  private constructor(init: FileBackendInit) {
    super(init.identity);
    this.path = init.path;
    this.isBlockDevice = init.isBlockDevice;
    this.blockSize = init.blockSize;
    this.physicalBlockExponent = init.physicalBlockExponent;
    this.readOnly = init.readOnly;
    this.writeCache = init.writeCache;
    this.thinProvisioned = init.thin;
    this.deallocates = init.holes !== null;
    this.provisioning = provisioningInfo({
      blockSize: init.blockSize,
      deallocates: this.deallocates,
      granularityBytes: init.granularityBytes,
      maxWriteSameBytes: init.maxWriteSameBytes,
    });
    this.rotationRate = init.rotationRate;
    this.optimalTransferBlocks = init.maxIoSize / init.blockSize;
    this.copyMode = init.copyMode;
    this.shrunkFromBytes = init.shrunkFrom;
    this.created = init.created;
    this.lockHeld = init.lock?.held === true;
    this.#lock = init.lock;
    this.#io = init.io;
    this.#fd = init.fd;
    this.#numBlocks = init.numBlocks;
    this.#dispatcher = new BlockDispatcher({
      store: new FileStore(init.io, init.fd, init.pool, init.holes),
      pool: init.pool,
      blockSize: init.blockSize,
      maxIoSize: init.maxIoSize,
      copyMode: init.copyMode,
      writeCache: init.writeCache,
      readOnly: init.readOnly,
    });
  }

  /** Opens (or creates) the backing store; see `FileBackendOptions`. */
  static async open(options: FileBackendOptions): Promise<FileBackend> {
    const engine = options.ioEngine ?? defaultIoEngine();
    const io = options.fileIo ?? fileIoFor(engine);
    const path = resolvePath(options.path);
    const blockSize = requireBlockSize('blockSize', options.blockSize ?? DEFAULT_BLOCK_SIZE);
    const physicalBlockSize = requireBlockSize('physicalBlockSize', options.physicalBlockSize ?? blockSize);
    if (physicalBlockSize < blockSize) throw new InvalidOptionError('physicalBlockSize must be >= blockSize');
    const requested = options.size;
    if (requested !== undefined) {
      requirePositiveInteger('size', requested);
      if (requested % blockSize !== 0) throw new InvalidOptionError(`size ${requested} is not a multiple of ${blockSize}`);
    }
    const pool = options.pool ?? defaultBufferPool();
    const maxIoSize = requirePositiveInteger(
      'maxIoSize',
      options.maxIoSize ?? defaultMaxIoSize(pool, blockSize),
    );
    if (maxIoSize % blockSize !== 0) throw new InvalidOptionError(`maxIoSize ${maxIoSize} is not a multiple of ${blockSize}`);
    if (maxIoSize > pool.maxBytes) throw new InvalidOptionError(`maxIoSize ${maxIoSize} exceeds the pool cap ${pool.maxBytes}`);
    const rotationRate = options.rotationRate ?? 0;
    if (!Number.isInteger(rotationRate) || rotationRate < 0 || rotationRate > 0xffff) {
      throw new InvalidOptionError(`rotationRate must be 0..65535, got ${rotationRate}`);
    }
    const identity = lunIdentity(path, DEFAULT_FILE_PRODUCT, options);

    let readOnly = options.readOnly ?? false;
    let created = false;
    let fd: number;
    try {
      if (readOnly) {
        fd = await io.open(path, 'r');
      } else {
        try {
          fd = await io.open(path, 'r+');
        } catch (err) {
          const code = errnoOf(err);
          if (code === 'ENOENT' && requested !== undefined) {
            fd = await io.open(path, 'wx+', 0o644);
            created = true;
          } else if (code === 'EROFS' || code === 'EACCES') {
            fd = await io.open(path, 'r');
            readOnly = true;
          } else {
            throw err;
          }
        }
      }
    } catch (err) {
      // What would have created it: a size (read-write LUNs only).
      const hint =
        errnoOf(err) !== 'ENOENT'
          ? ''
          : readOnly
            ? ' (a read-only LUN is never created: create the file first)'
            : requested === undefined
              ? ' (give size to create it)'
              : '';
      throw new BackendOpenError(`cannot open ${path}${hint}: ${(err as Error).message}`, { cause: err });
    }

    let shrunkFrom: number | null = null;
    let lock: BackingLock | null = null;
    try {
      const st = await io.fstat(fd);
      // Before anything changes the store (grow, shrink): another process may be serving it.
      if (options.lock !== false) lock = acquireBackingLock(path, st.dev, st.ino, readOnly ? 'shared' : 'exclusive');
      let size: number;
      let isBlockDevice = false;
      if (st.isBlockDevice()) {
        isBlockDevice = true;
        const deviceSize = await blockDeviceSize(io, fd, st.rdev);
        if (requested !== undefined && requested > deviceSize) {
          throw new BackendOpenError(`${path} holds ${deviceSize} bytes, less than the requested ${requested}`);
        }
        size = requested ?? deviceSize;
      } else if (st.isFile()) {
        if (requested === undefined || requested === st.size) {
          size = st.size;
        } else if (requested < st.size && !created && options.allowShrink !== true) {
          throw new ShrinkRefusedError(path, st.size, requested);
        } else {
          if (requested < st.size && !readOnly) shrunkFrom = st.size;
          if (readOnly) throw new BackendOpenError(`${path} is read-only and smaller than the requested size`);
          await io.ftruncate(fd, requested); // extends with a hole: sparse
          size = requested;
        }
      } else {
        throw new BackendOpenError(`${path} is neither a regular file nor a block device`);
      }
      const numBlocks = Math.floor(size / blockSize);
      if (numBlocks === 0) throw new BackendOpenError(`${path} is smaller than one block`);
      const wanted = options.holeOps === undefined ? holeOpsFor(engine, loadHoleOps()) : options.holeOps;
      // A read-only LUN never punches (only GET LBA STATUS seeks), so there is nothing to probe.
      const holes = readOnly ? wanted : await probeHoleOps(wanted, fd, st, isBlockDevice);
      return new FileBackend({
        path,
        io,
        fd,
        isBlockDevice,
        blockSize,
        numBlocks,
        physicalBlockExponent: Math.log2(physicalBlockSize / blockSize),
        identity,
        readOnly,
        writeCache: options.writeCache ?? true,
        thin: options.thin ?? !isBlockDevice,
        rotationRate,
        pool,
        maxIoSize,
        copyMode: options.copyMode ?? false,
        holes,
        granularityBytes: st.blksize > 0 ? st.blksize : blockSize,
        maxWriteSameBytes: requirePositiveInteger('maxWriteSameBytes', options.maxWriteSameBytes ?? DEFAULT_MAX_WRITE_SAME_BYTES),
        shrunkFrom,
        created,
        lock,
      });
    } catch (err) {
      await io.close(fd).catch(() => undefined);
      lock?.release();
      if (created) await io.unlink(path).catch(() => undefined);
      throw err;
    }
  }

  /** Capacity in logical blocks; changes with `resize`. */
  get numBlocks(): number {
    return this.#numBlocks;
  }

  /** Commands and background flushes not finished; failed IMMED flushes. */
  get stats(): { inflight: number; backgroundErrors: number } {
    return { inflight: this.#dispatcher.inflight, backgroundErrors: this.#dispatcher.backgroundErrors };
  }

  /**
   * The open store as the kernel sees it now (fstat of the LUN's
   * descriptor): `nlink` 0 means the file was deleted while served (I/O
   * still reaches the unlinked inode, which vanishes at close).
   */
  async storeStat(): Promise<{ nlink: number; dev: number; ino: number }> {
    const st = await this.#io.fstat(this.#fd);
    return { nlink: st.nlink, dev: st.dev, ino: st.ino };
  }

  /** `BackendLun.submit`: executes a decoded READ / WRITE / VERIFY / SYNCHRONIZE CACHE. */
  submit(io: ScsiIo, request: BlockRequest, ctl: CtlBackendServices): void {
    this.#dispatcher.submit(io, request, ctl);
  }

  /**
   * Changes the capacity of a regular file (`ftruncate`, up or down) and
   * returns the new number of blocks. The caller then tells CTL
   * (`ctl.lunCapacityChanged`) so initiators get a CAPACITY DATA HAS CHANGED
   * unit attention. Not supported on block devices or read-only LUNs.
   * A smaller size discards the data beyond it, so it is refused
   * (`ShrinkRefusedError`, saying how much would be lost) unless
   * `allowShrink`.
   */
  async resize(newSizeBytes: number, options: { allowShrink?: boolean } = {}): Promise<number> {
    if (this.isBlockDevice) throw new UnsupportedOperationError('cannot resize a block device LUN');
    if (this.readOnly) throw new UnsupportedOperationError('cannot resize a read-only LUN');
    if (this.#shutdown) throw new BackendShutDownError();
    requirePositiveInteger('size', newSizeBytes);
    if (newSizeBytes % this.blockSize !== 0) {
      throw new InvalidOptionError(`size ${newSizeBytes} is not a multiple of ${this.blockSize}`);
    }
    const current = this.#numBlocks * this.blockSize;
    if (newSizeBytes < current && options.allowShrink !== true) throw new ShrinkRefusedError(this.path, current, newSizeBytes);
    await this.#io.ftruncate(this.#fd, newSizeBytes);
    this.#numBlocks = newSizeBytes / this.blockSize;
    return this.#numBlocks;
  }

  /**
   * `BackendLun.shutdown`: refuses new commands, waits for started ones (and
   * IMMED flushes), flushes (`fdatasync`, read-write LUNs), then closes the
   * descriptor. Buffers a frontend still
   * references stay valid: they belong to the pool and return there at the
   * last `kernDataRef(-1)`. Idempotent.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      await this.#dispatcher.drain();
      // A graceful stop leaves write-back data on stable storage (SBC-3
      // §5.26: what SYNCHRONIZE CACHE would do); a failure is reported after
      // the descriptor is closed.
      const flushError = this.readOnly
        ? null
        : await this.#io.fdatasync(this.#fd).then(
            () => null,
            (e: unknown) => (e instanceof Error ? e : new Error('fdatasync failed', { cause: e })),
          );
      await this.#io.close(this.#fd);
      this.#lock?.release();
      if (flushError !== null) throw flushError;
    })();
    return this.#shutdown;
  }
}

/**
 * Checks that the file system can punch holes in this file, by punching one
 * block just past its end (no data there; KEEP_SIZE keeps the size). Block
 * devices are not probed: an unsupported punch is found on first use and
 * the store falls back then. Returns the usable hole operations or null.
 */
async function probeHoleOps(
  holes: HoleOps | null,
  fd: number,
  st: { size: number; blksize: number },
  isBlockDevice: boolean,
): Promise<HoleOps | null> {
  if (holes === null || isBlockDevice) return holes;
  try {
    await holes.punchHole(fd, st.size, Math.max(st.blksize, 512));
    return holes;
  } catch {
    return null;
  }
}
