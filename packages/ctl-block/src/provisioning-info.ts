/**
 * The logical block provisioning description (ctl-core's
 * `LogicalBlockProvisioningInfo`: LBPU/LBPWS/LBPRZ and the Block Limits
 * UNMAP / WRITE SAME fields) of this package's backends, from what the
 * backend can really do. Both backends read unmapped blocks as zeros
 * (LBPRZ = 1): deallocated space reads as zeros, and the zero-fill fallback
 * writes zeros.
 *
 * Does NOT deallocate anything; pure computation.
 */
import type { LogicalBlockProvisioningInfo } from '@iscsi-target/ctl-core';

/** Default MAXIMUM WRITE SAME LENGTH, in bytes (bounded work per command). */
export const DEFAULT_MAX_WRITE_SAME_BYTES = 1024 * 1024 * 1024;
/** MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT of both backends. */
export const MAX_UNMAP_DESCRIPTORS = 1024;
/**
 * MAXIMUM UNMAP LBA COUNT, in bytes, when UNMAP has to write zeros (no hole
 * punching): bounds the writing one UNMAP can cause.
 */
export const ZERO_FILL_MAX_UNMAP_BYTES = 256 * 1024 * 1024;
/** MAXIMUM UNMAP LBA COUNT when the store really deallocates: FFFFFFFFh, no limit (SBC-3 §6.5.3). */
export const UNLIMITED_UNMAP_BLOCKS = 0xffffffff;

export interface ProvisioningParams {
  readonly blockSize: number;
  /** The store frees space on UNMAP (false: it writes zeros). */
  readonly deallocates: boolean;
  /** Allocation unit of the store in bytes (file-system block, RAM page). */
  readonly granularityBytes: number;
  readonly maxWriteSameBytes: number;
}

export function provisioningInfo(p: ProvisioningParams): LogicalBlockProvisioningInfo {
  return {
    unmap: true,
    lbprz: true,
    maxUnmapBlocks: p.deallocates ? UNLIMITED_UNMAP_BLOCKS : Math.max(1, Math.floor(ZERO_FILL_MAX_UNMAP_BYTES / p.blockSize)),
    maxUnmapDescriptors: MAX_UNMAP_DESCRIPTORS,
    // OPTIMAL UNMAP GRANULARITY: only meaningful when space is really freed.
    unmapGranularity: p.deallocates ? Math.max(1, Math.floor(p.granularityBytes / p.blockSize)) : 0,
    maxWriteSameBlocks: Math.max(1, Math.floor(p.maxWriteSameBytes / p.blockSize)),
  };
}
