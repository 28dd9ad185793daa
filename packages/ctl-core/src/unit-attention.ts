/**
 * Unit attention conditions (SAM-5 unit attention condition, FreeBSD `ctl_ua_type`): one bit
 * per condition, kept per (LUN, initiator) by `CtlLun`, reported one at a
 * time in priority order (lowest bit first).
 *
 * Does NOT decide when conditions are established (the core does, on resets,
 * nexus loss, LUN inventory / capacity / mode changes) and does not build the
 * sense data itself (sense.ts does).
 */
import { PrAsc } from './pr-proto.js';
import { Asc, type AscAscq } from './scsi-proto.js';

/** Unit attention condition bits, in reporting priority order. */
export const UaFlag = {
  None: 0,
  /** POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29h/00h): first contact. */
  PowerOn: 1 << 0,
  /** BUS DEVICE RESET FUNCTION OCCURRED (29h/03h): TARGET RESET. */
  TargetReset: 1 << 1,
  /** I_T NEXUS LOSS OCCURRED (29h/07h). */
  NexusLoss: 1 << 2,
  /** BUS DEVICE RESET FUNCTION OCCURRED (29h/03h): LOGICAL UNIT RESET. */
  LunReset: 1 << 3,
  /** REPORTED LUNS DATA HAS CHANGED (3Fh/0Eh). */
  LunInventoryChanged: 1 << 4,
  /** MODE PARAMETERS CHANGED (2Ah/01h). */
  ModeParametersChanged: 1 << 5,
  /** CAPACITY DATA HAS CHANGED (2Ah/09h). */
  CapacityChanged: 1 << 6,
  /** COMMANDS CLEARED BY ANOTHER INITIATOR (2Fh/00h): CLEAR TASK SET with TAS=0. */
  CommandsCleared: 1 << 7,
  /** RESERVATIONS PREEMPTED (2Ah/03h): PERSISTENT RESERVE OUT CLEAR by another I_T nexus. */
  ReservationsPreempted: 1 << 8,
  /** RESERVATIONS RELEASED (2Ah/04h): a Registrants Only / All Registrants reservation released. */
  ReservationsReleased: 1 << 9,
  /** REGISTRATIONS PREEMPTED (2Ah/05h): PREEMPT (AND ABORT) removed this registration. */
  RegistrationsPreempted: 1 << 10,
  /** NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED (28h/00h): a removable medium was loaded. */
  MediumChanged: 1 << 11,
  /** ASYMMETRIC ACCESS STATE CHANGED (2Ah/06h): a LUN's ALUA access states changed (alua.ts). */
  AsymmetricAccessStateChanged: 1 << 12,
} as const;
export type UaFlag = (typeof UaFlag)[keyof typeof UaFlag];

/** Reset-class conditions: reporting one clears every other pending one (SAM-5). */
const RESET_CLASS = UaFlag.PowerOn | UaFlag.TargetReset | UaFlag.NexusLoss | UaFlag.LunReset;

const UA_CODES: ReadonlyMap<number, AscAscq> = new Map<number, AscAscq>([
  [UaFlag.PowerOn, Asc.PowerOnResetOrBusDeviceResetOccurred],
  [UaFlag.TargetReset, Asc.BusDeviceResetFunctionOccurred],
  [UaFlag.NexusLoss, Asc.ItNexusLossOccurred],
  [UaFlag.LunReset, Asc.BusDeviceResetFunctionOccurred],
  [UaFlag.LunInventoryChanged, Asc.ReportedLunsDataHasChanged],
  [UaFlag.ModeParametersChanged, Asc.ModeParametersChanged],
  [UaFlag.CapacityChanged, Asc.CapacityDataHasChanged],
  [UaFlag.CommandsCleared, Asc.CommandsClearedByAnotherInitiator],
  [UaFlag.ReservationsPreempted, PrAsc.ReservationsPreempted],
  [UaFlag.ReservationsReleased, PrAsc.ReservationsReleased],
  [UaFlag.RegistrationsPreempted, PrAsc.RegistrationsPreempted],
  [UaFlag.MediumChanged, Asc.NotReadyToReadyChangeMediumMayHaveChanged],
  [UaFlag.AsymmetricAccessStateChanged, Asc.AsymmetricAccessStateChanged],
]);

/** The highest-priority condition in `pending` (0 if none). */
export function highestUa(pending: number): number {
  return pending & -pending;
}

/** ASC/ASCQ reported for a single condition bit. */
export function uaAscAscq(flag: number): AscAscq {
  const code = UA_CODES.get(flag);
  if (code === undefined) throw new RangeError(`unknown unit attention flag ${flag}`);
  return code;
}

/** The bits to clear once `flag` has been reported. */
export function uaClearMask(flag: number): number {
  return (flag & RESET_CLASS) !== 0 ? ~0 : flag;
}
