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
 * Authentication type of an auth group (ctld `auth-type`): `none`, `deny`,
 * `chap`, `chap-mutual`. An auth group that sets no type and has no CHAP
 * entries denies, as in ctld ("auth-type not set, denying access").
 */
export type AuthPolicy = 'none' | 'deny' | 'chap' | 'chap-mutual';

/** One `chap USER SECRET` or `chap-mutual USER SECRET MUSER MSECRET` entry. */
export interface ChapCredential {
  readonly user: string;
  readonly secret: string;
  /** Mutual CHAP: the name and secret the target answers with; null for plain `chap`. */
  readonly mutualUser: string | null;
  readonly mutualSecret: string | null;
}

/** One `initiator-portal ADDR[/PREFIX]` entry. */
export interface InitiatorPortal {
  /** As written. */
  readonly text: string;
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/**
 * An auth group (ctld `struct auth_group`): a named `auth-group` section, a
 * predefined group (`no-authentication`, `no-access`, `default`), or the
 * anonymous group of a target that sets `chap`/`initiator-name`/... inline
 * (named `target <IQN>`).
 */
export interface AuthGroupConfig {
  readonly name: string;
  readonly type: AuthPolicy;
  /** CHAP users (for `chap` and `chap-mutual`). */
  readonly chap: readonly ChapCredential[];
  /** `initiator-name` allow-list; empty = any name. */
  readonly initiatorNames: readonly string[];
  /** `initiator-portal` allow-list; empty = any address. */
  readonly initiatorPortals: readonly InitiatorPortal[];
  /** Where it was defined (line 0 for predefined groups). */
  readonly pos: SourcePos;
}

/** ctld's `discovery-filter`. */
export type DiscoveryFilter = 'none' | 'portal' | 'portal-name' | 'portal-name-auth';

export interface PortalGroupConfig {
  readonly name: string;
  /** Target Portal Group Tag, 0..65535 (RFC 7143 §13.10). */
  readonly tag: number;
  readonly listen: readonly ListenAddress[];
  readonly discoveryAuth: AuthPolicy;
  /** The whole discovery auth group (CHAP users, ACLs); `discoveryAuth` is its type. */
  readonly discoveryAuthGroup: AuthGroupConfig;
  /** `redirect ADDR`: every login is redirected there before authentication (0x0101). */
  readonly redirect: string | null;
  readonly discoveryFilter: DiscoveryFilter;
  /** ICL driver name (`offload`); "none" is the soft driver. */
  readonly offload: string;
  /**
   * NIC driver name (`nic NAME`), or null: the daemon's `--nic NAME`, else
   * the highest-priority available NIC driver (`tcp`).
   */
  readonly nic: string | null;
  /** `option NAME VALUE` (CTL port options): parsed and kept, not applied yet (a warning says so). */
  readonly options: ReadonlyMap<string, string>;
  /**
   * Beyond ctld (ALUA, SPC-4 §5.15): `target-port-group N` and
   * `relative-target-port N`, both 1..65535, set together or not at all;
   * null/absent: CTL's default (group 1, port number + 1).
   */
  readonly targetPortGroup?: number | null;
  readonly relativeTargetPort?: number | null;
  readonly pos: SourcePos;
}

/** A CTL backend name (`backend NAME`): `block`, `ramdisk`, or any registered backend. */
export type LunBackendType = string;

export interface LunConfig {
  /** Top-level name, or "<target>,lun,<n>" for a LUN defined inline. */
  readonly name: string;
  readonly backend: LunBackendType;
  /** `path`: a file or device (block backend), or a backend's own name (e.g. `pool/image`). */
  readonly path: string | null;
  /** `path` is a file system path (made absolute relative to the configuration's directory). */
  readonly pathIsFile: boolean;
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
  /** The override's auth group, or null. */
  readonly authGroup: AuthGroupConfig | null;
}

export interface TargetConfig {
  /** The iSCSI name (iqn./eui./naa.), as configured. */
  readonly name: string;
  readonly alias: string | null;
  readonly auth: AuthPolicy;
  /** The target's auth group; `auth` is its type. */
  readonly authGroup: AuthGroupConfig;
  /** `redirect ADDR`: logins are redirected there after authentication (0x0101). */
  readonly redirect: string | null;
  /** Portal groups through which the target is exported (at least one). */
  readonly portalGroups: readonly TargetPortalGroupRef[];
  /** Target LUN number → LUN. */
  readonly luns: ReadonlyMap<number, LunConfig>;
  /**
   * ALUA: every target port group of this target device, its own portal
   * groups' and the other gateways' (`peer-port-group`), ascending; null
   * when none of its portal groups sets `target-port-group`.
   */
  readonly aluaGroups?: readonly TargetPortGroupConfig[] | null;
  readonly pos: SourcePos;
}

/** One ALUA target port group of a target (see `TargetConfig.aluaGroups`). */
export interface TargetPortGroupConfig {
  readonly id: number;
  readonly relativeTargetPorts: readonly number[];
  /** Set for groups of this daemon's portal groups; null for another gateway's. */
  readonly portalGroups: readonly string[];
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
  /** Named and predefined auth groups by name. */
  readonly authGroups: ReadonlyMap<string, AuthGroupConfig>;
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
