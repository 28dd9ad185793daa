/**
 * Primary command handlers (SPC-4): TEST UNIT READY, INQUIRY, REQUEST SENSE,
 * REPORT LUNS, MODE SENSE(6/10), MODE SELECT(6/10). Each builds its data into
 * a fresh Buffer and sends it with one datamove (`host.sendData`).
 *
 * Does NOT check reserved bits (the command table's usage masks do, before
 * the handler runs) and handles no block I/O (sbc-commands.ts does).
 */
import {
  checkCondition,
  good,
  invalidFieldInCdb,
  invalidFieldInParameterList,
  type CommandHost,
} from './command.js';
import { buildStandardInquiry, buildVpdPage } from './inquiry.js';
import type { IoState } from './io-state.js';
import { SUPPORTED_MODE_PAGES } from './mode-pages.js';
import { buildReportLuns } from './report-luns.js';
import { Asc, ModePage, PageControl, ScsiOpcode, SenseKey } from './scsi-proto.js';
import { buildSense } from './sense.js';
import { UaFlag, uaAscAscq } from './unit-attention.js';

/** TEST UNIT READY (SPC-4 §6.47): the LUN is always ready. */
export function testUnitReady(state: IoState, host: CommandHost): void {
  good(state, host);
}

/** INQUIRY (SPC-4 §6.6): standard data or a VPD page. */
export function inquiry(state: IoState, host: CommandHost): void {
  const cdb = state.io.cdb;
  const evpd = ((cdb[1] ?? 0) & 0x01) !== 0;
  const pageCode = cdb[2] ?? 0;
  const allocationLength = cdb.readUInt16BE(3);
  const lun = state.lun;
  if (!evpd) {
    // SPC-4 §6.6.1: PAGE CODE must be zero when EVPD is zero.
    if (pageCode !== 0) return invalidFieldInCdb(state, host, 2);
    const id = lun
      ? lun.be
      : { vendor: host.options.inquiryVendor, product: host.options.inquiryProduct, revision: host.options.inquiryRevision };
    return host.sendData(state, buildStandardInquiry(id, lun !== null, lun?.medium.removable ?? false), allocationLength);
  }
  const page = buildVpdPage(pageCode, {
    lun: lun ? lun.be : null,
    targetName: state.port.targetName,
    targetPortName: state.port.name,
    relativeTargetPort: host.relativeTargetPort(state),
    targetPortGroup: host.alua.portGroup(state),
    thirdPartyCopy: host.tpc.limits,
  });
  // SPC-4 §6.6.1: an unsupported VPD page is an invalid field (PAGE CODE).
  if (!page) return invalidFieldInCdb(state, host, 2);
  host.sendData(state, page, allocationLength);
}

/**
 * REQUEST SENSE (SPC-4 §6.39): reports (and clears) the highest pending unit
 * attention of the I_T nexus, else NOT READY 3Ah/02h for an ejected medium,
 * else NOT READY 04h/02h for a stopped unit, else
 * NO SENSE; LOGICAL UNIT NOT SUPPORTED for a
 * LUN that does not exist. Always GOOD status.
 */
export function requestSense(state: IoState, host: CommandHost): void {
  const cdb = state.io.cdb;
  const descriptor = ((cdb[1] ?? 0) & 0x01) !== 0;
  const allocationLength = cdb[4] ?? 0;
  const lun = state.lun;
  let sense: Buffer;
  if (!lun) {
    const a = Asc.LogicalUnitNotSupported;
    sense = buildSense(SenseKey.IllegalRequest, a.asc, a.ascq, { descriptor });
  } else {
    const flag = lun.takeUa(state.initiatorIndex);
    if (flag !== 0) {
      if (flag === UaFlag.LunInventoryChanged) host.lunInventoryReported(state.initiatorIndex);
      const a = uaAscAscq(flag);
      sense = buildSense(SenseKey.UnitAttention, a.asc, a.ascq, { descriptor });
    } else if (lun.medium.ejected) {
      // SPC-4 §6.39: an ejected removable medium is NOT READY, MEDIUM NOT PRESENT - TRAY OPEN.
      const a = Asc.MediumNotPresentTrayOpen;
      sense = buildSense(SenseKey.NotReady, a.asc, a.ascq, { descriptor });
    } else if (lun.unit.stopped) {
      // SPC-4 §6.39: with nothing else pending, the sense data describes the current
      // state; a stopped unit is NOT READY, INITIALIZING COMMAND REQUIRED (SBC-3 §4.19).
      const a = Asc.LogicalUnitNotReadyInitializingCommandRequired;
      sense = buildSense(SenseKey.NotReady, a.asc, a.ascq, { descriptor });
    } else {
      const a = Asc.NoAdditionalSenseInformation;
      sense = buildSense(SenseKey.NoSense, a.asc, a.ascq, { descriptor });
    }
  }
  host.sendData(state, sense, allocationLength);
}

/** REPORT LUNS (SPC-4 §6.33). */
export function reportLuns(state: IoState, host: CommandHost): void {
  const cdb = state.io.cdb;
  const selectReport = cdb[2] ?? 0;
  const allocationLength = cdb.readUInt32BE(6);
  // SPC-4 §6.33: SELECT REPORT 00h/02h = all LUNs, 01h = well known LUNs (none).
  if (selectReport > 0x02) return invalidFieldInCdb(state, host, 2);
  // SPC-4 §6.33: an ALLOCATION LENGTH below 16 is an invalid field.
  if (allocationLength < 16) return invalidFieldInCdb(state, host, 6);
  const luns = selectReport === 0x01 ? [] : host.visibleLuns(state);
  // SPC-4 §6.33: reporting the inventory clears REPORTED LUNS DATA HAS CHANGED.
  host.lunInventoryReported(state.initiatorIndex);
  host.sendData(state, buildReportLuns(luns), allocationLength);
}

/** MODE SENSE(6) and MODE SENSE(10) (SPC-4 §6.11, §6.12). */
export function modeSense(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('MODE SENSE without a LUN');
  const cdb = state.io.cdb;
  const is6 = cdb[0] === ScsiOpcode.ModeSense6;
  const dbd = ((cdb[1] ?? 0) & 0x08) !== 0;
  const llbaa = !is6 && ((cdb[1] ?? 0) & 0x10) !== 0;
  const pageControl = (cdb[2] ?? 0) >> 6;
  const pageCode = (cdb[2] ?? 0) & 0x3f;
  const subpage = cdb[3] ?? 0;
  const allocationLength = is6 ? (cdb[4] ?? 0) : cdb.readUInt16BE(7);
  // SPC-4 §6.11.1: saved values are not supported.
  if (pageControl === PageControl.Saved) {
    return checkCondition(state, host, SenseKey.IllegalRequest, Asc.SavingParametersNotSupported);
  }
  // SPC-4 §6.11.1: no page has subpages, so only subpage 00h or FFh (the page
  // and all its subpages; with page 3Fh, all pages and subpages) exist.
  if (subpage !== 0 && subpage !== 0xff) return invalidFieldInCdb(state, host, 3);
  const codes = pageCode === ModePage.AllPages ? SUPPORTED_MODE_PAGES : [pageCode];
  const pages: Buffer[] = [];
  let pagesLength = 0;
  for (const code of codes) {
    const page = lun.mode.page(code, pageControl);
    if (!page) return invalidFieldInCdb(state, host, 2, 5);
    pages.push(page);
    pagesLength += page.length;
  }
  const be = lun.be;
  const headerLength = is6 ? 4 : 8;
  const descriptorLength = dbd ? 0 : llbaa ? 16 : 8;
  const data = Buffer.alloc(headerLength + descriptorLength + pagesLength);
  // SBC-3 mode parameter header: WP for a read-only or software write protected (Control
  // SWP) LUN, DPOFUA since DPO and FUA are supported.
  const deviceSpecific = (be.readOnly || lun.mode.swp ? 0x80 : 0) | 0x10;
  if (is6) {
    data[0] = data.length - 1; // MODE DATA LENGTH
    data[2] = deviceSpecific;
    data[3] = descriptorLength;
  } else {
    data.writeUInt16BE(data.length - 2, 0);
    data[3] = deviceSpecific;
    data[4] = llbaa && !dbd ? 0x01 : 0x00; // LONGLBA
    data.writeUInt16BE(descriptorLength, 6);
  }
  let off = headerLength;
  if (descriptorLength === 8) {
    // SBC-3 short LBA mode parameter block descriptor.
    data.writeUInt32BE(Math.min(be.numBlocks, 0xffffffff), off);
    data.writeUIntBE(be.blockSize, off + 5, 3);
  } else if (descriptorLength === 16) {
    // SBC-3 long LBA mode parameter block descriptor.
    data.writeUInt32BE(Math.floor(be.numBlocks / 0x1_0000_0000), off);
    data.writeUInt32BE(be.numBlocks % 0x1_0000_0000, off + 4);
    data.writeUInt32BE(be.blockSize, off + 12);
  }
  off += descriptorLength;
  for (const page of pages) {
    page.copy(data, off);
    off += page.length;
  }
  host.sendData(state, data, allocationLength);
}

/**
 * MODE SELECT(6) and MODE SELECT(10) (SPC-4 §6.9, §6.10): accepts the
 * changeable fields only (Caching WCE, Control D_SENSE and SWP); clearing WCE
 * or setting SWP flushes a write-back backend's cache before GOOD; the block
 * descriptor's block length must match the LUN's, its block count is
 * ignored. All pages are validated before any is applied.
 */
export function modeSelect(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('MODE SELECT without a LUN');
  const cdb = state.io.cdb;
  const is6 = cdb[0] === ScsiOpcode.ModeSelect6;
  // SPC-4 §6.9: SP = 1 asks to save pages; saving is not supported.
  if (((cdb[1] ?? 0) & 0x01) !== 0) return invalidFieldInCdb(state, host, 1, 0);
  const length = is6 ? (cdb[4] ?? 0) : cdb.readUInt16BE(7);
  if (length === 0) return good(state, host);
  const headerLength = is6 ? 4 : 8;
  if (length < headerLength) {
    return checkCondition(state, host, SenseKey.IllegalRequest, Asc.ParameterListLengthError);
  }
  host.receiveData(state, length, (data) => {
    const descriptorLength = is6 ? (data[3] ?? 0) : data.readUInt16BE(6);
    const longLba = !is6 && ((data[4] ?? 0) & 0x01) !== 0;
    if ((data[1] ?? 0) !== 0) return invalidFieldInParameterList(state, host, 1); // MEDIUM TYPE
    const expected = longLba ? 16 : 8;
    if (descriptorLength !== 0 && descriptorLength !== expected) {
      return invalidFieldInParameterList(state, host, is6 ? 3 : 6);
    }
    if (headerLength + descriptorLength > length) {
      return checkCondition(state, host, SenseKey.IllegalRequest, Asc.ParameterListLengthError);
    }
    if (descriptorLength !== 0) {
      const blockLengthOffset = headerLength + (longLba ? 12 : 5);
      const blockLength = longLba ? data.readUInt32BE(blockLengthOffset) : data.readUIntBE(blockLengthOffset, 3);
      if (blockLength !== lun.be.blockSize) return invalidFieldInParameterList(state, host, blockLengthOffset);
    }
    const pages: Buffer[] = [];
    let changed = false;
    for (let off = headerLength + descriptorLength; off < length; ) {
      if (off + 2 > length) {
        return checkCondition(state, host, SenseKey.IllegalRequest, Asc.ParameterListLengthError);
      }
      const end = off + 2 + (data[off + 1] ?? 0);
      if (end > length) return checkCondition(state, host, SenseKey.IllegalRequest, Asc.ParameterListLengthError);
      const page = data.subarray(off, end);
      const r = lun.mode.check(page);
      if (!r.ok) return invalidFieldInParameterList(state, host, off + r.byte, r.bit);
      changed ||= r.changed;
      pages.push(page);
      off = end;
    }
    const { wce, swp } = lun.mode;
    for (const page of pages) lun.mode.apply(page);
    // SPC-4 §6.9: other I_T nexuses learn of the change through a unit attention.
    if (changed) host.modeParametersChanged(lun, state.initiatorIndex);
    // SBC-3 Caching page: with WCE = 0 written data must be on the medium; SPC-4 §7.5.8:
    // SWP inhibits writing "after writing all cached or buffered write data". Either
    // change flushes the backend's write cache (MODE SELECT already waited for older writes).
    if (lun.be.writeCache && ((wce && !lun.mode.wce) || (!swp && lun.mode.swp))) {
      return host.submit(state, { op: 'flush', lba: 0, blocks: 0, immed: false });
    }
    good(state, host);
  });
}

