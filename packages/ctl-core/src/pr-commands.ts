/**
 * The reservation commands (FreeBSD `ctl_scsi_reserve`, `ctl_scsi_release`,
 * `ctl_persistent_reserve_in`, `ctl_persistent_reserve_out`):
 * - SPC-2 RESERVE(6)/(10) and RELEASE(6)/(10) of the whole logical unit;
 * - SPC-4 §6.15 PERSISTENT RESERVE IN: READ KEYS, READ RESERVATION, REPORT
 *   CAPABILITIES, READ FULL STATUS;
 * - SPC-4 §6.16 PERSISTENT RESERVE OUT: REGISTER, REGISTER AND IGNORE EXISTING
 *   KEY, RESERVE, RELEASE, CLEAR, PREEMPT, PREEMPT AND ABORT, REGISTER AND MOVE,
 *   for the six reservation types, with the generation counter and APTPL
 *   (saved through the LUN's `PrStore`; the command completes once durable).
 *
 * Does NOT do: third-party SPC-2 reservations (3RDPTY, extents: INVALID FIELD
 * IN CDB), SPEC_I_PT and ALL_TG_PT (refused with INVALID FIELD IN PARAMETER
 * LIST, and reported as SIP_C = ATP_C = 0), element scope (only LU_SCOPE).
 * The access check itself (RESERVATION CONFLICT for other commands) is in
 * ctl.ts, driven by the command table flags.
 */
import { checkCondition, good, invalidFieldInCdb, invalidFieldInParameterList, type CommandHost } from './command.js';
import { IoStatus, ScsiStatus } from './io.js';
import type { IoState } from './io-state.js';
import type { CtlLun } from './lun.js';
import {
  isAllRegistrants,
  isPrType,
  PR_SCOPE_LU,
  PrAsc,
  PrInAction,
  PrOutAction,
  PROUT_PARAMETER_LIST_LENGTH,
  PrType,
  type PrType as PrTypeT,
} from './pr-proto.js';
import type { PrNexus } from './pr-store.js';
import { MAX_REGISTRATIONS, nexusId, type LunReservations, type Registration } from './reservations.js';
import { Asc, SenseKey } from './scsi-proto.js';
import { decodeIscsiTransportId, encodeIscsiTransportId } from './transport-id.js';
import { UaFlag } from './unit-attention.js';

/** What the reservation commands need from the core (part of `CommandHost`). */
export interface PrHost {
  /** The command's I_T nexus by name. */
  nexusOf(state: IoState): PrNexus;
  /** Name of the target port with this relative target port identifier, or null. */
  targetPortName(relativeTargetPort: number): string | null;
  /** Relative target port identifier of a target port name (0 if not registered now). */
  relativeTargetPortOf(portName: string): number;
  /** Establishes a unit attention on `lun` for the initiator port of `nexus` (if CTL knows it). */
  establishUa(lun: CtlLun, nexus: PrNexus, flag: number): void;
  /**
   * PREEMPT AND ABORT: aborts every task of these I_T nexuses on `lun`
   * (as ABORT TASK SET would); `done` runs once they have all completed.
   */
  abortTasks(lun: CtlLun, nexuses: readonly PrNexus[], done: () => void): void;
}

/** Largest PERSISTENT RESERVE OUT parameter list accepted (REGISTER AND MOVE with one TransportID). */
const MAX_PROUT_LENGTH = 4096;

/** Completes with RESERVATION CONFLICT status (SAM-5; no sense data). */
export function reservationConflict(state: IoState, host: CommandHost): void {
  const io = state.io;
  io.status = IoStatus.ScsiError;
  io.scsiStatus = ScsiStatus.ReservationConflict;
  io.senseData = null;
  host.complete(state);
}

function parameterListLengthError(state: IoState, host: CommandHost): void {
  checkCondition(state, host, SenseKey.IllegalRequest, Asc.ParameterListLengthError);
}

function lunOf(state: IoState): CtlLun {
  const lun = state.lun;
  if (!lun) throw new Error('reservation command without a LUN');
  return lun;
}

// ------------------------------------------------------------------ SPC-2

/** RESERVE(6)/(10) (SPC-2 §7.21/§7.22): reserves the logical unit for the I_T nexus. */
export function reserve(state: IoState, host: CommandHost): void {
  const r = lunOf(state).reservations;
  // SPC-3 §5.6.3 (exceptions to SPC-2 RESERVE and RELEASE): while any I_T nexus is registered, RESERVE and RELEASE conflict.
  if (r.registrationCount > 0) return reservationConflict(state, host);
  // SPC-2 §7.21: reserved by another I_T nexus: RESERVATION CONFLICT; by this one: GOOD.
  if (r.spc2Holder !== null && r.spc2Holder !== state.initiatorIndex) return reservationConflict(state, host);
  r.spc2Holder = state.initiatorIndex;
  good(state, host);
}

/** RELEASE(6)/(10) (SPC-2 §7.17/§7.18): releases the holder's reservation; GOOD and no effect for others. */
export function release(state: IoState, host: CommandHost): void {
  const r = lunOf(state).reservations;
  if (r.registrationCount > 0) return reservationConflict(state, host);
  if (r.spc2Holder === state.initiatorIndex) r.spc2Holder = null;
  good(state, host);
}

// ------------------------------------------------------ PERSISTENT RESERVE IN

/** PERSISTENT RESERVE IN (SPC-4 §6.15). */
export function persistentReserveIn(state: IoState, host: CommandHost): void {
  const lun = lunOf(state);
  const r = lun.reservations;
  const cdb = state.io.cdb;
  const alloc = cdb.readUInt16BE(7);
  // SPC-3 §5.6.3: while an SPC-2 reservation exists, PERSISTENT RESERVE IN/OUT conflict for everyone.
  if (r.spc2Holder !== null) return reservationConflict(state, host);
  let data: Buffer;
  switch ((cdb[1] ?? 0) & 0x1f) {
    case PrInAction.ReadKeys:
      data = readKeys(r);
      break;
    case PrInAction.ReadReservation:
      data = readReservation(r);
      break;
    case PrInAction.ReportCapabilities:
      data = reportCapabilities(r);
      break;
    case PrInAction.ReadFullStatus:
      data = readFullStatus(r, host);
      break;
    default:
      // The command table only routes the four service actions here.
      return invalidFieldInCdb(state, host, 1, 4);
  }
  host.sendData(state, data, alloc);
}

/** SPC-4 §6.15.2: PRGENERATION, ADDITIONAL LENGTH, the keys in registration order. */
function readKeys(r: LunReservations): Buffer {
  const regs = r.registrations();
  const out = Buffer.alloc(8 + 8 * regs.length);
  out.writeUInt32BE(r.generation, 0);
  out.writeUInt32BE(8 * regs.length, 4);
  regs.forEach((reg, i) => out.writeBigUInt64BE(reg.key, 8 + 8 * i));
  return out;
}

/** SPC-4 §6.15.3: the reservation descriptor; key 0 for All Registrants types (§6.15.3.1). */
function readReservation(r: LunReservations): Buffer {
  const res = r.reservation;
  const out = Buffer.alloc(res ? 24 : 8);
  out.writeUInt32BE(r.generation, 0);
  if (!res) return out;
  out.writeUInt32BE(16, 4);
  const key = res.holder === null ? 0n : (r.registration(res.holder)?.key ?? 0n);
  out.writeBigUInt64BE(key, 8);
  out[21] = (res.scope << 4) | res.type;
  return out;
}

/** SPC-4 §6.15.4: REPORT CAPABILITIES. */
function reportCapabilities(r: LunReservations): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt16BE(8, 0);
  // CRH = 1 (SPC-3 §5.6.3 exceptions to SPC-2 RESERVE/RELEASE implemented), SIP_C = 0, ATP_C = 0,
  // PTPL_C = 1 only if the LUN's owner supplied a durable store.
  out[2] = 0x10 | (r.store ? 0x01 : 0x00);
  // TMV = 1 (type mask valid), ALLOW COMMANDS = 000b (no information), PTPL_A.
  out[3] = 0x80 | (r.aptpl ? 0x01 : 0x00);
  // PERSISTENT RESERVATION TYPE MASK: WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX | EX_AC_AR.
  out[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;
  out[5] = 0x01;
  return out;
}

/** SPC-4 §6.15.5: a full status descriptor per registration, with its TransportID. */
function readFullStatus(r: LunReservations, host: CommandHost): Buffer {
  const parts: Buffer[] = [];
  const res = r.reservation;
  for (const reg of r.registrations()) {
    const tid = encodeIscsiTransportId(reg.nexus.initiator);
    const d = Buffer.alloc(24 + tid.length);
    d.writeBigUInt64BE(reg.key, 0);
    const holder = r.isHolder(reg.id);
    d[12] = holder ? 0x01 : 0x00; // ALL_TG_PT = 0 (never accepted), R_HOLDER
    if (holder && res) d[13] = (res.scope << 4) | res.type;
    d.writeUInt16BE(host.pr.relativeTargetPortOf(reg.nexus.port), 18);
    d.writeUInt32BE(tid.length, 20);
    tid.copy(d, 24);
    parts.push(d);
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(r.generation, 0);
  head.writeUInt32BE(body.length, 4);
  return Buffer.concat([head, body]);
}

// ----------------------------------------------------- PERSISTENT RESERVE OUT

/** Service actions whose CDB TYPE and SCOPE must be valid (SPC-4 §6.16.2, table 206). */
function needsType(sa: number): boolean {
  return (
    sa === PrOutAction.Reserve ||
    sa === PrOutAction.Release ||
    sa === PrOutAction.Preempt ||
    sa === PrOutAction.PreemptAndAbort ||
    sa === PrOutAction.RegisterAndMove
  );
}

/** PERSISTENT RESERVE OUT (SPC-4 §6.16): validates the CDB, receives the parameter list, runs the service action. */
export function persistentReserveOut(state: IoState, host: CommandHost): void {
  const r = lunOf(state).reservations;
  const cdb = state.io.cdb;
  const sa = (cdb[1] ?? 0) & 0x1f;
  const scope = (cdb[2] ?? 0) >> 4;
  const type = (cdb[2] ?? 0) & 0x0f;
  const len = cdb.readUInt32BE(5);
  if (r.spc2Holder !== null) return reservationConflict(state, host); // SPC-3 §5.6.3
  if (needsType(sa)) {
    // SPC-4 §6.16.2: only LU_SCOPE; TYPE one of table 200.
    if (scope !== PR_SCOPE_LU) return invalidFieldInCdb(state, host, 2, 7);
    if (!isPrType(type)) return invalidFieldInCdb(state, host, 2, 3);
  }
  // SPC-4 §6.16.3: the basic parameter list is 24 bytes (longer only with SPEC_I_PT or for REGISTER AND MOVE).
  if (len < PROUT_PARAMETER_LIST_LENGTH || len > MAX_PROUT_LENGTH) return parameterListLengthError(state, host);
  host.receiveData(state, len, (data) => {
    if (sa === PrOutAction.RegisterAndMove) return registerAndMove(state, host, data, type as PrTypeT);
    const flags = data[20] ?? 0;
    // SPC-4 §6.16.3: SPEC_I_PT not supported (SIP_C = 0): INVALID FIELD IN PARAMETER LIST.
    if ((flags & 0x08) !== 0) return invalidFieldInParameterList(state, host, 20, 3);
    if (len !== PROUT_PARAMETER_LIST_LENGTH) return parameterListLengthError(state, host);
    const key = data.readBigUInt64BE(0);
    const saKey = data.readBigUInt64BE(8);
    const aptpl = (flags & 0x01) !== 0;
    switch (sa) {
      case PrOutAction.Register:
      case PrOutAction.RegisterAndIgnoreExistingKey:
        // SPC-4 §6.16.3: ALL_TG_PT not supported (ATP_C = 0).
        if ((flags & 0x04) !== 0) return invalidFieldInParameterList(state, host, 20, 2);
        // SPC-4 §6.16.3: APTPL = 1 without the capability (PTPL_C = 0).
        if (aptpl && !r.store) return invalidFieldInParameterList(state, host, 20, 0);
        return register(state, host, key, saKey, aptpl, sa === PrOutAction.RegisterAndIgnoreExistingKey);
      case PrOutAction.Reserve:
        return prReserve(state, host, key, type as PrTypeT, scope);
      case PrOutAction.Release:
        return prRelease(state, host, key, type as PrTypeT, scope);
      case PrOutAction.Clear:
        return prClear(state, host, key);
      case PrOutAction.Preempt:
      case PrOutAction.PreemptAndAbort:
        return preempt(state, host, key, saKey, type as PrTypeT, scope, sa === PrOutAction.PreemptAndAbort);
      default:
        return invalidFieldInCdb(state, host, 1, 4);
    }
  });
}

/** The calling nexus and its registration, after the RESERVATION KEY check (SPC-4 §5.13.11.1). */
function caller(
  state: IoState,
  host: CommandHost,
  key: bigint,
): { nexus: PrNexus; id: string; reg: Registration } | null {
  const r = lunOf(state).reservations;
  const nexus = host.pr.nexusOf(state);
  const id = nexusId(nexus);
  const reg = r.registration(id);
  // SPC-4 §5.13.11.1: an unregistered I_T nexus, or a RESERVATION KEY that does not match: RESERVATION CONFLICT.
  if (!reg || reg.key !== key) {
    reservationConflict(state, host);
    return null;
  }
  return { nexus, id, reg };
}

/** Effects that happen only once a change is durable. */
interface Effects {
  /** Unit attentions: nexus → flag. */
  readonly uas: [PrNexus, number][];
  /** PREEMPT AND ABORT: nexuses whose tasks are aborted. */
  readonly abort: PrNexus[];
}

function noEffects(): Effects {
  return { uas: [], abort: [] };
}

/**
 * Finishes a state change: saves it if APTPL is (or was) in effect, then
 * establishes the unit attentions, aborts tasks (PREEMPT AND ABORT) and
 * completes GOOD. A failed save restores the previous state and fails the
 * command with HARDWARE ERROR / INTERNAL TARGET FAILURE.
 */
function commit(
  state: IoState,
  host: CommandHost,
  before: ReturnType<LunReservations['full']>,
  effects: Effects,
): void {
  const lun = lunOf(state);
  const r = lun.reservations;
  const finish = (): void => {
    for (const [nexus, flag] of effects.uas) host.pr.establishUa(lun, nexus, flag);
    if (effects.abort.length > 0) host.pr.abortTasks(lun, effects.abort, () => good(state, host));
    else good(state, host);
  };
  if (!r.needsSave(before.aptpl)) return finish();
  r.save().then(finish, () => {
    r.restore(before);
    checkCondition(state, host, SenseKey.HardwareError, Asc.InternalTargetFailure);
  });
}

/** REGISTER / REGISTER AND IGNORE EXISTING KEY (SPC-4 §5.13.7). */
function register(
  state: IoState,
  host: CommandHost,
  key: bigint,
  saKey: bigint,
  aptpl: boolean,
  ignore: boolean,
): void {
  const lun = lunOf(state);
  const r = lun.reservations;
  const nexus = host.pr.nexusOf(state);
  const id = nexusId(nexus);
  const reg = r.registration(id);
  const before = r.full();
  const effects = noEffects();
  if (!reg) {
    // SPC-4 §5.13.7.2: unregistered, REGISTER with a non-zero RESERVATION KEY: RESERVATION CONFLICT.
    if (!ignore && key !== 0n) return reservationConflict(state, host);
    // Unregistered and SERVICE ACTION RESERVATION KEY zero: GOOD, nothing changes.
    if (saKey === 0n) return good(state, host);
    if (r.registrationCount >= MAX_REGISTRATIONS) {
      return checkCondition(state, host, SenseKey.IllegalRequest, PrAsc.InsufficientRegistrationResources);
    }
    r.register(nexus, saKey);
  } else {
    // SPC-4 §5.13.7.3: registered, REGISTER with a RESERVATION KEY other than its key: RESERVATION CONFLICT.
    if (!ignore && key !== reg.key) return reservationConflict(state, host);
    if (saKey === 0n) {
      const released = r.unregister(id);
      // SPC-4 §5.13.11.2.4: unregistering the holder of a Registrants Only reservation
      // releases it with RESERVATIONS RELEASED for the other registrants.
      if (released === PrType.WriteExclusiveRegistrantsOnly || released === PrType.ExclusiveAccessRegistrantsOnly) {
        for (const other of r.registrations()) effects.uas.push([other.nexus, UaFlag.ReservationsReleased]);
      }
    } else {
      reg.key = saKey;
    }
  }
  r.aptpl = aptpl;
  r.bumpGeneration();
  commit(state, host, before, effects);
}

/** PERSISTENT RESERVE OUT RESERVE (SPC-4 §5.13.9). */
function prReserve(state: IoState, host: CommandHost, key: bigint, type: PrTypeT, scope: number): void {
  const r = lunOf(state).reservations;
  const me = caller(state, host, key);
  if (!me) return;
  const res = r.reservation;
  if (res) {
    // SPC-4 §5.13.9: the holder reserving again with the same type and scope: GOOD;
    // anything else while a reservation exists: RESERVATION CONFLICT.
    if (r.isHolder(me.id) && res.type === type && res.scope === scope) return good(state, host);
    return reservationConflict(state, host);
  }
  const before = r.full();
  r.reservation = { holder: isAllRegistrants(type) ? null : me.id, type, scope };
  commit(state, host, before, noEffects());
}

/** PERSISTENT RESERVE OUT RELEASE (SPC-4 §5.13.11.2.2). */
function prRelease(state: IoState, host: CommandHost, key: bigint, type: PrTypeT, scope: number): void {
  const r = lunOf(state).reservations;
  const me = caller(state, host, key);
  if (!me) return;
  const res = r.reservation;
  // No reservation, or the caller is not a holder: GOOD, nothing changes.
  if (!res || !r.isHolder(me.id)) return good(state, host);
  // A holder releasing with another TYPE or SCOPE: INVALID RELEASE OF PERSISTENT RESERVATION.
  if (res.type !== type || res.scope !== scope) {
    return checkCondition(state, host, SenseKey.IllegalRequest, PrAsc.InvalidReleaseOfPersistentReservation);
  }
  const before = r.full();
  r.reservation = null;
  const effects = noEffects();
  // Releasing a Registrants Only or All Registrants reservation: RESERVATIONS RELEASED for the other registrants.
  if (type !== PrType.WriteExclusive && type !== PrType.ExclusiveAccess) {
    for (const other of r.registrations()) {
      if (other.id !== me.id) effects.uas.push([other.nexus, UaFlag.ReservationsReleased]);
    }
  }
  commit(state, host, before, effects);
}

/** PERSISTENT RESERVE OUT CLEAR (SPC-4 §5.13.11.2.3): every registration and the reservation go. */
function prClear(state: IoState, host: CommandHost, key: bigint): void {
  const r = lunOf(state).reservations;
  const me = caller(state, host, key);
  if (!me) return;
  const before = r.full();
  const effects = noEffects();
  for (const other of r.registrations()) {
    if (other.id !== me.id) effects.uas.push([other.nexus, UaFlag.ReservationsPreempted]);
  }
  r.clear();
  r.bumpGeneration();
  commit(state, host, before, effects);
}

/** PREEMPT and PREEMPT AND ABORT (SPC-4 §5.13.11.4). */
function preempt(
  state: IoState,
  host: CommandHost,
  key: bigint,
  saKey: bigint,
  type: PrTypeT,
  scope: number,
  abort: boolean,
): void {
  const r = lunOf(state).reservations;
  const me = caller(state, host, key);
  if (!me) return;
  const before = r.full();
  const effects = noEffects();
  const res = r.reservation;
  const withKey = (k: bigint): Registration[] => r.registrations().filter((g) => g.key === k);
  let removed: Registration[];
  let newReservation = res;
  if (!res || (isAllRegistrants(res.type) && saKey !== 0n)) {
    // §5.13.11.4.4 / §5.13.11.4.3: remove the registrations with that key; none: RESERVATION CONFLICT.
    if (saKey === 0n) return invalidFieldInParameterList(state, host, 8);
    removed = withKey(saKey);
    if (removed.length === 0) return reservationConflict(state, host);
  } else if (isAllRegistrants(res.type)) {
    // §5.13.11.4.3: All Registrants with key zero: every other registration goes; the caller reserves.
    removed = r.registrations().filter((g) => g.id !== me.id);
    newReservation = { holder: isAllRegistrants(type) ? null : me.id, type, scope };
  } else {
    // SERVICE ACTION RESERVATION KEY zero with a holder-type reservation: INVALID FIELD IN PARAMETER LIST.
    if (saKey === 0n) return invalidFieldInParameterList(state, host, 8);
    const holderKey = res.holder === null ? null : (r.registration(res.holder)?.key ?? null);
    if (saKey === holderKey) {
      // §5.13.11.4.3: preempting the holder: its registrations (but the caller's) go, the caller reserves.
      removed = withKey(saKey).filter((g) => g.id !== me.id);
      newReservation = { holder: isAllRegistrants(type) ? null : me.id, type, scope };
    } else {
      // §5.13.11.4.3: not the holder's key: only registrations are removed; none: RESERVATION CONFLICT.
      removed = withKey(saKey);
      if (removed.length === 0) return reservationConflict(state, host);
    }
  }
  for (const g of removed) r.unregister(g.id);
  if (newReservation !== res) {
    r.reservation = newReservation;
    // §5.13.11.4.3: a changed type or scope: RESERVATIONS RELEASED for the remaining registrants.
    if (res && newReservation && (res.type !== newReservation.type || res.scope !== newReservation.scope)) {
      for (const g of r.registrations()) {
        if (g.id !== me.id) effects.uas.push([g.nexus, UaFlag.ReservationsReleased]);
      }
    }
  }
  for (const g of removed) {
    if (g.id === me.id) continue;
    effects.uas.push([g.nexus, UaFlag.RegistrationsPreempted]);
    if (abort) effects.abort.push(g.nexus);
  }
  r.bumpGeneration();
  commit(state, host, before, effects);
}

/** REGISTER AND MOVE (SPC-4 §5.13.8): registers another I_T nexus and moves the reservation to it. */
function registerAndMove(state: IoState, host: CommandHost, data: Buffer, type: PrTypeT): void {
  const r = lunOf(state).reservations;
  const key = data.readBigUInt64BE(0);
  const saKey = data.readBigUInt64BE(8);
  const flags = data[17] ?? 0;
  const unreg = (flags & 0x02) !== 0;
  const aptpl = (flags & 0x01) !== 0;
  const rtpi = data.readUInt16BE(18);
  const tidLen = data.readUInt32BE(20);
  // SPC-4 §6.16.4: the TransportID must fit in the parameter list.
  if (24 + tidLen > data.length) return parameterListLengthError(state, host);
  const me = caller(state, host, key);
  if (!me) return;
  const res = r.reservation;
  // SPC-4 §5.13.8: only the holder of a reservation other than All Registrants may move it.
  if (!res || res.holder === null || res.holder !== me.id) return reservationConflict(state, host);
  if (saKey === 0n) return invalidFieldInParameterList(state, host, 8);
  if (aptpl && !r.store) return invalidFieldInParameterList(state, host, 17, 0);
  const tid = decodeIscsiTransportId(data.subarray(24, 24 + tidLen));
  if (!tid.ok) return invalidFieldInParameterList(state, host, 24 + tid.byte);
  const port = host.pr.targetPortName(rtpi);
  if (port === null) return invalidFieldInParameterList(state, host, 18);
  const dest: PrNexus = { initiator: tid.initiatorPortName, port };
  const destId = nexusId(dest);
  // The TransportID names the I_T nexus the command came through: INVALID FIELD IN PARAMETER LIST.
  if (destId === me.id) return invalidFieldInParameterList(state, host, 24);
  if (!r.registration(destId) && r.registrationCount >= MAX_REGISTRATIONS) {
    return checkCondition(state, host, SenseKey.IllegalRequest, PrAsc.InsufficientRegistrationResources);
  }
  const before = r.full();
  r.register(dest, saKey);
  r.reservation = { holder: destId, type, scope: PR_SCOPE_LU };
  if (unreg) r.unregister(me.id);
  r.aptpl = aptpl;
  r.bumpGeneration();
  commit(state, host, before, noEffects());
}
