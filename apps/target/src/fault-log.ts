/**
 * The daemon's log of backend faults (issue 13 item 6): storage errors a
 * LUN's backend reported (ENOSPC, EDQUOT, EIO, EROFS...), written to the log
 * with the LUN's name, rate-limited so a full disk under a busy initiator
 * does not flood it.
 *
 * What it does: `report(lun, fault)` logs the first fault of each (LUN,
 * errno) pair at once — at warn for "no space" (ENOSPC/EDQUOT: the operator
 * must free space or grow the file system; the initiator sees 27h/07h and
 * can retry) and at error for everything else (I/O errors, read-only file
 * systems, errors without an errno) — and then at most one line per
 * `intervalMs` for that pair, which says how many were suppressed since the
 * last line. What it does not do: it does not count (the metered LUN keeps
 * the counts shown by `lun list` and the metrics), and it holds no Buffers.
 */
import type { Logger } from './logger.js';
import type { BackendFault } from './lun-stats.js';

/** Default minimum interval between two lines for one (LUN, errno) pair. */
export const FAULT_LOG_INTERVAL_MS = 10_000;

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

interface PairState {
  lastLogged: number;
  suppressed: number;
}

export class FaultLog {
  readonly #log: Logger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #pairs = new Map<string, PairState>();

  constructor(log: Logger, options: { intervalMs?: number; now?: () => number } = {}) {
    this.#log = log;
    this.#intervalMs = options.intervalMs ?? FAULT_LOG_INTERVAL_MS;
    this.#now = options.now ?? Date.now;
  }

  report(lun: string, fault: BackendFault): void {
    const code = fault.code ?? 'error';
    const key = `${lun}\u0000${code}`;
    const now = this.#now();
    const st = this.#pairs.get(key);
    if (st !== undefined && now - st.lastLogged < this.#intervalMs) {
      st.suppressed++;
      return;
    }
    const suppressed = st?.suppressed ?? 0;
    this.#pairs.set(key, { lastLogged: now, suppressed: 0 });
    const noSpace = NO_SPACE.has(code);
    const what = noSpace ? 'no space left for the backing store' : `storage ${fault.op} error`;
    const more = suppressed > 0 ? ` (${suppressed} more since the last report)` : '';
    const fields = { lun, code, op: fault.op, suppressed };
    const msg = `lun "${lun}": ${what}: ${code} on ${fault.op}${more}: ${fault.message}`;
    if (noSpace) this.#log.warn(fields, msg);
    else this.#log.error(fields, msg);
  }
}
