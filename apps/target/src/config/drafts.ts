/**
 * Configuration drafts: what the parser read, statement by statement, with
 * the position of each value, before references are resolved and the
 * whole is checked (`resolve.ts`).
 *
 * What it does not do: no checks, no defaults; plain mutable data.
 */
import type { SourcePos } from './errors.js';
import type { ListenAddress } from './listen-address.js';
import type { AuthPolicy, ChapCredential, DiscoveryFilter, InitiatorPortal, LunBackendType } from './model.js';

export interface Draft<T> {
  value: T;
  pos: SourcePos;
}

export interface PortalGroupDraft {
  name: string;
  pos: SourcePos;
  tag: Draft<number> | null;
  listen: Array<Draft<ListenAddress>>;
  /** `discovery-auth-group NAME` (resolved against the auth groups later). */
  discoveryAuth: Draft<string> | null;
  redirect: Draft<string> | null;
  discoveryFilter: Draft<DiscoveryFilter> | null;
  offload: Draft<string> | null;
  nic: Draft<string> | null;
  options: Map<string, Draft<string>>;
  implicit: boolean;
  /** Beyond ctld: `target-port-group N` (ALUA, SPC-4 §5.15). */
  targetPortGroup?: Draft<number> | null;
  /** Beyond ctld: `relative-target-port N`. */
  relativeTargetPort?: Draft<number> | null;
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
  /** `auth-group NAME` (resolved later). */
  authGroup: Draft<string> | null;
  authType: Draft<AuthPolicy> | null;
  /** Inline `auth-type`/`chap`/`chap-mutual`/`initiator-name`/`initiator-portal`: an anonymous auth group. */
  inlineAuth: AuthGroupDraft | null;
  redirect: Draft<string> | null;
  portalGroups: Array<Draft<{ name: string; auth: Draft<string> | null }>>;
  /** LUN number → inline draft or reference to a named LUN. */
  luns: Map<number, Draft<LunDraft | string>>;
  /** Beyond ctld: `peer-port-group GROUP RELPORT` — a target port of another gateway (ALUA). */
  peerPorts?: Array<Draft<{ group: number; port: number }>>;
}

/** An `auth-group NAME { }` section, or a target's inline auth statements. */
export interface AuthGroupDraft {
  name: string;
  pos: SourcePos;
  /** Explicit `auth-type`, or the one implied by the first chap/chap-mutual entry. */
  type: Draft<AuthPolicy> | null;
  chap: Array<Draft<ChapCredential>>;
  initiatorNames: Array<Draft<string>>;
  initiatorPortals: Array<Draft<InitiatorPortal>>;
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
  readonly authGroups: Map<string, AuthGroupDraft>;
  /** Findings of the parser itself (ignored statements such as isns-*). */
  readonly parseWarnings: string[];
}
