/**
 * The frontend (port) API of CTL (FreeBSD `ctl_frontend.h`): what a
 * transport frontend such as the iSCSI one supplies when it registers a
 * port, and what CTL calls on it.
 *
 * Call protocol for one SCSI command:
 *   frontend: io = newScsiIo(...); ctl.run(io)
 *   CTL:      port.datamove(io)        zero or more times (pieces)
 *   frontend: ... moves the piece ...; ctl.datamoveDone(io)
 *   CTL:      port.done(io)            exactly once, status in the io
 * For a task management request: ctl.run(taskIo) → port.done(taskIo).
 *
 * `datamove` and `done` are never called synchronously inside `ctl.run`
 * (CTL defers to a later microtask or event-loop turn), so a frontend is not
 * re-entered while it holds half-updated session state.
 */
import type { PortAlua } from './alua.js';
import type { CtlIo, ScsiIo } from './io.js';

/** A CTL port (FreeBSD `struct ctl_port`). */
export interface CtlPort {
  /** passed to CTL: e.g. "iqn.2026-11.org.example:disk0,t,0x0001". */
  readonly name: string;
  /** passed to CTL: the SCSI target name (VPD 0x83 target descriptor). */
  readonly targetName: string;
  /** passed to CTL: port LUN → CTL LUN id; null means every LUN, identity. */
  readonly lunMap: ReadonlyMap<number, number> | null;
  /**
   * passed to CTL: the port's relative target port identifier, target port
   * group and every group of the target device (alua.ts). Absent/null: group
   * 1 with the target's ports in this process, identifier = port number + 1.
   */
  readonly alua?: PortAlua | null;
  /** passed to CTL: move the current piece of data (see io.ts). */
  datamove(io: ScsiIo): void;
  /** passed to CTL: the I/O is complete; the frontend sends status (or not, if aborted). */
  done(io: CtlIo): void;
}

/** What CTL offers a frontend. Implemented by the `Ctl` class. */
export interface CtlFrontendServices {
  /** Registers a port; returns its port number (use it in `Nexus.targetPort`). */
  registerPort(port: CtlPort): number;
  /** Removes a port; its initiators are removed (I_T nexus loss). */
  deregisterPort(targetPort: number): void;
  /**
   * Registers an initiator port on a target port (iSCSI: "<iqn>,i,0x<ISID>").
   * The same name on the same port gets the same index back (so SCSI state
   * such as reservations follows a reinstated session). Returns the index.
   */
  addInitiator(targetPort: number, name: string): number;
  /**
   * I_T nexus loss: every task of that initiator on that port is aborted
   * (its `done` still arrives, with `aborted` set; pending datamoves must be
   * finished by the frontend with a non-zero `portStatus`).
   */
  removeInitiator(targetPort: number, initiatorIndex: number): void;
  /** Submits a SCSI command or a task management request. */
  run(io: CtlIo): void;
  /** The frontend finished moving the current piece of `io`. */
  datamoveDone(io: ScsiIo): void;
}
