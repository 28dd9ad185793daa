/**
 * The backend API of CTL (FreeBSD `ctl_backend.h`): what a storage backend
 * supplies for each LUN, and the services CTL offers it.
 *
 * CTL decodes READ/WRITE/SYNCHRONIZE CACHE/... CDBs (LBA, length, FUA) and
 * checks them against the LUN's capacity before calling the backend with a
 * `BlockRequest`. The backend then:
 * - for a read: fills buffers, sets `io.kernSgList`, `kernDataLen`,
 *   `kernRelOffset`, `dataDirection = In`, optionally `kernDataRef`/
 *   `kernDataArg`, `beMoveDone`, marks success with `ctl.setSuccess(io)`
 *   *before* the last piece when it knows the read succeeded (so the frontend
 *   can send status in the final Data-In), and calls `ctl.datamove(io)`; in
 *   `beMoveDone` it continues with the next piece or calls
 *   `ctl.dataSubmitDone(io)`;
 * - for a write: sets `dataDirection = Out`, `kernDataLen`, `kernRelOffset`,
 *   `dataOutMode` (and buffers in `kernSgList` for `Copy`), `beMoveDone`, and
 *   calls `ctl.datamove(io)`; in `beMoveDone`, if `io.portStatus !== 0` or
 *   `io.aborted`, it must not write anything and completes with
 *   `ctl.dataSubmitDone(io)`; otherwise it writes `io.kernSgList`;
 * - for other requests: does the work and calls `ctl.dataSubmitDone(io)`.
 * Errors: `ctl.setSense(io, ...)` (or a helper such as `ctl.setMediumError`)
 * before `dataSubmitDone`. Large commands are processed in bounded pieces.
 */
import type { ScsiIo } from './io.js';

/** A decoded block command handed to a backend. */
export type BlockRequest =
  | { op: 'read'; lba: number; blocks: number }
  | { op: 'write'; lba: number; blocks: number; fua: boolean }
  | { op: 'verify'; lba: number; blocks: number; bytchk: boolean }
  | { op: 'flush'; lba: number; blocks: number; immed: boolean }
  /**
   * VERIFY with BYTCHK 01b/11b (SBC-3 VERIFY): compare the medium with the
   * Data-Out buffer — `blocks` blocks of data, or (`single`) one block
   * compared with each of the `blocks` blocks. MISCOMPARE via `setMiscompare`.
   */
  | { op: 'compare'; lba: number; blocks: number; single: boolean }
  /**
   * WRITE AND VERIFY (SBC-3): write, make durable, then verify; with `bytchk`
   * the medium is read back and compared with the data written.
   */
  | { op: 'writeVerify'; lba: number; blocks: number; bytchk: boolean }
  /** ORWRITE (SBC-3): medium := medium OR Data-Out, atomically for the range (the core orders it). */
  | { op: 'orWrite'; lba: number; blocks: number; fua: boolean }
  /**
   * COMPARE AND WRITE (SBC-3): the Data-Out buffer holds `blocks` blocks of
   * verify data then `blocks` blocks of write data; write only if the medium
   * equals the verify data, else MISCOMPARE with the offset (`setMiscompare`).
   */
  | { op: 'compareAndWrite'; lba: number; blocks: number; fua: boolean }
  /**
   * UNMAP (SBC-3): deallocate every extent (already checked against the
   * capacity and the Block Limits; none has 0 blocks; they may overlap and
   * come in any order). `lba`/`blocks` span them all (for logging and
   * accounting, like every request's `lba`/`blocks`).
   */
  | { op: 'unmap'; lba: number; blocks: number; extents: readonly LbaExtent[] }
  /**
   * WRITE SAME(10/16) (SBC-3): `blocks` >= 1 (a 0 in the CDB is already
   * resolved to "through the last LBA"). Unless `ndob`, the backend moves in
   * ONE logical block of Data-Out (`kernDataLen = blockSize`) first. With
   * `unmap` the range is deallocated instead of written (the data is
   * received and ignored); with `ndob` and not `unmap`, zeros are written.
   */
  | { op: 'writeSame'; lba: number; blocks: number; unmap: boolean; ndob: boolean; fua: boolean }
  /**
   * GET LBA STATUS (SBC-3): the backend builds the parameter data with
   * `encodeLbaStatus` (first descriptor starting at `lba`), truncates it to
   * `allocationLength`, and datamoves it in (`setSuccess` first). `blocks`
   * is the rest of the medium from `lba`.
   */
  | { op: 'getLbaStatus'; lba: number; blocks: number; allocationLength: number };

/** A run of logical blocks. */
export interface LbaExtent {
  readonly lba: number;
  readonly blocks: number;
}

/**
 * What a backend does for logical block provisioning (SBC-3 §4.7): the core
 * fills READ CAPACITY(16) LBPRZ, the Block Limits and Logical Block
 * Provisioning VPD pages from it, and only then sends the `unmap`,
 * `writeSame` and `getLbaStatus` requests. A backend without this field
 * gets none of them (UNMAP and WRITE SAME are INVALID COMMAND OPERATION
 * CODE; GET LBA STATUS reports everything mapped).
 */
export interface LogicalBlockProvisioningInfo {
  /**
   * UNMAP and WRITE SAME with UNMAP are executed (LBPU, LBPWS, LBPWS10); only
   * reported on a thin provisioned LUN (`thinProvisioned`, LBPME).
   */
  readonly unmap: boolean;
  /** Unmapped blocks read as zeros (LBPRZ). */
  readonly lbprz: boolean;
  /** MAXIMUM UNMAP LBA COUNT: most blocks in one UNMAP (>= 1 when `unmap`). */
  readonly maxUnmapBlocks: number;
  /** MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT (>= 1 when `unmap`). */
  readonly maxUnmapDescriptors: number;
  /** OPTIMAL UNMAP GRANULARITY in blocks (0 = not reported). */
  readonly unmapGranularity: number;
  /** MAXIMUM WRITE SAME LENGTH in blocks (0 = no limit). */
  readonly maxWriteSameBlocks: number;
}

/** What CTL offers a backend (passed to every call). */
export interface CtlBackendServices {
  /** Starts moving the current piece; `io.beMoveDone` is called after. */
  datamove(io: ScsiIo): void;
  /** The backend finished the command (success or sense already set). */
  dataSubmitDone(io: ScsiIo): void;
  setSuccess(io: ScsiIo): void;
  /** CHECK CONDITION with sense key / ASC / ASCQ. */
  setSense(io: ScsiIo, senseKey: number, asc: number, ascq: number): void;
  /** MEDIUM ERROR, UNRECOVERED READ ERROR or WRITE ERROR. */
  setMediumError(io: ScsiIo, read: boolean): void;
  /** HARDWARE ERROR / INTERNAL TARGET FAILURE. */
  setInternalFailure(io: ScsiIo): void;
  /** DATA PROTECT / WRITE PROTECTED. */
  setWriteProtected(io: ScsiIo): void;
  /** DATA PROTECT / SPACE ALLOCATION FAILED WRITE PROTECT, 27h/07h (thin provisioning: ENOSPC). */
  setSpaceAllocationFailed(io: ScsiIo): void;
  /**
   * MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION (1Dh/00h) with the byte
   * offset of the first difference in INFORMATION (SBC-3 COMPARE AND WRITE,
   * VERIFY): `offset` counts from the start of the compared data.
   */
  setMiscompare(io: ScsiIo, offset: number): void;
  /**
   * Optional observation hook: the backend reports the storage error it is
   * about to turn into sense (`code` is the errno name, e.g. ENOSPC or EIO,
   * null for an error without one; `op` the storage operation that failed).
   * CTL itself does nothing with it; the daemon wraps the services to log
   * and count backend faults per LUN. Call it before the `set*` method.
   */
  noteStorageError?(io: ScsiIo, code: string | null, op: 'read' | 'write' | 'flush', message: string): void;
}

/** Who a LUN is (INQUIRY, VPD 0x80 and 0x83): what initiators key a device on. */
export interface BackendLunIdentityInfo {
  /** T10 vendor (8 chars), product (16), revision (4), space padded by CTL. */
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  /** Unit serial number (VPD 0x80), printable ASCII. */
  readonly serialNumber: string;
  /** Device identification string for VPD 0x83 (T10 vendor id descriptor). */
  readonly deviceId: string;
  /** NAA IEEE Registered identifier, 8 bytes, for VPD 0x83. */
  readonly naa: Buffer;
}

/** Static description of a LUN, supplied by the backend (FreeBSD `ctl_be_lun`). */
export interface BackendLunInfo extends BackendLunIdentityInfo {
  /** Logical block size in bytes (512, 4096, ...). */
  readonly blockSize: number;
  /** Number of logical blocks (capacity); may change on resize. */
  readonly numBlocks: number;
  /** log2(physical block size / logical block size). */
  readonly physicalBlockExponent: number;
  readonly readOnly: boolean;
  /** Whether the backend has a volatile write cache (WCE in the caching page). */
  readonly writeCache: boolean;
  /** Thin provisioned (LBPME; PROVISIONING TYPE thin in VPD 0xB2). */
  readonly thinProvisioned: boolean;
  /** UNMAP / WRITE SAME / GET LBA STATUS support; absent = none of them. */
  readonly provisioning?: LogicalBlockProvisioningInfo;
  /** Rotation rate for VPD 0xB1: 1 = non-rotating, 0 = not reported. */
  readonly rotationRate: number;
  /** Largest transfer the backend prefers per command, in blocks (VPD 0xB0); 0 = no limit. */
  readonly maxTransferBlocks: number;
  readonly optimalTransferBlocks: number;
}

/** A LUN as a backend implements it. */
export interface BackendLun extends BackendLunInfo {
  /** Executes a decoded block command. */
  submit(io: ScsiIo, request: BlockRequest, ctl: CtlBackendServices): void;
  /** Called once when CTL removed the LUN and all its I/O drained. */
  shutdown(): Promise<void>;
}
