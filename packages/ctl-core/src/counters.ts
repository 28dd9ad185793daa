/**
 * The copy tally the CTL layer charges (DESIGN.md §3.3): payload bytes that
 * the core itself copies in userspace versus passes by reference. "out" is
 * device → initiator, "in" is initiator → device. Data CTL generates itself
 * (INQUIRY, MODE SENSE, REPORT LUNS, sense) is not payload and is never
 * counted; READ/WRITE payload is moved by the backend and the frontend, so
 * the core counts only the third-party copy manager's own copies.
 *
 * This is a shape, not a second implementation: the counter class with
 * `snapshot()`/`reset()` is icl-core's `CopyCounters`, whose instances an
 * embedder may pass as `CtlOptions.counters`. ctl-core names the four
 * fields it charges because it may not import icl-core (DESIGN.md §2).
 */
export interface CtlCopyCounters {
  copiedIn: number;
  copiedOut: number;
  referencedIn: number;
  referencedOut: number;
}

/** A zeroed tally. */
export function newCtlCopyCounters(): CtlCopyCounters {
  return { copiedIn: 0, copiedOut: 0, referencedIn: 0, referencedOut: 0 };
}

/** The process-wide CTL tally, used when a `Ctl` is given none. */
export const ctlCopyCounters: CtlCopyCounters = newCtlCopyCounters();
