/**
 * `@iscsi-target/ctl-block` — CTL block backends: a file / block-device LUN
 * (`FileBackend`) and a thin RAM disk (`RamdiskBackend`), both implementing
 * `BackendLun` from `@iscsi-target/ctl-core`, with a bounded pool of
 * reference-counted read buffers (`BufferPool`, `BeIo`, `kernDataRef`).
 * It imports only `ctl-core` and Node's `fs`/`crypto`/`path`; it knows
 * nothing about iSCSI, sockets or configuration files.
 */
import { InvalidOptionError } from './errors.js';
import { FileBackend, type FileBackendOptions } from './file-backend.js';
import { RamdiskBackend, type RamdiskBackendOptions } from './ramdisk-backend.js';

export { BufferPool, defaultBufferPool, type BufferPoolOptions, type BufferPoolStats } from './buffer-pool.js';
export { BeIo, kernDataRef, freeBeIo } from './beio.js';
export { FileBackend, type FileBackendOptions } from './file-backend.js';
export { RamdiskBackend, type RamdiskBackendOptions } from './ramdisk-backend.js';
export { RamPin, ramKernDataRef } from './ram-page-table.js';
export { nodeFileIo, type FileIo } from './file-io.js';
export {
  IO_ENGINES,
  defaultIoEngine,
  effectiveIoEngine,
  fileIoFor,
  ioEngineFallbackReason,
  setDefaultIoEngine,
  type IoEngine,
} from './io-engine.js';
export { FilePrStore } from './pr-file-store.js';
export {
  blockBackendDescriptor,
  ramdiskBackendDescriptor,
  createBlockBackendDescriptor,
  createRamdiskBackendDescriptor,
  type BackendDescriptorOptions,
} from './backend-descriptors.js';
export type { LunIdentityOptions } from './lun-identity.js';
/*
 * The block datamove engine and its storage interface, for backends in other
 * packages (e.g. @iscsi-target/ctl-rbd) that serve a block store of their own
 * with the same piece-by-piece, zero-copy data path.
 */
export { BlockDispatcher, type BlockDispatcherOptions } from './block-dispatch.js';
export type { BlockStore, ReadPiece, AllocationExtent } from './block-store.js';
export { IdentifiedBackendLun, lunIdentity, type LunIdentity } from './lun-identity.js';
export { provisioningInfo, DEFAULT_MAX_WRITE_SAME_BYTES, type ProvisioningParams } from './provisioning-info.js';
export { sgView, sgLength } from './sg-list.js';
export { defaultMaxIoSize } from './options.js';
export {
  DEFAULT_BLOCK_SIZE,
  DEFAULT_MAX_IO_SIZE,
  DEFAULT_POOL_MAX_BYTES,
  DEFAULT_RAM_PAGE_SIZE,
  DEFAULT_SEGMENT_SIZE,
} from './options.js';
export { acquireBackingLock, backingLockUnavailable, BackingLockedError, probeBackingLock, type BackingLock, type BackingLockMode } from './backing-lock.js';
export {
  CtlBlockError,
  InvalidOptionError,
  PoolRequestTooLargeError,
  PoolReleaseError,
  RefCountError,
  BackendOpenError,
  ShrinkRefusedError,
  describeBytes,
  UnsupportedOperationError,
  BackendShutDownError,
  DatamoveProtocolError,
} from './errors.js';

/** Backend kinds, as named in `ctl.conf` (`backend block` / `backend ramdisk`). */
export type BackendKind = 'block' | 'ramdisk';

/** Creates a backend LUN of the given kind (`block` opens a file or device). */
export function createBackend(kind: 'block', options: FileBackendOptions): Promise<FileBackend>;
export function createBackend(kind: 'ramdisk', options: RamdiskBackendOptions): Promise<RamdiskBackend>;
export function createBackend(
  kind: BackendKind,
  options: FileBackendOptions | RamdiskBackendOptions,
): Promise<FileBackend | RamdiskBackend>;
export async function createBackend(
  kind: BackendKind,
  options: FileBackendOptions | RamdiskBackendOptions,
): Promise<FileBackend | RamdiskBackend> {
  switch (kind) {
    case 'block':
      if (typeof (options as Partial<FileBackendOptions>).path !== 'string') {
        throw new InvalidOptionError('backend "block" needs a path');
      }
      return FileBackend.open(options as FileBackendOptions);
    case 'ramdisk':
      if (typeof (options as Partial<RamdiskBackendOptions>).size !== 'number') {
        throw new InvalidOptionError('backend "ramdisk" needs a size');
      }
      return new RamdiskBackend(options as RamdiskBackendOptions);
    default:
      throw new InvalidOptionError(`unknown backend kind ${String(kind)}`);
  }
}
