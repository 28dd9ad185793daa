/**
 * Copy counters for the ICL layer (DESIGN.md §3.3): payload bytes copied in
 * userspace versus passed by reference, per direction. "out" is target →
 * initiator (Data-In and other data segments we send), "in" is initiator →
 * target (Data-Out, immediate data). Only data-segment payload is counted,
 * never the 48-byte headers, padding or digests.
 */
export class CopyCounters {
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

/** The process-wide ICL counters, used when a connection is given none. */
export const iclCopyCounters = new CopyCounters();
