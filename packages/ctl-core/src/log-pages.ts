/**
 * LOG SENSE (SPC-4 §6.8) and the log pages of a LUN (SPC-4 §7.3; FreeBSD
 * `ctl_log_sense`): Supported Log Pages (00h), Supported Log Pages and
 * Subpages (00h/FFh), Temperature (0Dh) and Informational Exceptions (2Fh).
 *
 * What it does: builds each page, applies the PARAMETER POINTER (parameters
 * with a code at or above it) and the page control field (all four values
 * give the same data: no parameter here has thresholds or is resettable).
 *
 * What it does NOT do: the target has no temperature sensor and no failure
 * prediction, so the temperature reads FFh ("not available", SPC-4 §7.3.21)
 * and the informational exception ASC/ASCQ is 00h/00h; saving log
 * parameters (SP = 1) is not supported (INVALID FIELD IN CDB), and LOG
 * SELECT is not offered (INVALID COMMAND OPERATION CODE: nothing is
 * changeable or resettable). Buffers returned are freshly allocated and owned
 * by the caller.
 */
import { invalidFieldInCdb, type CommandHost } from './command.js';
import type { IoState } from './io-state.js';

/** Log page codes (SPC-4 §7.3.1, table 340). */
export const LogPage = {
  SupportedPages: 0x00,
  Temperature: 0x0d,
  InformationalExceptions: 0x2f,
} as const;

/** SUBPAGE CODE FFh of page 00h: supported log pages and subpages (SPC-4 §7.3.18). */
const ALL_SUBPAGES = 0xff;

/** Supported (page, subpage) pairs, ascending (SPC-4 §7.3.18). */
export const SUPPORTED_LOG_PAGES: readonly (readonly [number, number])[] = [
  [LogPage.SupportedPages, 0x00],
  [LogPage.SupportedPages, ALL_SUBPAGES],
  [LogPage.Temperature, 0x00],
  [LogPage.InformationalExceptions, 0x00],
];

/** "Not available" temperature (SPC-4 §7.3.21). */
const TEMPERATURE_NOT_AVAILABLE = 0xff;
/**
 * Parameter control byte (SPC-4 §7.3.2.2.2): TSD = 1 (the target never saves
 * the parameter), FORMAT AND LINKING = 11b (binary format list).
 */
const PARAMETER_CONTROL = 0x20 | 0x03;

/** One log parameter (SPC-4 §7.3.2.2): code, control byte, value bytes. */
interface LogParameter {
  readonly code: number;
  readonly value: readonly number[];
}

function parameters(page: number): readonly LogParameter[] {
  if (page === LogPage.Temperature) {
    return [
      // SPC-4 §7.3.21: 0000h TEMPERATURE, 0001h REFERENCE TEMPERATURE.
      { code: 0x0000, value: [0x00, TEMPERATURE_NOT_AVAILABLE] },
      { code: 0x0001, value: [0x00, TEMPERATURE_NOT_AVAILABLE] },
    ];
  }
  // SPC-4 §7.3.8: 0000h: INFORMATIONAL EXCEPTION ASC, ASCQ, MOST RECENT TEMPERATURE READING.
  return [{ code: 0x0000, value: [0x00, 0x00, TEMPERATURE_NOT_AVAILABLE] }];
}

function pageHeader(page: number, subpage: number, length: number): Buffer {
  const buf = Buffer.alloc(4 + length);
  // SPC-4 §7.3.2.1: DS = 1 (saving the page is not supported), SPF set for a nonzero subpage.
  buf[0] = 0x80 | (subpage !== 0 ? 0x40 : 0) | page;
  buf[1] = subpage;
  buf.writeUInt16BE(length, 2);
  return buf;
}

/**
 * Builds log page `page`/`subpage` from parameter `pointer` on, or null if
 * the page is not supported; 'pointer' if the pointer is beyond the last
 * parameter code (SPC-4 §6.8: INVALID FIELD IN CDB).
 */
export function buildLogPage(page: number, subpage: number, pointer: number): Buffer | null | 'pointer' {
  if (!SUPPORTED_LOG_PAGES.some(([p, s]) => p === page && s === subpage)) return null;
  if (page === LogPage.SupportedPages) {
    if (subpage === ALL_SUBPAGES) {
      const buf = pageHeader(page, subpage, SUPPORTED_LOG_PAGES.length * 2);
      SUPPORTED_LOG_PAGES.forEach(([p, s], i) => {
        buf[4 + 2 * i] = p;
        buf[5 + 2 * i] = s;
      });
      return buf;
    }
    const codes = [...new Set(SUPPORTED_LOG_PAGES.map(([p]) => p))];
    const buf = pageHeader(page, subpage, codes.length);
    codes.forEach((p, i) => (buf[4 + i] = p));
    return buf;
  }
  const all = parameters(page);
  const last = all[all.length - 1]?.code ?? 0;
  if (pointer > last) return 'pointer';
  const chosen = all.filter((p) => p.code >= pointer);
  let length = 0;
  for (const p of chosen) length += 4 + p.value.length;
  const buf = pageHeader(page, subpage, length);
  let off = 4;
  for (const p of chosen) {
    buf.writeUInt16BE(p.code, off);
    buf[off + 2] = PARAMETER_CONTROL;
    buf[off + 3] = p.value.length;
    Buffer.from(p.value).copy(buf, off + 4);
    off += 4 + p.value.length;
  }
  return buf;
}

/** LOG SENSE (SPC-4 §6.8). */
export function logSense(state: IoState, host: CommandHost): void {
  const cdb = state.io.cdb;
  // SPC-4 §6.8: SP = 1 asks to save log parameters; saving is not supported.
  if (((cdb[1] ?? 0) & 0x01) !== 0) return invalidFieldInCdb(state, host, 1, 0);
  const page = (cdb[2] ?? 0) & 0x3f;
  const subpage = cdb[3] ?? 0;
  const pointer = cdb.readUInt16BE(5);
  const allocationLength = cdb.readUInt16BE(7);
  const data = buildLogPage(page, subpage, pointer);
  if (data === 'pointer') return invalidFieldInCdb(state, host, 5);
  if (data === null) {
    // SPC-4 §6.8: an unsupported page is an invalid PAGE CODE; a supported
    // page with an unsupported subpage is an invalid SUBPAGE CODE.
    const pageKnown = SUPPORTED_LOG_PAGES.some(([p]) => p === page);
    return pageKnown ? invalidFieldInCdb(state, host, 3) : invalidFieldInCdb(state, host, 2, 5);
  }
  host.sendData(state, data, allocationLength);
}
