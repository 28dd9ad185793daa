/**
 * Implicit ALUA (SPC-4 §5.15 asymmetric logical unit access): the target port
 * groups of a SCSI target device, the asymmetric access state of each group
 * for one LUN, and REPORT TARGET PORT GROUPS (MAINTENANCE IN 0Ah, SPC-4
 * §6.36), which must answer the same through every path — including paths of
 * other target processes (gateways) serving the same LUN.
 *
 * The topology comes from the frontend port (`CtlPort.alua`: its own relative
 * target port identifier and target port group, plus the groups of the other
 * gateways as configured). A port without it belongs to target port group 1
 * together with every port of the same SCSI target name in this process
 * (FreeBSD CTL's default, one group per HA node), with relative target port
 * identifier = CTL port number + 1.
 *
 * The access state of each group for a LUN comes from the LUN's owner
 * (`LunAlua`, given to `Ctl.addLun`): without one every group is
 * Active/Optimized (symmetric access).
 *
 * Does NOT do explicit ALUA (SET TARGET PORT GROUPS: TPGS = 01b implicit
 * only), does not decide ownership (the backend does, e.g. through the RBD
 * exclusive lock) and does not move data. Buffers returned are fresh and owned
 * by the caller.
 */
import { invalidFieldInCdb, type CommandHost } from './command.js';
import type { IoState } from './io-state.js';

/** Asymmetric access states (SPC-4 §6.36, table 180). */
export const AluaState = {
  ActiveOptimized: 0x0,
  ActiveNonOptimized: 0x1,
  Standby: 0x2,
  Unavailable: 0x3,
  Offline: 0xe,
  Transitioning: 0xf,
} as const;
export type AluaState = (typeof AluaState)[keyof typeof AluaState];

/** A target port group: its identifier and the relative target port identifiers in it. */
export interface TargetPortGroup {
  /** TARGET PORT GROUP, 1..65535 (0 is reserved by SPC-4 §7.8.6.8 convention here). */
  readonly id: number;
  /** RELATIVE TARGET PORT IDENTIFIERs, each 1..65535. */
  readonly relativeTargetPorts: readonly number[];
}

/**
 * ALUA topology of one frontend port (passed to CTL with the port).
 * `groups` lists every target port group of the SCSI target device, this
 * port's own included, identically on every gateway (the REPORT TARGET PORT
 * GROUPS answer is built from it).
 */
export interface PortAlua {
  readonly relativeTargetPort: number;
  readonly targetPortGroup: number;
  readonly groups: readonly TargetPortGroup[];
}

/**
 * The asymmetric access state of each target port group for one LUN, as its
 * owner (the backend, or what enforces ownership across gateways) decides.
 */
export interface LunAlua {
  /** The state of target port group `groupId` for this LUN. */
  accessState(groupId: number): AluaState;
  /**
   * Implicit transition (optional): an LBA-addressed command (READ, WRITE,
   * UNMAP... — one with an extent in the command table) arrived through
   * group `groupId` while it is Active/Non-optimized. Return true to refuse
   * it with NOT READY, ASYMMETRIC ACCESS STATE TRANSITION (04h/0Ah) — the
   * owner starts moving ownership here and calls `Ctl.aluaStateChanged` when
   * done; the initiator retries — or false to serve it where it is.
   */
  accessRequested?(groupId: number, writes: boolean): boolean;
}

/**
 * The sense for a medium access command through a port whose group is in
 * `state` (SPC-4 §5.15.2), or null when the command may run: Active states
 * run; Transitioning, Standby and Unavailable get NOT READY with their ASCQ;
 * Offline is reported as Unavailable (this target has no offline ports).
 */
export function aluaRefusal(state: AluaState): { asc: number; ascq: number } | null {
  switch (state) {
    case AluaState.ActiveOptimized:
    case AluaState.ActiveNonOptimized:
      return null;
    case AluaState.Transitioning:
      return { asc: 0x04, ascq: 0x0a };
    case AluaState.Standby:
      return { asc: 0x04, ascq: 0x0b };
    case AluaState.Unavailable:
    case AluaState.Offline:
      return { asc: 0x04, ascq: 0x0c };
  }
}

/** Default target port group of ports without `alua`. */
export const DEFAULT_TARGET_PORT_GROUP = 1;

/** Implicit transition time reported in the extended header (seconds, SPC-4 §6.36.2). */
export const IMPLICIT_TRANSITION_TIME_SECONDS = 30;

/** Checks a port's ALUA topology; returns an error message or null. */
export function validatePortAlua(a: PortAlua): string | null {
  const range = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 0xffff;
  if (!range(a.relativeTargetPort)) return `relative target port ${a.relativeTargetPort} outside 1..65535`;
  if (!range(a.targetPortGroup)) return `target port group ${a.targetPortGroup} outside 1..65535`;
  const ids = new Set<number>();
  const ports = new Set<number>();
  let own = false;
  for (const g of a.groups) {
    if (!range(g.id)) return `target port group ${g.id} outside 1..65535`;
    if (ids.has(g.id)) return `target port group ${g.id} listed twice`;
    ids.add(g.id);
    if (g.relativeTargetPorts.length === 0 || g.relativeTargetPorts.length > 255) {
      return `target port group ${g.id} needs 1..255 relative target ports`;
    }
    for (const p of g.relativeTargetPorts) {
      if (!range(p)) return `relative target port ${p} outside 1..65535`;
      if (ports.has(p)) return `relative target port ${p} listed twice`;
      ports.add(p);
      if (p === a.relativeTargetPort) {
        if (g.id !== a.targetPortGroup) return `relative target port ${p} is in group ${g.id}, not in ${a.targetPortGroup}`;
        own = true;
      }
    }
  }
  if (!own) return `the port's own relative target port ${a.relativeTargetPort} is in no group`;
  return null;
}

/**
 * REPORT TARGET PORT GROUPS parameter data (SPC-4 §6.36.2): the length
 * header (extended: also format 001b and the implicit transition time), then
 * one descriptor per group, ascending by group id: state, supported states
 * (T_SUP, U_SUP, S_SUP and AN_SUP/AO_SUP; O_SUP and LBD_SUP not), PREF = 0,
 * STATUS CODE 02h (altered by implicit transition) when `implicitChange`, and
 * the relative target ports ascending.
 */
export function buildReportTargetPortGroups(
  groups: readonly TargetPortGroup[],
  stateOf: (groupId: number) => AluaState,
  extended: boolean,
  implicitChange = false,
): Buffer {
  const sorted = [...groups].sort((a, b) => a.id - b.id);
  let len = 0;
  for (const g of sorted) len += 8 + 4 * g.relativeTargetPorts.length;
  const buf = Buffer.alloc(4 + (extended ? 4 : 0) + len);
  buf.writeUInt32BE(len + (extended ? 4 : 0), 0);
  let off = 4;
  if (extended) {
    buf[4] = 0x10; // FORMAT TYPE 001b
    buf[5] = IMPLICIT_TRANSITION_TIME_SECONDS;
    off = 8;
  }
  for (const g of sorted) {
    buf[off] = stateOf(g.id) & 0x0f; // PREF = 0
    // T_SUP | U_SUP | S_SUP | AN_SUP | AO_SUP
    buf[off + 1] = 0x80 | 0x08 | 0x04 | 0x02 | 0x01;
    buf.writeUInt16BE(g.id, off + 2);
    buf[off + 5] = implicitChange ? 0x02 : 0x00;
    const ports = [...g.relativeTargetPorts].sort((a, b) => a - b);
    buf[off + 7] = ports.length;
    off += 8;
    for (const p of ports) {
      buf.writeUInt16BE(p, off + 2);
      off += 4;
    }
  }
  return buf;
}

/** What the ALUA commands need from the core (part of `CommandHost`). */
export interface AluaHost {
  /** Every target port group of the command's SCSI target device. */
  groups(state: IoState): readonly TargetPortGroup[];
  /** The target port group of the command's port. */
  portGroup(state: IoState): number;
  /** The access state of `groupId` for the command's LUN. */
  accessState(state: IoState, groupId: number): AluaState;
}

/** REPORT TARGET PORT GROUPS (MAINTENANCE IN, service action 0Ah; SPC-4 §6.36). */
export function reportTargetPortGroups(state: IoState, host: CommandHost): void {
  const cdb = state.io.cdb;
  const format = ((cdb[1] ?? 0) >> 5) & 0x07;
  // PARAMETER DATA FORMAT: 000b length only, 001b extended header; others reserved.
  if (format > 1) return invalidFieldInCdb(state, host, 1, 7);
  const alloc = cdb.readUInt32BE(6);
  const data = buildReportTargetPortGroups(host.alua.groups(state), (g) => host.alua.accessState(state, g), format === 1);
  host.sendData(state, data, alloc);
}
