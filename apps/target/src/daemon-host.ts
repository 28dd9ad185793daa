/**
 * What the daemon's parts — reload application (`reload/apply.ts`) and the
 * admin operations (`admin/operations.ts`) — may see and change of a running
 * `TargetDaemon`: its configuration, CTL and frontend, the LUN inventory,
 * the listeners, and a few daemon services (open a portal, check a portal
 * group's NIC driver, rebuild the discovery catalog). The daemon implements
 * it over its private state; nothing else does.
 *
 * What it does not do: no behaviour of its own beyond `addrKey`.
 */
import type { Ctl } from '@iscsi-target/ctl-core';
import type { IscsiFrontend } from '@iscsi-target/ctl-frontend-iscsi';
import type { NicListener } from '@iscsi-target/icl-core';
import { formatHostPort, type ListenAddress } from './config/listen-address.js';
import type { DaemonConfig, PortalGroupConfig } from './config/model.js';
import type { LunInventory } from './inventory.js';
import type { Logger } from './logger.js';
import type { DaemonOptions } from './options.js';
import type { PlugPoints } from './plug-points.js';

/** A portal the daemon listens on. */
export interface BoundPortal {
  readonly portalGroup: string;
  readonly tag: number;
  /** As configured. */
  readonly host: string;
  /** The bound port (differs from the configured one when that was 0). */
  readonly port: number;
}

/** A listening portal: the portal group is replaced in place when a reload changes it. */
export interface ListenerEntry {
  pg: PortalGroupConfig;
  readonly host: string;
  /** The address as configured (port 0 = ephemeral). */
  readonly addr: ListenAddress;
  readonly listener: NicListener;
  /** The registered name of the NIC driver that listens. */
  readonly nic: string;
}

export function addrKey(a: ListenAddress): string {
  return formatHostPort(a.host, a.port);
}

/** The daemon's lifecycle states. */
export type DaemonState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface DaemonHost {
  readonly log: Logger;
  readonly opts: Required<Pick<DaemonOptions, 'noCopy' | 'stopGraceMs'>>;
  readonly plug: PlugPoints;
  readonly inventory: LunInventory;
  /** The portals being listened on (reload adds and removes entries). */
  readonly listeners: ListenerEntry[];
  /** Portal group tag → portal group (reload refills it). */
  readonly pgByTag: Map<number, PortalGroupConfig>;
  state(): DaemonState;
  config(): DaemonConfig;
  /** Replaces the configuration being served. */
  setConfig(next: DaemonConfig): void;
  /** CTL, once started (throws before). */
  ctl(): Ctl;
  ctlOrNull(): Ctl | null;
  /** The frontend, once started (throws before). */
  frontend(): IscsiFrontend;
  frontendOrNull(): IscsiFrontend | null;
  /** Rebuilds the discovery answers from the configuration and the bound ports. */
  refreshCatalog(): void;
  /** Listens on `addr` for `pg` with its NIC driver (not added to `listeners`). */
  openPortal(pg: PortalGroupConfig, addr: ListenAddress): Promise<ListenerEntry>;
  /** Throws an `Error` with the portal group's position if its NIC driver is unknown or unavailable. */
  checkNic(pg: PortalGroupConfig): void;
  /** The registered name of `pg`'s NIC driver. */
  nicNameOf(pg: PortalGroupConfig): string;
  /** The bound portals. */
  portals(): BoundPortal[];
}
