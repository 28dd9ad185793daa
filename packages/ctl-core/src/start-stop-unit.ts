/**
 * START STOP UNIT (SBC-3 §5.25, FreeBSD `ctl_start_stop`) and the stopped
 * state of a LUN (SBC-3 §4.19 power conditions): a STOP makes the logical
 * unit answer medium access commands (and TEST UNIT READY) with NOT READY,
 * LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED (02h/04h/02h) until
 * a START; the core checks it in its precheck for every command not flagged
 * `OkOnStopped` in the command table.
 *
 * LOEJ = 1 loads (START = 1) or ejects (START = 0) the medium of a LUN
 * configured removable (removable.ts); an eject also stops the unit and a
 * load starts it (FreeBSD block backend `ctl_be_block_cw_dispatch_ss`).
 *
 * What it does NOT do: on a non-removable LUN LOEJ = 1 is an invalid field
 * (and PREVENT ALLOW MEDIUM REMOVAL is not offered); the unit
 * has no power-saving states, so the power conditions ACTIVE/IDLE/STANDBY/
 * LU_CONTROL/FORCE_* are accepted without any effect on readiness (SBC-3
 * §4.19: the device server may be in the active state at all times).
 */
import { good, invalidFieldInCdb, type CommandHost } from './command.js';
import type { IoState } from './io-state.js';
import { loadEject } from './removable.js';

/** POWER CONDITION field values (SBC-3 START STOP UNIT, table "POWER CONDITION field"). */
export const PowerCondition = {
  StartValid: 0x0,
  Active: 0x1,
  Idle: 0x2,
  Standby: 0x3,
  LuControl: 0x7,
  ForceIdle0: 0xa,
  ForceStandby0: 0xb,
} as const;

/** Highest POWER CONDITION MODIFIER per power condition (SBC-3: IDLE_A/B/C, STANDBY_Z/Y, and their FORCE_ forms). */
const MAX_MODIFIER: ReadonlyMap<number, number> = new Map([
  [PowerCondition.StartValid, 0],
  [PowerCondition.Active, 0],
  [PowerCondition.Idle, 2],
  [PowerCondition.Standby, 1],
  [PowerCondition.LuControl, 0],
  [PowerCondition.ForceIdle0, 2],
  [PowerCondition.ForceStandby0, 1],
]);

/** Readiness of one LUN, shared by all initiators (SBC-3 §4.19). */
export class UnitState {
  /** Stopped by START STOP UNIT with START = 0; cleared by START = 1. */
  stopped = false;
}

/** START STOP UNIT (SBC-3 §5.25). */
export function startStopUnit(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('START STOP UNIT without a LUN');
  const cdb = state.io.cdb;
  const b4 = cdb[4] ?? 0;
  const powerCondition = b4 >> 4;
  const modifier = (cdb[3] ?? 0) & 0x0f;
  const maxModifier = MAX_MODIFIER.get(powerCondition);
  // SBC-3 START STOP UNIT: reserved POWER CONDITION values are an invalid field.
  if (maxModifier === undefined) return invalidFieldInCdb(state, host, 4, 7);
  // SBC-3 START STOP UNIT: a POWER CONDITION MODIFIER not defined for the power condition.
  if (modifier > maxModifier) return invalidFieldInCdb(state, host, 3, 3);
  // SBC-3 START STOP UNIT: with POWER CONDITION other than START_VALID, START and LOEJ are ignored.
  if (powerCondition !== PowerCondition.StartValid) return good(state, host);
  const start = (b4 & 0x01) !== 0;
  if ((b4 & 0x02) !== 0) {
    // SBC-3 START STOP UNIT: LOEJ = 1 asks to load or eject a medium; a non-removable one cannot.
    if (!lun.medium.removable) return invalidFieldInCdb(state, host, 4, 1);
    if (!loadEject(state, host, start)) return;
  }
  if (start) {
    lun.unit.stopped = false;
    return good(state, host);
  }
  lun.unit.stopped = true;
  // SBC-3 START STOP UNIT: NO_FLUSH = 0 writes cached data to the medium before stopping.
  if ((b4 & 0x04) === 0) {
    host.submit(state, { op: 'flush', lba: 0, blocks: 0, immed: ((cdb[1] ?? 0) & 0x01) !== 0 });
    return;
  }
  good(state, host);
}
