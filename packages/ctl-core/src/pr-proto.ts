/**
 * Reservation wire constants (SPC-2 RESERVE/RELEASE, SPC-4 §6.15 PERSISTENT
 * RESERVE IN, §6.16 PERSISTENT RESERVE OUT, §7.6.4 iSCSI TransportID): operation
 * codes, service actions, reservation types and scopes, and the sense codes
 * the reservation commands report.
 *
 * Constants only: no decoding, no state (reservations.ts keeps the state,
 * pr-commands.ts decodes the commands).
 */

/** Operation codes of the reservation commands. */
export const PrOpcode = {
  /** SPC-2 RESERVE(6). */
  Reserve6: 0x16,
  /** SPC-2 RELEASE(6). */
  Release6: 0x17,
  /** SPC-2 RESERVE(10). */
  Reserve10: 0x56,
  /** SPC-2 RELEASE(10). */
  Release10: 0x57,
  /** SPC-4 §6.15 PERSISTENT RESERVE IN. */
  PersistentReserveIn: 0x5e,
  /** SPC-4 §6.16 PERSISTENT RESERVE OUT. */
  PersistentReserveOut: 0x5f,
} as const;

/** PERSISTENT RESERVE IN service actions (SPC-4 §6.15.1, table 195). */
export const PrInAction = {
  ReadKeys: 0x00,
  ReadReservation: 0x01,
  ReportCapabilities: 0x02,
  ReadFullStatus: 0x03,
} as const;

/** PERSISTENT RESERVE OUT service actions (SPC-4 §6.16.2, table 205). */
export const PrOutAction = {
  Register: 0x00,
  Reserve: 0x01,
  Release: 0x02,
  Clear: 0x03,
  Preempt: 0x04,
  PreemptAndAbort: 0x05,
  RegisterAndIgnoreExistingKey: 0x06,
  RegisterAndMove: 0x07,
} as const;
export type PrOutAction = (typeof PrOutAction)[keyof typeof PrOutAction];

/** Persistent reservation types (SPC-4 §6.15.3.4, table 200). */
export const PrType = {
  WriteExclusive: 0x1,
  ExclusiveAccess: 0x3,
  WriteExclusiveRegistrantsOnly: 0x5,
  ExclusiveAccessRegistrantsOnly: 0x6,
  WriteExclusiveAllRegistrants: 0x7,
  ExclusiveAccessAllRegistrants: 0x8,
} as const;
export type PrType = (typeof PrType)[keyof typeof PrType];

/** LU_SCOPE, the only scope SPC-4 still defines (§6.15.3.3). */
export const PR_SCOPE_LU = 0x0;

/** Whether `t` is one of the six reservation types. */
export function isPrType(t: number): t is PrType {
  return t === 1 || t === 3 || t === 5 || t === 6 || t === 7 || t === 8;
}

/** Write Exclusive family: non-holders may still read (SPC-4 §5.13.1, table 66). */
export function isWriteExclusive(t: PrType): boolean {
  return t === PrType.WriteExclusive || t === PrType.WriteExclusiveRegistrantsOnly || t === PrType.WriteExclusiveAllRegistrants;
}

/** Registrants Only / All Registrants: every registered I_T nexus has access (SPC-4 §5.13.1). */
export function registrantsHaveAccess(t: PrType): boolean {
  return t >= PrType.WriteExclusiveRegistrantsOnly;
}

/** All Registrants: every registrant is a reservation holder (SPC-4 §5.13.10). */
export function isAllRegistrants(t: PrType): boolean {
  return t === PrType.WriteExclusiveAllRegistrants || t === PrType.ExclusiveAccessAllRegistrants;
}

/** Sense codes of the reservation commands (SPC-4 Annex D). */
export const PrAsc = {
  /** 26h/04h INVALID RELEASE OF PERSISTENT RESERVATION. */
  InvalidReleaseOfPersistentReservation: { asc: 0x26, ascq: 0x04 },
  /** 2Ah/03h RESERVATIONS PREEMPTED (unit attention). */
  ReservationsPreempted: { asc: 0x2a, ascq: 0x03 },
  /** 2Ah/04h RESERVATIONS RELEASED (unit attention). */
  ReservationsReleased: { asc: 0x2a, ascq: 0x04 },
  /** 2Ah/05h REGISTRATIONS PREEMPTED (unit attention). */
  RegistrationsPreempted: { asc: 0x2a, ascq: 0x05 },
  /** 55h/04h INSUFFICIENT REGISTRATION RESOURCES. */
  InsufficientRegistrationResources: { asc: 0x55, ascq: 0x04 },
} as const;

/** Length of the basic PERSISTENT RESERVE OUT parameter list (SPC-4 §6.16.3). */
export const PROUT_PARAMETER_LIST_LENGTH = 24;
