/**
 * Mode pages of a LUN (FreeBSD `ctl.c` mode page tables, SPC-4 §7.5, SBC-3
 * mode parameters): the current, changeable and default copies of Read-Write Error
 * Recovery (01h), Caching (08h), Control (0Ah) and Informational Exceptions
 * Control (1Ch), and the validation and application of a page received by
 * MODE SELECT. Changeable: Caching WCE (if the backend has a write cache),
 * Control D_SENSE and SWP. The Informational Exceptions Control page reports
 * DEXCPT = 1 and MRIE = 0 and nothing in it is changeable: the target has no
 * failure prediction, so there is never an exception to report.
 *
 * Does NOT build the mode parameter header or block descriptor (the MODE
 * SENSE handler does), does not support saved values (no persistent store),
 * and has no subpages. Buffers returned are freshly allocated and owned by the
 * caller.
 */
import type { BackendLunInfo } from './backend.js';
import { ModePage, PageControl } from './scsi-proto.js';

/** Page codes supported, in the order MODE SENSE returns them for 3Fh. */
export const SUPPORTED_MODE_PAGES: readonly number[] = [
  ModePage.ReadWriteErrorRecovery,
  ModePage.Caching,
  ModePage.Control,
  ModePage.InformationalExceptionsControl,
];

/** Page lengths (bytes after the 2-byte page header). */
const PAGE_LENGTH: ReadonlyMap<number, number> = new Map([
  [ModePage.ReadWriteErrorRecovery, 0x0a],
  [ModePage.Caching, 0x12],
  [ModePage.Control, 0x0a],
  [ModePage.InformationalExceptionsControl, 0x0a],
]);

/** Caching page byte 2: WCE (SBC-3 Caching mode page). */
const CACHING_WCE = 0x04;
/** Control page byte 2: D_SENSE and GLTSD (SPC-4 §7.5.8). */
const CONTROL_D_SENSE = 0x04;
const CONTROL_GLTSD = 0x02;
/** Control page byte 4: SWP, software write protect (SPC-4 §7.5.8). */
const CONTROL_SWP = 0x08;
/** Informational Exceptions Control page byte 2: DEXCPT (SPC-4 §7.5.9). */
const IEC_DEXCPT = 0x08;
/** Read-Write Error Recovery page byte 2: AWRE | ARRE (SBC-3 Read-Write Error Recovery mode page). */
const RWER_AWRE_ARRE = 0xc0;

/** Result of validating a MODE SELECT page. */
export type ModeSelectResult =
  | { readonly ok: true; readonly changed: boolean }
  /** `byte` is relative to the start of the page; `bit` is the offending bit. */
  | { readonly ok: false; readonly byte: number; readonly bit?: number };

/** Mode page state of one LUN. */
export class ModeState {
  /** Current Caching page WCE. */
  wce: boolean;
  /** Current Control page D_SENSE: report sense in descriptor format. */
  dSense: boolean;
  /** Current Control page SWP: the medium is write protected (SPC-4 §7.5.8). */
  swp = false;
  readonly #defaultWce: boolean;
  readonly #defaultDSense: boolean;
  readonly #wceChangeable: boolean;

  constructor(be: BackendLunInfo, descriptorSense: boolean) {
    this.#defaultWce = be.writeCache;
    this.#wceChangeable = be.writeCache;
    this.#defaultDSense = descriptorSense;
    this.wce = this.#defaultWce;
    this.dSense = descriptorSense;
  }

  /** Whether `pageCode` is supported. */
  supports(pageCode: number): boolean {
    return PAGE_LENGTH.has(pageCode);
  }

  /**
   * The page in the requested page control form (SPC-4 §6.11.1): current,
   * changeable (a mask of changeable bits) or default. Saved is not supported
   * and must be rejected by the caller. Null for an unsupported page.
   */
  page(pageCode: number, pageControl: number): Buffer | null {
    const len = PAGE_LENGTH.get(pageCode);
    if (len === undefined) return null;
    const buf = Buffer.alloc(2 + len);
    buf[0] = pageCode; // PS = 0: the page cannot be saved
    buf[1] = len;
    const changeable = pageControl === PageControl.Changeable;
    const wce = pageControl === PageControl.Default ? this.#defaultWce : this.wce;
    const dSense = pageControl === PageControl.Default ? this.#defaultDSense : this.dSense;
    switch (pageCode) {
      case ModePage.ReadWriteErrorRecovery:
        if (!changeable) buf[2] = RWER_AWRE_ARRE;
        break;
      case ModePage.Caching:
        if (changeable) buf[2] = this.#wceChangeable ? CACHING_WCE : 0;
        else buf[2] = wce ? CACHING_WCE : 0;
        break;
      case ModePage.Control:
        if (changeable) {
          buf[2] = CONTROL_D_SENSE;
          buf[4] = CONTROL_SWP;
        } else {
          buf[2] = CONTROL_GLTSD | (dSense ? CONTROL_D_SENSE : 0);
          // SPC-4 §7.5.8: SWP defaults to zero.
          if (pageControl !== PageControl.Default && this.swp) buf[4] = CONTROL_SWP;
        }
        break;
      case ModePage.InformationalExceptionsControl:
        // SPC-4 §7.5.9: DEXCPT = 1 (informational exception operations disabled), MRIE = 0.
        if (!changeable) buf[2] = IEC_DEXCPT;
        break;
    }
    return buf;
  }

  /**
   * Validates one page of a MODE SELECT parameter list without applying it
   * (SPC-4 §6.9: a non-changeable field set to another value than the current
   * one is INVALID FIELD IN PARAMETER LIST). `page` is a view of the page
   * bytes. Returns whether applying it would change anything.
   */
  check(page: Buffer): ModeSelectResult {
    const b0 = page[0] ?? 0;
    const pageCode = b0 & 0x3f;
    // SPC-4 §7.5.7: SPF = 1 means a subpage; none is supported.
    if ((b0 & 0x40) !== 0) return { ok: false, byte: 0, bit: 6 };
    const current = this.page(pageCode, PageControl.Current);
    const mask = this.page(pageCode, PageControl.Changeable);
    if (!current || !mask) return { ok: false, byte: 0, bit: 5 };
    if (page.length < current.length || page[1] !== current[1]) return { ok: false, byte: 1 };
    let changed = false;
    for (let i = 2; i < current.length; i++) {
      const delta = ((page[i] ?? 0) ^ (current[i] ?? 0)) & 0xff;
      const bad = delta & ~(mask[i] ?? 0) & 0xff;
      if (bad !== 0) return { ok: false, byte: i, bit: 31 - Math.clz32(bad) };
      if (delta !== 0) changed = true;
    }
    return { ok: true, changed };
  }

  /** Applies a page that `check` accepted. */
  apply(page: Buffer): void {
    const pageCode = (page[0] ?? 0) & 0x3f;
    if (pageCode === ModePage.Caching) this.wce = ((page[2] ?? 0) & CACHING_WCE) !== 0;
    else if (pageCode === ModePage.Control) {
      this.dSense = ((page[2] ?? 0) & CONTROL_D_SENSE) !== 0;
      this.swp = ((page[4] ?? 0) & CONTROL_SWP) !== 0;
    }
  }
}
