/**
 * Tunables of the iSCSI frontend, declared once with their defaults (the
 * analog of cfiscsi's `kern.cam.ctl.iscsi.*` sysctls), and the logger
 * interface the frontend writes to.
 *
 * What it does: names every option, documents it, supplies the default and
 * validates a user-supplied set (`resolveFrontendOptions`).
 *
 * What it does not do: nothing here is negotiated with the initiator — the
 * per-session iSCSI parameters (MaxBurstLength, ImmediateData, ...) come from
 * login through `HandoffParams` (see `handoff.ts`).
 */
import type { CommandObserver } from './command-observer.js';
import type { IscsiSession } from './session.js';

/** A pino-compatible logger: `(object, message)` per level. */
export interface Logger {
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
  debug(obj: Record<string, unknown>, msg?: string): void;
}

const noop = (): void => {};
/** The default logger: discards everything. */
export const nullLogger: Logger = { info: noop, warn: noop, error: noop, debug: noop };

/**
 * Answers the keys of a Text Request received in full feature phase (e.g.
 * `SendTargets`; the daemon owns the discovery data). Keys the answer does
 * not mention are answered `NotUnderstood` by the frontend. If it throws,
 * the error is logged and every key is answered `NotUnderstood`.
 */
export type TextRequestHandler = (
  session: IscsiSession,
  keys: Array<[string, string]>,
) => Array<[string, string]>;

export interface FrontendOptions {
  /**
   * Command window: MaxCmdSN = ExpCmdSN − 1 + max(0, maxTags − outstanding
   * CTL I/Os). FreeBSD `kern.cam.ctl.iscsi.maxtags`. Default 256.
   */
  maxTags?: number;
  /**
   * Send a target ping (NOP-In with a valid TTT) after this much silence
   * from the initiator, then again every interval while it stays silent.
   * 0 disables pings (some initiators, e.g. iPXE, mishandle NOP-In).
   * Default 2000 (FreeBSD pings after ~2 s idle).
   */
  pingIntervalMs?: number;
  /**
   * Terminate the session after this much silence from the initiator (no
   * PDU at all, including ping answers). 0 disables. Default 5000
   * (FreeBSD `kern.cam.ctl.iscsi.ping_timeout` = 5 s).
   */
  pingTimeoutMs?: number;
  /**
   * Data-In borrows the backend's buffers (`pduAppendData(..., { noCopy })`
   * with one `kernDataRef` reference per PDU) when the I/O offers
   * `kernDataRef`. false: always copy (for comparison). Default true.
   */
  noCopy?: boolean;
  /**
   * `removeTarget`/`shutdown`: how long sessions get to log out after the
   * Async Message "target requests logout" before they are terminated.
   * Also sent as Parameter3 (seconds, rounded up). Default 5000.
   */
  logoutGraceMs?: number;
  /**
   * After a Logout Response (or a Reject that ends the session) is queued,
   * the longest wait for its completion before the session is terminated
   * anyway. Default 5000.
   */
  closeTimeoutMs?: number;
  /** Cap on a Text Request reassembled from PDUs with the C bit. Default 65536. */
  maxTextRequestLength?: number;
  /** Where to log. Default: a no-op logger. */
  logger?: Logger;
  /** Answers full-feature-phase Text Requests (see `TextRequestHandler`). */
  onTextRequest?: TextRequestHandler;
  /** Told about every finished SCSI command (metrics); see `command-observer.ts`. Default none. */
  commandObserver?: CommandObserver;
}

export interface ResolvedFrontendOptions {
  readonly maxTags: number;
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  readonly noCopy: boolean;
  readonly logoutGraceMs: number;
  readonly closeTimeoutMs: number;
  readonly maxTextRequestLength: number;
  readonly logger: Logger;
  readonly onTextRequest: TextRequestHandler | null;
  readonly commandObserver: CommandObserver | null;
}

export const FRONTEND_DEFAULTS = {
  maxTags: 256,
  pingIntervalMs: 2000,
  pingTimeoutMs: 5000,
  noCopy: true,
  logoutGraceMs: 5000,
  closeTimeoutMs: 5000,
  maxTextRequestLength: 64 * 1024,
} as const;

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`option ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/** Applies defaults and validates. Throws `RangeError` on a bad value. */
export function resolveFrontendOptions(options: FrontendOptions = {}): ResolvedFrontendOptions {
  const day = 86_400_000;
  return {
    // The window is a 31-bit serial-number distance (RFC 1982); keep it far below.
    maxTags: checkInt('maxTags', options.maxTags ?? FRONTEND_DEFAULTS.maxTags, 1, 0x10000),
    pingIntervalMs: checkInt('pingIntervalMs', options.pingIntervalMs ?? FRONTEND_DEFAULTS.pingIntervalMs, 0, day),
    pingTimeoutMs: checkInt('pingTimeoutMs', options.pingTimeoutMs ?? FRONTEND_DEFAULTS.pingTimeoutMs, 0, day),
    noCopy: options.noCopy ?? FRONTEND_DEFAULTS.noCopy,
    logoutGraceMs: checkInt('logoutGraceMs', options.logoutGraceMs ?? FRONTEND_DEFAULTS.logoutGraceMs, 0, day),
    closeTimeoutMs: checkInt('closeTimeoutMs', options.closeTimeoutMs ?? FRONTEND_DEFAULTS.closeTimeoutMs, 1, day),
    maxTextRequestLength: checkInt(
      'maxTextRequestLength',
      options.maxTextRequestLength ?? FRONTEND_DEFAULTS.maxTextRequestLength,
      1,
      16 * 1024 * 1024,
    ),
    logger: options.logger ?? nullLogger,
    onTextRequest: options.onTextRequest ?? null,
    commandObserver: options.commandObserver ?? null,
  };
}
