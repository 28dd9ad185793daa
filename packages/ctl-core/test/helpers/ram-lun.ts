/**
 * A tiny RAM-backed `BackendLun` for the core's tests (the real ramdisk
 * backend lives in ctl-block). Reads copy out of the store (test code, not a
 * data path); writes take the received views (DataOutMode.Views) or supply
 * buffers (Copy). With `hold` set, requests wait until `release()`.
 */
import {
  DataDirection,
  DataOutMode,
  encodeLbaStatus,
  lbaStatusDescriptorsFor,
  ProvisioningStatus,
  type LbaStatusDescriptor,
  type LogicalBlockProvisioningInfo,
  type BackendLun,
  type BlockRequest,
  type CtlBackendServices,
  type ScsiIo,
} from '@iscsi-target/ctl-core';

export interface RamLunOptions {
  blockSize?: number;
  numBlocks?: number;
  physicalBlockExponent?: number;
  readOnly?: boolean;
  writeCache?: boolean;
  thinProvisioned?: boolean;
  rotationRate?: number;
  maxTransferBlocks?: number;
  optimalTransferBlocks?: number;
  serialNumber?: string;
  deviceId?: string;
  naa?: Buffer;
  vendor?: string;
  product?: string;
  revision?: string;
  dataOutMode?: DataOutMode;
  /** Park every request until `release()`. */
  hold?: boolean;
  /** Logical block provisioning support (unmap / writeSame / getLbaStatus requests). */
  provisioning?: LogicalBlockProvisioningInfo;
}

export interface SubmittedRequest {
  readonly io: ScsiIo;
  readonly request: BlockRequest;
}

export class RamLun implements BackendLun {
  readonly blockSize: number;
  numBlocks: number;
  readonly physicalBlockExponent: number;
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  readonly serialNumber: string;
  readonly deviceId: string;
  readonly naa: Buffer;
  readonly readOnly: boolean;
  readonly writeCache: boolean;
  readonly thinProvisioned: boolean;
  readonly rotationRate: number;
  readonly maxTransferBlocks: number;
  readonly optimalTransferBlocks: number;
  readonly store: Buffer;
  readonly dataOutMode: DataOutMode;
  readonly provisioning?: LogicalBlockProvisioningInfo;
  /** Per block: 1 = deallocated (by unmap), 0 = mapped. */
  readonly deallocated: Uint8Array;
  hold: boolean;
  /** Every request submitted, in order. */
  readonly submitted: SubmittedRequest[] = [];
  /** Requests started (after any hold), in order. */
  readonly started: SubmittedRequest[] = [];
  shutdownCalls = 0;
  readonly #parked: (() => void)[] = [];

  constructor(opts: RamLunOptions = {}) {
    this.blockSize = opts.blockSize ?? 512;
    this.numBlocks = opts.numBlocks ?? 2048;
    this.physicalBlockExponent = opts.physicalBlockExponent ?? 0;
    this.vendor = opts.vendor ?? 'TESTVEND';
    this.product = opts.product ?? 'RAMDISK';
    this.revision = opts.revision ?? '1.0';
    this.serialNumber = opts.serialNumber ?? 'SER123';
    this.deviceId = opts.deviceId ?? 'ramdisk-0';
    this.naa = opts.naa ?? Buffer.from([0x60, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]);
    this.readOnly = opts.readOnly ?? false;
    this.writeCache = opts.writeCache ?? true;
    this.thinProvisioned = opts.thinProvisioned ?? false;
    this.rotationRate = opts.rotationRate ?? 1;
    this.maxTransferBlocks = opts.maxTransferBlocks ?? 0;
    this.optimalTransferBlocks = opts.optimalTransferBlocks ?? 0;
    this.dataOutMode = opts.dataOutMode ?? DataOutMode.Views;
    this.hold = opts.hold ?? false;
    this.store = Buffer.alloc(this.blockSize * this.numBlocks);
    this.deallocated = new Uint8Array(this.numBlocks);
    if (opts.provisioning) this.provisioning = opts.provisioning;
  }

  submit(io: ScsiIo, request: BlockRequest, ctl: CtlBackendServices): void {
    this.submitted.push({ io, request });
    const run = (): void => {
      this.started.push({ io, request });
      this.#run(io, request, ctl);
    };
    if (this.hold) this.#parked.push(run);
    else queueMicrotask(run);
  }

  /** Number of parked requests. */
  get parked(): number {
    return this.#parked.length;
  }

  /** Starts the oldest `n` parked requests (all by default). */
  release(n = Infinity): void {
    for (let i = 0; i < n && this.#parked.length > 0; i++) this.#parked.shift()?.();
  }

  shutdown(): Promise<void> {
    this.shutdownCalls++;
    return Promise.resolve();
  }

  #run(io: ScsiIo, req: BlockRequest, ctl: CtlBackendServices): void {
    if (req.op === 'unmap' || req.op === 'writeSame' || req.op === 'getLbaStatus') {
      this.#runProvisioning(io, req, ctl);
      return;
    }
    const off = req.lba * this.blockSize;
    const len = req.blocks * this.blockSize;
    switch (req.op) {
      case 'read': {
        io.dataDirection = DataDirection.In;
        io.kernSgList = [Buffer.from(this.store.subarray(off, off + len))];
        io.kernDataLen = len;
        io.kernRelOffset = 0;
        io.beMoveDone = (done) => ctl.dataSubmitDone(done);
        ctl.setSuccess(io);
        ctl.datamove(io);
        return;
      }
      case 'write': {
        io.dataDirection = DataDirection.Out;
        io.dataOutMode = this.dataOutMode;
        io.kernSgList = this.dataOutMode === DataOutMode.Copy ? [Buffer.alloc(len)] : [];
        io.kernDataLen = len;
        io.kernRelOffset = 0;
        io.beMoveDone = (done) => {
          if (done.portStatus !== 0 || done.aborted || done.status === 2) {
            ctl.dataSubmitDone(done);
            return;
          }
          let pos = off;
          for (const v of done.kernSgList) {
            v.copy(this.store, pos);
            pos += v.length;
          }
          this.deallocated.fill(0, req.lba, req.lba + req.blocks);
          ctl.setSuccess(done);
          ctl.dataSubmitDone(done);
        };
        ctl.datamove(io);
        return;
      }
      case 'flush':
      case 'verify':
        ctl.setSuccess(io);
        ctl.dataSubmitDone(io);
        return;
      case 'compare':
      case 'writeVerify':
      case 'orWrite':
      case 'compareAndWrite':
        // The data side of these is tested against the real engine (ctl-block); here they only complete.
        ctl.setSuccess(io);
        ctl.dataSubmitDone(io);
        return;
    }
  }

  /** UNMAP, WRITE SAME and GET LBA STATUS on the test store (per-block deallocation map). */
  #runProvisioning(io: ScsiIo, req: BlockRequest, ctl: CtlBackendServices): void {
    const bs = this.blockSize;
    switch (req.op) {
      case 'unmap':
        for (const e of req.extents) {
          this.store.fill(0, e.lba * bs, (e.lba + e.blocks) * bs);
          this.deallocated.fill(1, e.lba, e.lba + e.blocks);
        }
        ctl.setSuccess(io);
        ctl.dataSubmitDone(io);
        return;
      case 'writeSame': {
        const apply = (block: Buffer): void => {
          for (let b = req.lba; b < req.lba + req.blocks; b++) {
            if (req.unmap) this.store.fill(0, b * bs, (b + 1) * bs);
            else block.copy(this.store, b * bs);
          }
          this.deallocated.fill(req.unmap ? 1 : 0, req.lba, req.lba + req.blocks);
          ctl.setSuccess(io);
          ctl.dataSubmitDone(io);
        };
        if (req.ndob) return apply(Buffer.alloc(bs));
        io.dataDirection = DataDirection.Out;
        io.dataOutMode = DataOutMode.Copy;
        const block = Buffer.alloc(bs);
        io.kernSgList = [block];
        io.kernDataLen = bs;
        io.kernRelOffset = 0;
        io.beMoveDone = (done) => {
          if (done.portStatus !== 0 || done.aborted || done.status === 2) return ctl.dataSubmitDone(done);
          apply(block);
        };
        ctl.datamove(io);
        return;
      }
      case 'getLbaStatus': {
        const max = lbaStatusDescriptorsFor(req.allocationLength);
        const descriptors: LbaStatusDescriptor[] = [];
        let lba = req.lba;
        while (lba < this.numBlocks && descriptors.length < max) {
          const state = this.deallocated[lba] ?? 0;
          let end = lba + 1;
          while (end < this.numBlocks && (this.deallocated[end] ?? 0) === state) end++;
          descriptors.push({
            lba,
            blocks: end - lba,
            status: state === 1 ? ProvisioningStatus.Deallocated : ProvisioningStatus.Mapped,
          });
          lba = end;
        }
        const data = encodeLbaStatus(descriptors);
        const len = Math.min(data.length, req.allocationLength);
        io.dataDirection = DataDirection.In;
        io.kernSgList = [data.subarray(0, len)];
        io.kernDataLen = len;
        io.kernRelOffset = 0;
        io.beMoveDone = (done) => ctl.dataSubmitDone(done);
        ctl.setSuccess(io);
        ctl.datamove(io);
        return;
      }
      case 'read':
      case 'write':
      case 'verify':
      case 'flush':
      case 'compare':
      case 'writeVerify':
      case 'orWrite':
      case 'compareAndWrite':
        throw new Error(`not a provisioning request: ${req.op}`);
    }
  }
}
