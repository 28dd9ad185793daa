/**
 * Sequence-number arithmetic and the CmdSN window (RFC 7143 §4.2.2.1, with
 * RFC 1982 serial number arithmetic, SERIAL_BITS = 32) — pure functions, no
 * state beyond the `CmdSnWindow` value object.
 *
 * What it does: compares and adds 32-bit sequence numbers modulo 2^32,
 * decides what to do with a received CmdSN (accept / silently ignore /
 * gap), and computes the MaxCmdSN to advertise from the number of
 * outstanding CTL I/Os (FreeBSD `cfiscsi_pdu_update_cmdsn` and
 * `cfiscsi_pdu_prepare`).
 *
 * What it does not do: no StatSN bookkeeping, no PDU access, no session
 * termination — the session acts on the verdict.
 */

/** `(a + n) mod 2^32`. `n` may be negative. */
export function snAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/**
 * RFC 1982 §3.2 "s1 < s2" for 32-bit serial numbers. The comparison of two
 * numbers exactly 2^31 apart is undefined by the RFC; this returns true for
 * both orders then, which no caller relies on (windows are far smaller).
 */
export function snLt(a: number, b: number): boolean {
  return a !== b && ((a - b) | 0) < 0;
}

export function snGt(a: number, b: number): boolean {
  return snLt(b, a);
}

export function snLte(a: number, b: number): boolean {
  return a === b || snLt(a, b);
}

export function snGte(a: number, b: number): boolean {
  return a === b || snLt(b, a);
}

/** What to do with a received non-immediate CmdSN. */
export const CmdSnVerdict = {
  /** CmdSN == ExpCmdSN: process it; ExpCmdSN advances. */
  Accept: 'accept',
  /** Outside [ExpCmdSN, ExpCmdSN − 1 + maxTags]: silently ignore (RFC 7143 §4.2.2.1). */
  Ignore: 'ignore',
  /**
   * Inside the window but not the expected one: with one connection and
   * ERL 0 a command PDU was lost, which cannot be recovered — the session
   * must be terminated (FreeBSD does the same).
   */
  Gap: 'gap',
} as const;
export type CmdSnVerdict = (typeof CmdSnVerdict)[keyof typeof CmdSnVerdict];

/**
 * Classifies a received CmdSN against ExpCmdSN. The upper edge of the
 * window is ExpCmdSN − 1 + maxTags, the largest MaxCmdSN this target ever
 * advertises, so no command sent within an advertised window is dropped.
 */
export function checkCmdSn(cmdSn: number, expCmdSn: number, maxTags: number): CmdSnVerdict {
  // RFC 7143 §4.2.2.1: "the target MUST silently ignore any non-immediate
  // command outside of this range".
  if (snLt(cmdSn, expCmdSn) || snGt(cmdSn, snAdd(expCmdSn, maxTags - 1))) return CmdSnVerdict.Ignore;
  return cmdSn === expCmdSn ? CmdSnVerdict.Accept : CmdSnVerdict.Gap;
}

/**
 * MaxCmdSN = ExpCmdSN − 1 + max(0, maxTags − outstanding). Never below
 * ExpCmdSN − 1: RFC 7143 §4.2.2.1 lets the window close to zero
 * (MaxCmdSN = ExpCmdSN − 1) but not further.
 */
export function computeMaxCmdSn(expCmdSn: number, maxTags: number, outstanding: number): number {
  return snAdd(expCmdSn, -1 + Math.max(0, maxTags - outstanding));
}

/** The session's command-numbering state. */
export class CmdSnWindow {
  /** The next CmdSN expected (ExpCmdSN). */
  expCmdSn: number;
  readonly maxTags: number;

  /**
   * @param expCmdSn the CmdSN of the last login request: login PDUs are
   *   immediate, so the first full-feature command carries it again.
   */
  constructor(expCmdSn: number, maxTags: number) {
    this.expCmdSn = expCmdSn >>> 0;
    this.maxTags = maxTags;
  }

  /**
   * Checks a received CmdSN. Immediate PDUs (I bit) are neither checked nor
   * advance ExpCmdSN (RFC 7143 §4.2.2.1, §3.2.2.1); they are always
   * accepted. An accepted non-immediate CmdSN advances ExpCmdSN.
   */
  receive(cmdSn: number, immediate: boolean): CmdSnVerdict {
    if (immediate) return CmdSnVerdict.Accept;
    const verdict = checkCmdSn(cmdSn >>> 0, this.expCmdSn, this.maxTags);
    if (verdict === CmdSnVerdict.Accept) this.expCmdSn = snAdd(this.expCmdSn, 1);
    return verdict;
  }

  maxCmdSn(outstanding: number): number {
    return computeMaxCmdSn(this.expCmdSn, this.maxTags, outstanding);
  }
}
