/**
 * Configuration drafts: what the parser read, statement by statement, with
 * the position of each value, before references are resolved and the
 * whole is checked (`resolve.ts`).
 *
 * What it does not do: no checks, no defaults; plain mutable data.
 */
import type { SourcePos } from './errors.js';
import type { ListenAddress } from './listen-address.js';
import type { AuthPolicy, DiscoveryFilter, LunBackendType } from './model.js';

export interface Draft<T> {
  value: T;
  pos: SourcePos;
}

export interface PortalGroupDraft {
  name: string;
  pos: SourcePos;
  tag: Draft<number> | null;
  listen: Array<Draft<ListenAddress>>;
  discoveryAuth: Draft<AuthPolicy> | null;
  discoveryFilter: Draft<DiscoveryFilter> | null;
  offload: Draft<string> | null;
  options: Map<string, Draft<string>>;
  implicit: boolean;
}

export interface LunDraft {
  name: string;
  pos: SourcePos;
  backend: Draft<LunBackendType> | null;
  path: Draft<string> | null;
  size: Draft<number> | null;
  blockSize: Draft<number> | null;
  serial: Draft<string> | null;
  deviceId: Draft<string> | null;
  ctlLun: Draft<number> | null;
  options: Map<string, Draft<string>>;
}

export interface TargetDraft {
  name: string;
  pos: SourcePos;
  alias: Draft<string> | null;
  authGroup: Draft<AuthPolicy> | null;
  authType: Draft<AuthPolicy> | null;
  portalGroups: Array<Draft<{ name: string; auth: AuthPolicy | null }>>;
  /** LUN number → inline draft or reference to a named LUN. */
  luns: Map<number, Draft<LunDraft | string>>;
}

/** Everything read from one file. */
export interface ConfigDrafts {
  readonly file: string;
  debug: Draft<number> | null;
  timeout: Draft<number> | null;
  maxproc: Draft<number> | null;
  pidfile: Draft<string> | null;
  /** Beyond ctld: `metrics-listen ADDR:PORT`. Optional so other producers of drafts need not set it. */
  metricsListen?: Draft<string> | null;
  /** Beyond ctld: `nocopy on|off`. */
  nocopy?: Draft<boolean> | null;
  readonly portalGroups: Map<string, PortalGroupDraft>;
  readonly targets: TargetDraft[];
  readonly luns: Map<string, LunDraft>;
}
