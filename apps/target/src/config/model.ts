/**
 * The configuration model: what the daemon serves, after parsing and
 * checking — portal groups, targets and LUNs as in FreeBSD's `ctl.conf(5)`.
 *
 * What it does: declares plain, immutable data. Every entity keeps where it
 * was defined so later checks (opening a LUN's file, listening on a portal)
 * can report `file:line:col`.
 *
 * What it does not do: no parsing (`parser.ts`), no I/O, no behaviour.
 */
import type { SourcePos } from './errors.js';
import type { ListenAddress } from './listen-address.js';

/**
 * Authentication of a target or of discovery on a portal group. This first
 * cut knows the predefined auth groups of ctld only: `no-authentication`
 * (`none`) and `default`/`no-access` (`deny`). CHAP is a later issue.
 */
export type AuthPolicy = 'none' | 'deny';

/** ctld's `discovery-filter`. */
export type DiscoveryFilter = 'none' | 'portal' | 'portal-name' | 'portal-name-auth';

export interface PortalGroupConfig {
  readonly name: string;
  /** Target Portal Group Tag, 0..65535 (RFC 7143 §13.10). */
  readonly tag: number;
  readonly listen: readonly ListenAddress[];
  readonly discoveryAuth: AuthPolicy;
  readonly discoveryFilter: DiscoveryFilter;
  /** ICL driver name (`offload`); "none" is the soft driver. */
  readonly offload: string;
  /** `option NAME VALUE` (CTL port options): parsed and kept, not applied yet (a warning says so). */
  readonly options: ReadonlyMap<string, string>;
  readonly pos: SourcePos;
}

export type LunBackendType = 'block' | 'ramdisk';

export interface LunConfig {
  /** Top-level name, or "<target>,lun,<n>" for a LUN defined inline. */
  readonly name: string;
  readonly backend: LunBackendType;
  /** File or device path (block backend). */
  readonly path: string | null;
  /** Size in bytes; null = the file's size (block backend only). */
  readonly size: number | null;
  readonly blockSize: number;
  readonly serial: string | null;
  readonly deviceId: string | null;
  /** `ctl-lun N`: a fixed CTL LUN id; null = assigned. */
  readonly ctlLun: number | null;
  /** `option NAME VALUE`, passed to the backend (see README for the known ones). */
  readonly options: ReadonlyMap<string, string>;
  /** Create the backing file (sparse) if it does not exist. Only the embedded default sets this. */
  readonly create: boolean;
  readonly pos: SourcePos;
}

export interface TargetPortalGroupRef {
  readonly portalGroup: string;
  /** Per-portal-group auth override (`portal-group NAME AUTHGROUP`), or null. */
  readonly auth: AuthPolicy | null;
}

export interface TargetConfig {
  /** The iSCSI name (iqn./eui./naa.), as configured. */
  readonly name: string;
  readonly alias: string | null;
  readonly auth: AuthPolicy;
  /** Portal groups through which the target is exported (at least one). */
  readonly portalGroups: readonly TargetPortalGroupRef[];
  /** Target LUN number → LUN. */
  readonly luns: ReadonlyMap<number, LunConfig>;
  readonly pos: SourcePos;
}

export interface DaemonConfig {
  /** The file it came from, or "<embedded default>". */
  readonly source: string;
  /** `debug N`: 0 = info logging, 1 = debug, 2+ = trace. */
  readonly debug: number;
  /** `timeout N`: login timeout in seconds; 0 disables it. */
  readonly timeout: number;
  /** `maxproc N`: concurrent logins/discovery sessions. */
  readonly maxproc: number;
  /** `pidfile PATH`, or null for none. */
  readonly pidfile: string | null;
  /** Beyond ctld: `metrics-listen ADDR:PORT` (the Prometheus endpoint); absent or null = off. */
  readonly metricsListen?: string | null;
  /** Beyond ctld: `nocopy on|off`; absent = not set (the command line or the default decides). */
  readonly nocopy?: boolean;
  readonly portalGroups: ReadonlyMap<string, PortalGroupConfig>;
  readonly targets: readonly TargetConfig[];
  /** Every LUN (named and inline) by name. */
  readonly luns: ReadonlyMap<string, LunConfig>;
  /** Non-fatal findings (unused portal group, unknown backend option...). */
  readonly warnings: readonly string[];
}

/** ctld defaults (ctld(8), ctl.conf(5)). */
export const CONFIG_DEFAULTS = {
  timeout: 60,
  maxproc: 30,
  blockSize: 512,
} as const;
