/**
 * Tunables of the daemon, declared once with their defaults and meaning
 * (CONVENTIONS habit 12), and the negotiation policy derived from them and
 * from the ICL driver's limits.
 *
 * What it does: `DaemonOptions` (what `TargetDaemon` accepts besides the
 * configuration), `DAEMON_DEFAULTS`, and `negotiationPolicy(limits, opts)`
 * which caps what login offers by what the driver of the accepted
 * connection can do (FreeBSD `kernel_limits()` per connection).
 *
 * What it does not do: nothing here is read from the configuration file;
 * `ctl.conf` globals (`timeout`, `maxproc`) are in `config/model.ts`.
 */
import type { CommandObserver } from '@iscsi-target/ctl-frontend-iscsi';
import type { IclDrvLimits } from '@iscsi-target/icl-core';
import { RFC_DEFAULTS, SEGMENT_MAX, type DigestName, type NegotiationPolicy } from './login/negotiate.js';

/** Negotiation preferences (see `login/negotiate.ts` for how each is used). */
export interface NegotiationOptions {
  /**
   * Largest data segment we accept (our MaxRecvDataSegmentLength), further
   * capped by the driver. Default 262144 (256 KiB, what Linux open-iscsi
   * offers by default).
   */
  maxRecvDataSegmentLength?: number;
  /** Our MaxBurstLength offer (capped by the driver). Default 1048576. */
  maxBurstLength?: number;
  /** Our FirstBurstLength offer (capped by the driver and by MaxBurstLength). Default 262144. */
  firstBurstLength?: number;
  /** Digests we accept; the initiator's order of preference decides. Default ['CRC32C', 'None']. */
  headerDigest?: readonly DigestName[];
  dataDigest?: readonly DigestName[];
  /** Our InitialR2T (result = OR). Default true, like ctld. */
  initialR2t?: boolean;
  /** Our ImmediateData (result = AND). Default true. */
  immediateData?: boolean;
}

export const NEGOTIATION_DEFAULTS = {
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 1048576,
  firstBurstLength: 262144,
  headerDigest: ['CRC32C', 'None'] as readonly DigestName[],
  dataDigest: ['CRC32C', 'None'] as readonly DigestName[],
  initialR2t: true,
  immediateData: true,
} as const;

/** Fixed parts of the policy: what this implementation supports (freebsd-arch §11.5). */
const FIXED = {
  /** One connection per session (no MC/S). */
  maxConnections: 1,
  /** ERL 0 only. */
  errorRecoveryLevel: 0,
  /** One R2T at a time, like ctld. */
  maxOutstandingR2t: 1,
  /** No minimum wait before reconnecting from our side; the initiator's value wins (max). */
  defaultTime2Wait: 0,
  /** Nothing is retained after a connection loss at ERL 0. */
  defaultTime2Retain: 0,
  /** RFC 7143 (level 1); RFC 7144 additions are not implemented. */
  protocolLevel: 1,
} as const;

function capped(driver: number, wanted: number): number {
  // 0 from a driver means "no opinion" (icl-core `IclDrvLimits`).
  return Math.min(driver === 0 ? SEGMENT_MAX : driver, wanted);
}

/**
 * The negotiation policy for one accepted connection: our preferences
 * capped by the driver's limits. Throws `RangeError` on options outside RFC
 * ranges.
 */
export function negotiationPolicy(limits: IclDrvLimits, options: NegotiationOptions = {}): NegotiationPolicy {
  const o = { ...NEGOTIATION_DEFAULTS, ...options };
  for (const k of ['maxRecvDataSegmentLength', 'maxBurstLength', 'firstBurstLength'] as const) {
    const v = o[k];
    if (!Number.isInteger(v) || v < 512 || v > SEGMENT_MAX) throw new RangeError(`${k} must be an integer in [512, ${SEGMENT_MAX}], got ${v}`);
  }
  const maxBurstLength = capped(limits.maxBurstLength, o.maxBurstLength);
  return {
    maxRecvDataSegmentLength: capped(limits.maxRecvDataSegmentLength, o.maxRecvDataSegmentLength),
    maxSendDataSegmentLength: limits.maxSendDataSegmentLength === 0 ? SEGMENT_MAX : limits.maxSendDataSegmentLength,
    maxBurstLength,
    firstBurstLength: Math.min(capped(limits.firstBurstLength, o.firstBurstLength), maxBurstLength),
    headerDigest: o.headerDigest,
    dataDigest: o.dataDigest,
    initialR2t: o.initialR2t,
    immediateData: o.immediateData,
    ...FIXED,
  };
}

/** Tunables of `TargetDaemon` beyond the configuration file. */
export interface DaemonOptions {
  /** Zero-copy Data-In (the frontend's `noCopy`). Default true; `--copy` turns it off for comparison. */
  noCopy?: boolean;
  /** Negotiation preferences. */
  negotiation?: NegotiationOptions;
  /** Cap on a login's key=value text reassembled from PDUs with the C bit. Default 65536. */
  maxLoginTextLength?: number;
  /**
   * Connections waiting for a login slot when `maxproc` logins are running
   * (beyond it, new connections are closed at once). Default 1024.
   */
  maxQueuedLogins?: number;
  /** How long `stop()` waits for sessions to log out before closing them. Default 2000 ms. */
  stopGraceMs?: number;
  /**
   * Delay before a login that failed authentication or authorization
   * (0x0201/0x0202) is answered and closed; the connection keeps its login
   * slot meanwhile, so guessing is slowed to `maxproc` tries per delay.
   * Default 1000 ms.
   */
  authFailureDelayMs?: number;
  /**
   * The daemon's state directory (the CLI's `--data-dir`): `known-stores.json`
   * there records the backing files served, so a missing one is refused
   * instead of re-created empty. Default none (nothing is remembered).
   */
  stateDir?: string;
  /** How often served backing files are checked for deletion (fstat nlink, path → inode). Default 10000 ms; 0 = only at reload. */
  storeCheckIntervalMs?: number;
  /** Told about every finished SCSI command (the metrics, `metrics/target-metrics.ts`). Default none. */
  commandObserver?: CommandObserver;
}

export const DAEMON_DEFAULTS = {
  noCopy: true,
  maxLoginTextLength: 64 * 1024,
  maxQueuedLogins: 1024,
  stopGraceMs: 2000,
  authFailureDelayMs: 1000,
  storeCheckIntervalMs: 10_000,
} as const;

/** Re-exported for callers building a policy by hand (tests). */
export { RFC_DEFAULTS };
