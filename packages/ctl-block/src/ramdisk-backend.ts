/**
 * `RamdiskBackend`: a thin-provisioned CTL LUN in memory (FreeBSD's ramdisk
 * with the `capacity` option), for benchmarking the frontend and transport
 * without storage cost and for tests. Pages are allocated on first write;
 * reads of unwritten space return zeros.
 *
 * Data path: reads hand the frontend VIEWS of the pages (no copy) with a
 * `kernDataRef` that pins those pages; a later write to a pinned page
 * copies-on-write (see `ram-page-table.ts`), so bytes already handed to a
 * Data-In in flight never change. Writes copy the received views into the
 * pages — that copy IS the storage write (like `pwritev` into the page
 * cache), not an extra copy. In copy mode the frontend copies the page views
 * before `datamoveDone` and writes come through pooled buffers.
 *
 * UNMAP and WRITE SAME with UNMAP free the pages (ram-page-table.ts), which
 * then read as zeros (LBPRZ) and show as deallocated in GET LBA STATUS; the
 * unmap granularity is one page.
 *
 * The contents live only as long as the LUN: `shutdown()` drops them. It does
 * not implement the "bit sink" mode without capacity, or persistence.
 */
import { randomUUID } from 'node:crypto';
import type {
  BackendLun,
  BlockRequest,
  CtlBackendServices,
  LogicalBlockProvisioningInfo,
  ScsiIo,
} from '@iscsi-target/ctl-core';
import { defaultBufferPool, type BufferPool } from './buffer-pool.js';
import type { AllocationExtent, BlockStore, ReadPiece } from './block-store.js';
import { BlockDispatcher } from './block-dispatch.js';
import { BackendShutDownError, InvalidOptionError, ShrinkRefusedError } from './errors.js';
import { IdentifiedBackendLun, lunIdentity, type LunIdentityOptions } from './lun-identity.js';
import {
  DEFAULT_BLOCK_SIZE,
  defaultMaxIoSize,
  DEFAULT_RAM_PAGE_SIZE,
  DEFAULT_RAM_PRODUCT,
  requireBlockSize,
  requirePositiveInteger,
} from './options.js';
import { RamPageTable, ramKernDataRef } from './ram-page-table.js';
import { DEFAULT_MAX_WRITE_SAME_BYTES, provisioningInfo } from './provisioning-info.js';

export interface RamdiskBackendOptions extends LunIdentityOptions {
  /** Capacity in bytes (a multiple of `blockSize`). */
  size: number;
  /** Seed of the generated serial number / device id / NAA (default: a random UUID). */
  name?: string;
  /** Logical block size (power of two ≥ 512; default 512). */
  blockSize?: number;
  /** Physical block size reported (power-of-two multiple of `blockSize`; default `blockSize`). */
  physicalBlockSize?: number;
  /** Allocation unit (power of two ≥ 512; default 64 KiB). */
  pageSize?: number;
  /**
   * Most bytes of pages to allocate (rounded down to pages; default: the
   * whole capacity, i.e. never full). Smaller values overcommit: writes that
   * need more get SPACE ALLOCATION FAILED.
   */
  memoryLimit?: number;
  /**
   * Thin provisioned (default true): UNMAP and WRITE SAME with UNMAP free
   * pages, LBPME = 1. False: reported fully provisioned, no UNMAP (ctld
   * `option unmap off`).
   */
  thin?: boolean;
  /** Report a volatile write cache (default false: RAM writes are complete when done). */
  writeCache?: boolean;
  readOnly?: boolean;
  /** Pool for copy-mode Data-Out buffers (default: the process-wide pool). */
  pool?: BufferPool;
  /** Largest datamove piece in bytes (multiple of `blockSize`; default 1 MiB). */
  maxIoSize?: number;
  /** Make the frontend copy payload (no `kernDataRef`, `DataOutMode.Copy`); default false. */
  copyMode?: boolean;
  /** MAXIMUM WRITE SAME LENGTH in bytes (rounded down to blocks; default 1 GiB). */
  maxWriteSameBytes?: number;
}

/** The storage half: page views with pins, copy into pages, no-op flush. */
class RamStore implements BlockStore {
  readonly #table: RamPageTable;

  constructor(table: RamPageTable) {
    this.#table = table;
  }

  readPiece(offset: number, length: number): Promise<ReadPiece> {
    const { sgList, pin } = this.#table.read(offset, length);
    return Promise.resolve({ sgList, ref: ramKernDataRef, arg: pin });
  }

  write(sgList: readonly Buffer[], offset: number): Promise<void> {
    // A throw (RamSpaceError) inside the executor rejects the promise.
    return new Promise((resolve) => {
      this.#table.write(sgList, offset);
      resolve();
    });
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  deallocate(offset: number, length: number): Promise<boolean> {
    this.#table.deallocate(offset, length);
    return Promise.resolve(true);
  }

  allocationAt(offset: number, limit: number): Promise<AllocationExtent> {
    return Promise.resolve(this.#table.allocationAt(offset, limit));
  }
}

export class RamdiskBackend extends IdentifiedBackendLun implements BackendLun {
  readonly blockSize: number;
  readonly physicalBlockExponent: number;
  readonly readOnly: boolean;
  readonly writeCache: boolean;
  readonly thinProvisioned: boolean;
  readonly provisioning: LogicalBlockProvisioningInfo;
  readonly rotationRate = 1;
  readonly maxTransferBlocks = 0;
  readonly optimalTransferBlocks: number;
  readonly copyMode: boolean;
  readonly pageSize: number;
  readonly #table: RamPageTable;
  readonly #dispatcher: BlockDispatcher;
  /** The memory limit follows the capacity unless it was given. */
  readonly #limitFollowsSize: boolean;
  #numBlocks: number;
  #shutdown: Promise<void> | null = null;

  constructor(options: RamdiskBackendOptions) {
    const blockSize = requireBlockSize('blockSize', options.blockSize ?? DEFAULT_BLOCK_SIZE);
    const physicalBlockSize = requireBlockSize('physicalBlockSize', options.physicalBlockSize ?? blockSize);
    if (physicalBlockSize < blockSize) throw new InvalidOptionError('physicalBlockSize must be >= blockSize');
    const size = requirePositiveInteger('size', options.size);
    if (size % blockSize !== 0) throw new InvalidOptionError(`size ${size} is not a multiple of ${blockSize}`);
    const pageSize = requireBlockSize('pageSize', options.pageSize ?? DEFAULT_RAM_PAGE_SIZE);
    const memoryLimit = requirePositiveInteger('memoryLimit', options.memoryLimit ?? Math.ceil(size / pageSize) * pageSize);
    const maxPages = Math.floor(memoryLimit / pageSize);
    const pool = options.pool ?? defaultBufferPool();
    const maxIoSize = requirePositiveInteger(
      'maxIoSize',
      options.maxIoSize ?? defaultMaxIoSize(pool, blockSize),
    );
    if (maxIoSize % blockSize !== 0) throw new InvalidOptionError(`maxIoSize ${maxIoSize} is not a multiple of ${blockSize}`);
    const copyMode = options.copyMode ?? false;
    if (copyMode && maxIoSize > pool.maxBytes) {
      throw new InvalidOptionError(`maxIoSize ${maxIoSize} exceeds the pool cap ${pool.maxBytes}`);
    }
    const identity = lunIdentity(`ramdisk:${options.name ?? randomUUID()}`, DEFAULT_RAM_PRODUCT, options);
    super(identity);

    this.blockSize = blockSize;
    this.physicalBlockExponent = Math.log2(physicalBlockSize / blockSize);
    this.readOnly = options.readOnly ?? false;
    this.thinProvisioned = options.thin ?? true;
    this.writeCache = options.writeCache ?? false;
    this.optimalTransferBlocks = maxIoSize / blockSize;
    this.copyMode = copyMode;
    this.pageSize = pageSize;
    this.provisioning = provisioningInfo({
      blockSize,
      deallocates: true,
      granularityBytes: pageSize,
      maxWriteSameBytes: options.maxWriteSameBytes ?? DEFAULT_MAX_WRITE_SAME_BYTES,
    });
    this.#numBlocks = size / blockSize;
    this.#limitFollowsSize = options.memoryLimit === undefined;
    this.#table = new RamPageTable(pageSize, maxPages);
    this.#dispatcher = new BlockDispatcher({
      store: new RamStore(this.#table),
      pool,
      blockSize,
      maxIoSize,
      copyMode,
      writeCache: this.writeCache,
      readOnly: this.readOnly,
    });
  }

  /** Capacity in logical blocks; changes with `resize`. */
  get numBlocks(): number {
    return this.#numBlocks;
  }

  /** Allocated pages, copy-on-write copies, commands in flight. */
  get stats(): { allocatedPages: number; allocatedBytes: number; cowCopies: number; inflight: number } {
    return {
      allocatedPages: this.#table.allocatedPages,
      allocatedBytes: this.#table.allocatedPages * this.pageSize,
      cowCopies: this.#table.cowCopies,
      inflight: this.#dispatcher.inflight,
    };
  }

  /** `BackendLun.submit`: executes a decoded READ / WRITE / VERIFY / SYNCHRONIZE CACHE. */
  submit(io: ScsiIo, request: BlockRequest, ctl: CtlBackendServices): void {
    this.#dispatcher.submit(io, request, ctl);
  }

  /**
   * Changes the capacity (a multiple of `blockSize`); shrinking forgets the
   * data beyond the new end, so it is refused (`ShrinkRefusedError`) unless
   * `allowShrink`. Returns the new number of blocks; the caller
   * tells CTL (`ctl.lunCapacityChanged`). A memory limit that was not given
   * follows the capacity.
   */
  resize(newSizeBytes: number, options: { allowShrink?: boolean } = {}): Promise<number> {
    return new Promise((resolve) => {
      if (this.#shutdown) throw new BackendShutDownError();
      requirePositiveInteger('size', newSizeBytes);
      if (newSizeBytes % this.blockSize !== 0) {
        throw new InvalidOptionError(`size ${newSizeBytes} is not a multiple of ${this.blockSize}`);
      }
      const current = this.#numBlocks * this.blockSize;
      if (newSizeBytes < current && options.allowShrink !== true) throw new ShrinkRefusedError(`RAM disk ${this.serialNumber}`, current, newSizeBytes);
      if (newSizeBytes < current) this.#table.truncate(newSizeBytes);
      if (this.#limitFollowsSize) this.#table.maxPages = Math.ceil(newSizeBytes / this.pageSize);
      this.#numBlocks = newSizeBytes / this.blockSize;
      resolve(this.#numBlocks);
    });
  }

  /**
   * `BackendLun.shutdown`: refuses new commands, waits for started ones,
   * then drops the pages (views still held by a frontend stay valid until
   * their holders let go). Idempotent.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      await this.#dispatcher.drain();
      this.#table.clear();
    })();
    return this.#shutdown;
  }
}
