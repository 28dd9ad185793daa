/**
 * `RbdBackend`: a CTL LUN on a Ceph RBD image (`BackendLun`), through
 * ctl-block's datamove engine (`BlockDispatcher`) over an `RbdStore`.
 *
 * What it does: opens (creating a thin image of `size` when it is missing and
 * allowed), reports the image as thin provisioned (VPD B2h; UNMAP →
 * discard with the object size as the unmap granularity, LBPRZ), WRITE SAME
 * → writesame, COMPARE AND WRITE → compare-and-write at the OSD, SYNCHRONIZE
 * CACHE and FUA → flush, GET LBA STATUS from the allocated extents, `resize`
 * → `rbd_resize`, `shutdown` → drain, flush and close. No librbd cache, so
 * the LUN reports no volatile write cache (WCE 0). Read-only LUNs refuse
 * writes in the engine.
 * What it does not do: snapshots, exclusive locks, persistent reservations
 * across gateways, WRITE ATOMIC(16).
 */
import type { BackendLun, BlockRequest, CtlBackendServices, LogicalBlockProvisioningInfo, ScsiIo } from '@iscsi-target/ctl-core';
import {
  BlockDispatcher,
  DEFAULT_MAX_WRITE_SAME_BYTES,
  defaultBufferPool,
  defaultMaxIoSize,
  IdentifiedBackendLun,
  lunIdentity,
  provisioningInfo,
  type BufferPool,
  type LunIdentityOptions,
} from '@iscsi-target/ctl-block';
import { RbdImage, formatImageSpec, parseImageSpec, type RbdImageSpec } from './rbd-image.js';
import { RbdStore } from './rbd-store.js';

export interface RbdBackendOptions extends LunIdentityOptions {
  /** `POOL/IMAGE` or `POOL/NAMESPACE/IMAGE`. */
  image: string;
  /** ceph.conf ('' or absent: `CEPH_CONF`, else /etc/ceph/ceph.conf). */
  cephConf?: string;
  /** Client id (absent: admin). */
  cephId?: string;
  /** Create a thin image of this many bytes when it does not exist. */
  createSize?: number;
  blockSize?: number;
  readOnly?: boolean;
  copyMode?: boolean;
  pool?: BufferPool;
  maxIoSize?: number;
  /** Connection timeout in seconds (default 10). */
  timeoutSeconds?: number;
}

/** The ceph.conf a LUN uses when none is configured. */
export function defaultCephConf(): string {
  return process.env.CEPH_CONF ?? '/etc/ceph/ceph.conf';
}

export class RbdBackend extends IdentifiedBackendLun implements BackendLun {
  readonly blockSize: number;
  readonly physicalBlockExponent = 0;
  readonly readOnly: boolean;
  readonly writeCache = false;
  readonly thinProvisioned = true;
  readonly provisioning: LogicalBlockProvisioningInfo;
  readonly rotationRate = 1;
  readonly maxTransferBlocks = 0;
  readonly optimalTransferBlocks: number;
  readonly copyMode: boolean;
  readonly spec: RbdImageSpec;
  readonly image: RbdImage;
  readonly #dispatcher: BlockDispatcher;
  #numBlocks: number;
  #shutdown: Promise<void> | null = null;

  private constructor(image: RbdImage, options: RbdBackendOptions, blockSize: number, pool: BufferPool, maxIoSize: number) {
    const st = image.stat();
    if (st.size % blockSize !== 0) throw new Error(`RBD image ${formatImageSpec(image.spec)} size ${st.size} is not a multiple of the block size ${blockSize}`);
    // The seed is the image (or the configured device-id), not per process: every gateway serving
    // the image reports the same NAA, serial and device id, as multipath requires (issue 12).
    super(lunIdentity(`rbd:${options.deviceId ?? formatImageSpec(image.spec)}`, 'CTL RBD', options));
    this.image = image;
    this.spec = image.spec;
    this.blockSize = blockSize;
    this.readOnly = options.readOnly ?? false;
    this.copyMode = options.copyMode ?? false;
    this.optimalTransferBlocks = Math.max(1, Math.floor(Math.min(maxIoSize, st.objectSize) / blockSize));
    this.provisioning = provisioningInfo({
      blockSize,
      deallocates: true,
      granularityBytes: st.objectSize,
      maxWriteSameBytes: DEFAULT_MAX_WRITE_SAME_BYTES,
    });
    this.#numBlocks = st.size / blockSize;
    this.#dispatcher = new BlockDispatcher({
      store: new RbdStore(image, pool),
      pool,
      blockSize,
      maxIoSize,
      copyMode: this.copyMode,
      writeCache: this.writeCache,
      readOnly: this.readOnly,
    });
  }

  /** Connects (sharing the cluster handle), opens or creates the image, and builds the LUN. */
  static async open(options: RbdBackendOptions): Promise<RbdBackend> {
    const spec = parseImageSpec(options.image);
    const blockSize = options.blockSize ?? 512;
    const pool = options.pool ?? defaultBufferPool();
    const maxIoSize = options.maxIoSize ?? defaultMaxIoSize(pool, blockSize);
    const image = await RbdImage.open(spec, {
      conf: options.cephConf ?? defaultCephConf(),
      id: options.cephId ?? 'admin',
      ...(options.createSize !== undefined ? { createSize: options.createSize } : {}),
      ...(options.timeoutSeconds !== undefined ? { timeoutSeconds: options.timeoutSeconds } : {}),
    });
    try {
      return new RbdBackend(image, options, blockSize, pool, maxIoSize);
    } catch (e) {
      await image.close();
      throw e;
    }
  }

  get numBlocks(): number {
    return this.#numBlocks;
  }

  submit(io: ScsiIo, request: BlockRequest, ctl: CtlBackendServices): void {
    this.#dispatcher.submit(io, request, ctl);
  }

  /** `rbd_resize` (grow or shrink) to `newSizeBytes`; returns the new number of blocks (the caller tells CTL). */
  async resize(newSizeBytes: number): Promise<number> {
    if (this.#shutdown) throw new Error('the LUN is shut down');
    if (this.readOnly) throw new Error('cannot resize a read-only LUN');
    if (!Number.isSafeInteger(newSizeBytes) || newSizeBytes <= 0 || newSizeBytes % this.blockSize !== 0) {
      throw new Error(`size ${newSizeBytes} is not a positive multiple of ${this.blockSize}`);
    }
    await this.image.resize(newSizeBytes);
    this.#numBlocks = this.image.stat().size / this.blockSize;
    return this.#numBlocks;
  }

  /** Refuses new commands, waits for started ones, flushes and closes the image. Idempotent. */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      await this.#dispatcher.drain();
      try {
        if (!this.readOnly) await this.image.flush();
      } finally {
        await this.image.close();
      }
    })();
    return this.#shutdown;
  }
}
