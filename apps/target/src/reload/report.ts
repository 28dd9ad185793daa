/**
 * What a live reload reports (to the log, to the admin CLI) and the error a
 * reload that changes nothing throws.
 *
 * What it does: plain data. What it does not do: no formatting beyond one
 * line per action (`actions`), no I/O.
 */

export class ReloadError extends Error {
  override readonly name = 'ReloadError';
  readonly code = 'TARGET_ERR_RELOAD';
}

export interface ReloadReport {
  /** The configuration file (or source) that was applied. */
  readonly source: string;
  /** False when the new configuration equals the running one. */
  readonly changed: boolean;
  /** One human-readable line per applied action, in order. */
  readonly actions: readonly string[];
  /** Actions that failed after the point of no return (logged as errors). */
  readonly errors: readonly string[];
  /** Changes accepted but only effective at the next start (e.g. `pidfile`). */
  readonly deferred: readonly string[];
  /**
   * Standing problems found at this reload, changed or not (logged as errors):
   * a served LUN whose backing file was deleted, moved or replaced, a LUN of
   * the configuration not served because its file is missing.
   */
  readonly problems: readonly string[];
}
