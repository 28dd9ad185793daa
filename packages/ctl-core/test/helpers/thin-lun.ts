/** Provisioning descriptions for the thin-provisioning tests. */
import type { LogicalBlockProvisioningInfo } from '@iscsi-target/ctl-core';
import type { RamLunOptions } from './ram-lun.js';

export const THIN_LIMITS: LogicalBlockProvisioningInfo = {
  unmap: true,
  lbprz: true,
  maxUnmapBlocks: 1024,
  maxUnmapDescriptors: 4,
  unmapGranularity: 8,
  maxWriteSameBlocks: 512,
};

/** A thin, unmapping RAM LUN of 2048 blocks of 512 bytes. */
export function thinLun(over: Partial<RamLunOptions> = {}): RamLunOptions {
  return { thinProvisioned: true, provisioning: THIN_LIMITS, numBlocks: 2048, ...over };
}
