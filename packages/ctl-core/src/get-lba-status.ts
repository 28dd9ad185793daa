/**
 * GET LBA STATUS (SBC-3 §5.16, SERVICE ACTION IN(16) / 12h): decodes the
 * CDB, checks the STARTING LBA, and asks the backend for the provisioning
 * status of the blocks from there (`getLbaStatus` request). The parameter
 * data format (8-byte header, 16-byte LBA status descriptors) is built by
 * `encodeLbaStatus`, which backends call.
 *
 * A LUN whose backend has no provisioning support, or that is not thin
 * provisioned, is answered here: one descriptor, everything mapped.
 * Does NOT scan storage itself; buffers returned are fresh and owned by the
 * caller.
 */
import type { BackendLunInfo } from './backend.js';
import { lbaOutOfRange, type CommandHost } from './command.js';
import type { IoState } from './io-state.js';

/** PROVISIONING STATUS of an LBA status descriptor (SBC-3 §5.16.2, table 36). */
export const ProvisioningStatus = {
  /** Mapped (or, SBC-4, unknown). */
  Mapped: 0x0,
  Deallocated: 0x1,
  Anchored: 0x2,
} as const;
export type ProvisioningStatus = (typeof ProvisioningStatus)[keyof typeof ProvisioningStatus];

/** One LBA status descriptor. */
export interface LbaStatusDescriptor {
  readonly lba: number;
  /** 1..0xFFFFFFFF blocks. */
  readonly blocks: number;
  readonly status: ProvisioningStatus;
}

/** Header of the GET LBA STATUS parameter data. */
export const LBA_STATUS_HEADER_LENGTH = 8;
/** One LBA status descriptor. */
export const LBA_STATUS_DESCRIPTOR_LENGTH = 16;
/** Most blocks one descriptor can describe (NUMBER OF LOGICAL BLOCKS is 4 bytes). */
export const LBA_STATUS_MAX_BLOCKS = 0xffffffff;

const TWO_POW_32 = 0x1_0000_0000;

/**
 * How many descriptors fit in `allocationLength` bytes (at least 1: a
 * shorter allocation length just truncates the data).
 */
export function lbaStatusDescriptorsFor(allocationLength: number): number {
  return Math.max(1, Math.floor((allocationLength - LBA_STATUS_HEADER_LENGTH) / LBA_STATUS_DESCRIPTOR_LENGTH));
}

/** Builds GET LBA STATUS parameter data (SBC-3 §5.16.2): PARAMETER DATA LENGTH, then the descriptors. */
export function encodeLbaStatus(descriptors: readonly LbaStatusDescriptor[]): Buffer {
  const buf = Buffer.alloc(LBA_STATUS_HEADER_LENGTH + descriptors.length * LBA_STATUS_DESCRIPTOR_LENGTH);
  // PARAMETER DATA LENGTH: the bytes that follow the field itself.
  buf.writeUInt32BE(buf.length - 4, 0);
  let off = LBA_STATUS_HEADER_LENGTH;
  for (const d of descriptors) {
    buf.writeUInt32BE(Math.floor(d.lba / TWO_POW_32), off);
    buf.writeUInt32BE(d.lba % TWO_POW_32, off + 4);
    buf.writeUInt32BE(d.blocks, off + 8);
    buf[off + 12] = d.status & 0x0f;
    off += LBA_STATUS_DESCRIPTOR_LENGTH;
  }
  return buf;
}

/** GET LBA STATUS handler. */
export function getLbaStatus(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('GET LBA STATUS without a LUN');
  const cdb = state.io.cdb;
  const lba = cdb.readUInt32BE(2) * TWO_POW_32 + cdb.readUInt32BE(6);
  const allocationLength = cdb.readUInt32BE(10);
  const be: BackendLunInfo = lun.be;
  // SBC-3 §5.16.1: a STARTING LBA beyond the last LBA is LOGICAL BLOCK ADDRESS OUT OF RANGE.
  if (lba >= be.numBlocks) return lbaOutOfRange(state, host);
  if (be.provisioning !== undefined && be.thinProvisioned) {
    host.submit(state, { op: 'getLbaStatus', lba, blocks: be.numBlocks - lba, allocationLength });
    return;
  }
  // Fully provisioned (or a backend without provisioning support): every block is mapped.
  const data = encodeLbaStatus([
    { lba, blocks: Math.min(LBA_STATUS_MAX_BLOCKS, be.numBlocks - lba), status: ProvisioningStatus.Mapped },
  ]);
  host.sendData(state, data, allocationLength);
}

/** Ordering extent of GET LBA STATUS: from the STARTING LBA through the last LBA (waits for UNMAPs and writes there). */
export function getLbaStatusExtent(state: IoState): void {
  const cdb = state.io.cdb;
  const lba = cdb.readUInt32BE(2) * TWO_POW_32 + cdb.readUInt32BE(6);
  state.lba = lba;
  state.blocks = Math.max(0, (state.lun?.be.numBlocks ?? 0) - lba);
}
