/**
 * UNMAP (SBC-3 §5.28): receives and validates the UNMAP parameter list (the
 * 8-byte header and 16-byte UNMAP block descriptors), checks every extent
 * against the capacity and the Block Limits (MAXIMUM UNMAP LBA COUNT /
 * BLOCK DESCRIPTOR COUNT), then hands the non-empty extents to the backend
 * as one `unmap` request. The whole list is validated before anything is
 * unmapped, so a rejected command changes nothing.
 *
 * Does NOT deallocate (the backend does) and does not support ANCHOR
 * (ANC_SUP = 0 in VPD 0xB2, so ANCHOR = 1 is an invalid field). The
 * parameter list buffer is the core's (`receiveData`), read here only.
 */
import type { LbaExtent } from './backend.js';
import {
  checkCondition,
  good,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  lbaOutOfRange,
  type CommandHost,
} from './command.js';
import type { IoState } from './io-state.js';
import { readUInt64 } from './extent.js';
import { unmapEnabled } from './lbp.js';
import { Asc, SenseKey } from './scsi-proto.js';

/** Size of the UNMAP parameter list header. */
export const UNMAP_HEADER_LENGTH = 8;
/** Size of one UNMAP block descriptor. */
export const UNMAP_DESCRIPTOR_LENGTH = 16;


/**
 * Ordering extent of UNMAP: the whole medium (the descriptors are only known
 * once the parameter list arrived), so UNMAP waits for, and holds off,
 * overlapping reads and writes like a write of every block.
 */
export function unmapExtent(state: IoState): void {
  state.lba = 0;
  state.blocks = state.lun?.be.numBlocks ?? 0;
}

/** UNMAP handler. */
export function unmap(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('UNMAP without a LUN');
  const cdb = state.io.cdb;
  // SBC-3 §5.28: a device server that does not support UNMAP (LBPU = 0) does not implement the command.
  if (!unmapEnabled(lun.be)) {
    return checkCondition(state, host, SenseKey.IllegalRequest, Asc.InvalidCommandOperationCode, {
      fieldPointer: 0,
      command: true,
    });
  }
  // SBC-3 §5.28.1: ANCHOR = 1 with ANC_SUP = 0 is an invalid field in the CDB.
  if (((cdb[1] ?? 0) & 0x01) !== 0) return invalidFieldInCdb(state, host, 1, 0);
  const length = cdb.readUInt16BE(7);
  // SBC-3 §5.28.1: a PARAMETER LIST LENGTH of zero transfers nothing and is not an error.
  if (length === 0) return good(state, host);
  // SBC-3 §5.28.1: more than zero but less than the header is a PARAMETER LIST LENGTH ERROR.
  if (length < UNMAP_HEADER_LENGTH) {
    return checkCondition(state, host, SenseKey.IllegalRequest, Asc.ParameterListLengthError);
  }
  host.receiveData(state, length, (data) => unmapParameters(state, host, data));
}

function unmapParameters(state: IoState, host: CommandHost, data: Buffer): void {
  const lun = state.lun;
  if (!lun) throw new Error('UNMAP without a LUN');
  const be = lun.be;
  const limits = be.provisioning;
  if (!limits) throw new Error('UNMAP on a LUN without provisioning support');
  const unmapDataLength = data.readUInt16BE(0);
  const descriptorDataLength = data.readUInt16BE(2);
  // SBC-3 §5.28.2: the lengths in the header must fit in what the initiator sent.
  if (unmapDataLength + 2 > data.length) return invalidFieldInParameterList(state, host, 0);
  if (descriptorDataLength + UNMAP_HEADER_LENGTH > data.length) return invalidFieldInParameterList(state, host, 2);
  // SBC-3 §5.28.2: a trailing partial descriptor (BLOCK DESCRIPTOR DATA LENGTH not a multiple of 16) is ignored.
  const count = Math.floor(descriptorDataLength / UNMAP_DESCRIPTOR_LENGTH);
  // SBC-3 §5.28.2: more descriptors than MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT.
  if (count > limits.maxUnmapDescriptors) return invalidFieldInParameterList(state, host, 2);
  const extents: LbaExtent[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const off = UNMAP_HEADER_LENGTH + i * UNMAP_DESCRIPTOR_LENGTH;
    // A 64-bit LBA at or above 2^53 decodes to an imprecise but still out-of-range number.
    const lba = readUInt64(data, off);
    const blocks = data.readUInt32BE(off + 8);
    // SBC-3 §5.28.3: an extent past the last LBA is LOGICAL BLOCK ADDRESS OUT OF RANGE.
    if (lba + blocks > be.numBlocks) return lbaOutOfRange(state, host);
    total += blocks;
    // SBC-3 §5.28.2: more blocks in total than MAXIMUM UNMAP LBA COUNT.
    if (total > limits.maxUnmapBlocks) return invalidFieldInParameterList(state, host, off + 8);
    if (blocks > 0) extents.push({ lba, blocks });
  }
  if (extents.length === 0) return good(state, host);
  let first = Infinity;
  let end = 0;
  for (const e of extents) {
    first = Math.min(first, e.lba);
    end = Math.max(end, e.lba + e.blocks);
  }
  host.submit(state, { op: 'unmap', lba: first, blocks: end - first, extents });
}
