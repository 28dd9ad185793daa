/**
 * One iSCSI target as a CTL port (FreeBSD `struct cfiscsi_target` with its
 * embedded `struct ctl_port`, freebsd-arch §5.1-5.2): identified by target
 * name and portal group tag.
 *
 * What it does: carries the port's identity (`"<iqn>,t,0x<tag>"`, the bare
 * target name for VPD page 0x83), its LUN map (read by CTL at every I/O, so
 * `updateLunMap` takes effect for the next command), and routes CTL's
 * `datamove`/`done` upcalls to the session that owns the I/O (through
 * `io.fePriv`).
 *
 * What it does not do: no session bookkeeping (the frontend's registry) and
 * no protocol work (the session's).
 */
import type { CtlFrontendServices, CtlIo, CtlPort, PortAlua, ScsiIo } from '@iscsi-target/ctl-core';
import { IscsiCommand } from './command.js';
import { PortStatus } from './data-out.js';
import { targetPortName } from './handoff.js';
import type { Logger } from './options.js';
import { TmfContext } from './tmf.js';

export interface TargetConfig {
  /** The iSCSI target name (IQN/EUI/NAA). */
  name: string;
  alias?: string;
  /** Portal group tag, 0..65535. */
  portalGroupTag: number;
  /** Port LUN → CTL LUN id; null exposes every CTL LUN under its own number. */
  lunMap: ReadonlyMap<number, number> | null;
  /** ALUA topology of the port (relative target port, target port group, all groups); absent: CTL's default. */
  alua?: PortAlua | null;
}

export const TargetState = {
  Active: 'active',
  /** Being removed: no new sessions; existing ones are asked to log out. */
  Dying: 'dying',
  Removed: 'removed',
} as const;
export type TargetState = (typeof TargetState)[keyof typeof TargetState];

export class IscsiTargetPort implements CtlPort {
  /** `"<iqn>,t,0x<tag as 4 hex digits>"`. */
  readonly name: string;
  readonly targetName: string;
  readonly portalGroupTag: number;
  readonly alua: PortAlua | null;
  alias: string | undefined;
  state: TargetState = TargetState.Active;
  /** CTL port number from `registerPort` (-1 until registered). */
  portNumber = -1;
  #lunMap: ReadonlyMap<number, number> | null;
  readonly #ctl: CtlFrontendServices;
  readonly #logger: Logger;

  constructor(config: TargetConfig, ctl: CtlFrontendServices, logger: Logger) {
    this.targetName = config.name;
    this.portalGroupTag = config.portalGroupTag;
    this.name = targetPortName(config.name, config.portalGroupTag);
    this.alias = config.alias;
    this.alua = config.alua ?? null;
    this.#lunMap = config.lunMap;
    this.#ctl = ctl;
    this.#logger = logger;
  }

  get lunMap(): ReadonlyMap<number, number> | null {
    return this.#lunMap;
  }

  /** Replaces the LUN map; CTL uses it from the next I/O on. */
  updateLunMap(lunMap: ReadonlyMap<number, number> | null): void {
    this.#lunMap = lunMap;
  }

  /** CTL upcall: move the current piece of `io`. */
  datamove(io: ScsiIo): void {
    const cmd = io.fePriv;
    if (cmd instanceof IscsiCommand && cmd.io === io) {
      cmd.session.datamove(cmd, io);
      return;
    }
    this.#logger.error({ port: this.name, tag: io.tagNum }, 'datamove for an I/O this frontend does not own');
    io.portStatus = PortStatus.ProtocolError;
    this.#ctl.datamoveDone(io);
  }

  /** CTL upcall: `io` completed. */
  done(io: CtlIo): void {
    const priv = io.fePriv;
    if (io.kind === 'scsi' && priv instanceof IscsiCommand && priv.io === io) {
      priv.session.scsiDone(priv, io);
    } else if (io.kind === 'task' && priv instanceof TmfContext) {
      priv.session.taskDone(priv, io);
    } else {
      this.#logger.error({ port: this.name, tag: io.tagNum }, 'done for an I/O this frontend does not own');
    }
  }
}
