/**
 * Copy counters for the CTL layer (DESIGN.md §3.3): payload bytes that the
 * core itself copies in userspace versus passes by reference. "out" is
 * device → initiator, "in" is initiator → device. Data CTL generates itself
 * (INQUIRY, MODE SENSE, REPORT LUNS, sense) is not payload and is never
 * counted; READ/WRITE payload is moved by the backend and the frontend, so
 * the core counts nothing on those paths. Backends keep their own counters.
 */
export class CtlCopyCounters {
  copiedIn = 0;
  copiedOut = 0;
  referencedIn = 0;
  referencedOut = 0;

  snapshot(): { copiedIn: number; copiedOut: number; referencedIn: number; referencedOut: number } {
    return {
      copiedIn: this.copiedIn,
      copiedOut: this.copiedOut,
      referencedIn: this.referencedIn,
      referencedOut: this.referencedOut,
    };
  }

  reset(): void {
    this.copiedIn = this.copiedOut = this.referencedIn = this.referencedOut = 0;
  }
}

/** The process-wide CTL counters, used when a `Ctl` is given none. */
export const ctlCopyCounters = new CtlCopyCounters();
