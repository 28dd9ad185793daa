/**
 * Logical block provisioning as the LUN reports it (SBC-3 §4.7): whether a
 * LUN unmaps (LBPU / LBPWS / LBPWS10), whether unmapped blocks read as zeros
 * (LBPRZ), the UNMAP / WRITE SAME fields of the Block Limits VPD page and the
 * Logical Block Provisioning VPD page. Everything is derived from the
 * backend's `thinProvisioned` and `provisioning` description, so what the
 * pages say is exactly what the command handlers (unmap.ts, write-same.ts,
 * get-lba-status.ts) accept.
 *
 * Does NOT decode commands or talk to the backend. Buffers returned are
 * freshly allocated and owned by the caller.
 */
import type { BackendLunInfo } from './backend.js';

/** The LUN executes UNMAP and WRITE SAME with UNMAP: thin provisioned and the backend unmaps. */
export function unmapEnabled(lun: BackendLunInfo): boolean {
  return lun.thinProvisioned && lun.provisioning?.unmap === true;
}

/** LBPRZ (READ CAPACITY(16) byte 14 bit 6, VPD 0xB2 byte 5 bit 2): unmapped blocks read as zeros. */
export function lbprzReported(lun: BackendLunInfo): boolean {
  return lun.thinProvisioned && lun.provisioning?.lbprz === true;
}

/** SBC-3 §6.5.3 Block Limits, byte 4 bit 0: WSNZ. A NUMBER OF LOGICAL BLOCKS of 0 is accepted (WSNZ = 0). */
export const WSNZ = false;

/**
 * Writes the UNMAP and WRITE SAME fields of the Block Limits VPD page
 * (SBC-3 §6.5.3) into `page` (the whole page, header included): WSNZ,
 * MAXIMUM UNMAP LBA COUNT, MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT, OPTIMAL UNMAP
 * GRANULARITY (UGAVALID with alignment 0 when a granularity is reported) and
 * MAXIMUM WRITE SAME LENGTH. A LUN that does not unmap reports 0 for every
 * UNMAP field, as SBC-3 requires when LBPU is 0.
 */
export function writeProvisioningLimits(page: Buffer, lun: BackendLunInfo): void {
  const p = lun.provisioning;
  if (WSNZ) page[4] = (page[4] ?? 0) | 0x01;
  if (p === undefined) return;
  if (unmapEnabled(lun)) {
    page.writeUInt32BE(Math.min(0xffffffff, p.maxUnmapBlocks), 20); // MAXIMUM UNMAP LBA COUNT
    page.writeUInt32BE(Math.min(0xffffffff, p.maxUnmapDescriptors), 24); // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
    if (p.unmapGranularity > 0) {
      page.writeUInt32BE(Math.min(0xffffffff, p.unmapGranularity), 28); // OPTIMAL UNMAP GRANULARITY
      page.writeUInt32BE(0x80000000, 32); // UGAVALID = 1, UNMAP GRANULARITY ALIGNMENT = 0
    }
  }
  page.writeBigUInt64BE(BigInt(p.maxWriteSameBlocks), 36); // MAXIMUM WRITE SAME LENGTH
}

/** PROVISIONING TYPE of VPD 0xB2 (SBC-3 §6.5.4, table 183). */
export const ProvisioningType = {
  /** Not reported (fully provisioned). */
  NotReported: 0b000,
  ResourceProvisioned: 0b001,
  ThinProvisioned: 0b010,
} as const;

/**
 * The Logical Block Provisioning VPD page (SBC-3 §6.5.4) with its 4-byte
 * header; page length 4 (no provisioning group descriptor). ANC_SUP and DP
 * are 0: anchoring is not supported and there is no descriptor.
 */
export function buildLogicalBlockProvisioningVpd(lun: BackendLunInfo, peripheral: number, pageCode: number): Buffer {
  const buf = Buffer.alloc(8);
  buf[0] = peripheral;
  buf[1] = pageCode;
  buf.writeUInt16BE(4, 2);
  buf[4] = 0; // THRESHOLD EXPONENT: no thresholds
  let b5 = 0;
  if (unmapEnabled(lun)) b5 |= 0x80 | 0x40 | 0x20; // LBPU, LBPWS, LBPWS10
  if (lbprzReported(lun)) b5 |= 0x04; // LBPRZ
  buf[5] = b5; // ANC_SUP = 0, DP = 0
  buf[6] = lun.thinProvisioned ? ProvisioningType.ThinProvisioned : ProvisioningType.NotReported;
  return buf;
}
