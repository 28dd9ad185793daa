/**
 * A `BufRef` that counts, for tests of the borrowed-memory contract
 * (DESIGN.md §3.1): every `retain` must be matched by exactly one `release`,
 * and a release beyond the retains is recorded as a violation (and thrown).
 *
 * What it does not do: own memory. Pair it with a Buffer the test keeps, or
 * see icl-soft's tests for a pooled-buffer model that recycles memory when
 * the count drops to zero.
 */
import type { BufRef } from '@iscsi-target/icl-core/kpi';

export class CountingRef implements BufRef {
  retains = 0;
  releases = 0;
  /** Releases that found no outstanding retain (always a bug). */
  overReleases = 0;
  /** Called when the count drops to zero after a release. */
  onZero: (() => void) | null = null;

  retain(): void {
    this.retains++;
  }

  release(): void {
    if (this.releases >= this.retains) {
      this.overReleases++;
      throw new Error('BufRef released more often than retained');
    }
    this.releases++;
    if (this.releases === this.retains) this.onZero?.();
  }

  /** Retains not yet released. */
  get outstanding(): number {
    return this.retains - this.releases;
  }
}
