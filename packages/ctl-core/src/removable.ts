/**
 * Removable medium of a LUN (FreeBSD `CTL_LUN_REMOVABLE`, `CTL_LUN_EJECTED`,
 * `lun->prevent`): whether the medium is present, the per-I_T-nexus
 * prevention of medium removal, and PREVENT ALLOW MEDIUM REMOVAL (SBC-3
 * PREVENT ALLOW MEDIUM REMOVAL). START STOP UNIT (start-stop-unit.ts) asks `loadEject` to eject or
 * load; the core (ctl.ts) refuses medium access commands while the medium
 * is absent and clears prevention on resets and I_T nexus loss.
 *
 * What it does: a LUN configured removable reports RMB = 1 (inquiry.ts) and
 * offers PREVENT ALLOW MEDIUM REMOVAL; ejecting is refused while any I_T
 * nexus prevents removal; an ejected medium makes medium access commands
 * answer NOT READY, MEDIUM NOT PRESENT - TRAY OPEN (3Ah/02h); loading it
 * again gives every other initiator NOT READY TO READY CHANGE, MEDIUM MAY
 * HAVE CHANGED (28h/00h).
 *
 * What it does NOT do: the data on the backend is never touched by an eject
 * or a load (the "medium" is the same backing store, put back); there is no
 * medium changer (MCHNGR = 0), so the medium changer half of the obsolete
 * PREVENT values is without effect; the state is not persisted (a restarted
 * daemon starts with the medium loaded and nothing prevented, as a power on
 * does). A non-removable LUN keeps none of this state and never offers
 * PREVENT ALLOW MEDIUM REMOVAL (INVALID COMMAND OPERATION CODE, as FreeBSD).
 */
import { checkCondition, good, type CommandHost } from './command.js';
import type { IoState } from './io-state.js';
import { Asc, SenseKey } from './scsi-proto.js';
import { UaFlag } from './unit-attention.js';

/** PREVENT field of PREVENT ALLOW MEDIUM REMOVAL (SBC-3 table "PREVENT field"; SPC-2 §7.12). */
export const PreventField = {
  /** Medium removal allowed. */
  Allow: 0b00,
  /** Medium removal prevented (for this I_T nexus). */
  Prevent: 0b01,
  /** Obsolete (SPC-2: prevented for an attached medium changer only). */
  ChangerOnly: 0b10,
  /** Obsolete (SPC-2: prevented for the data transport element and the medium changer). */
  Both: 0b11,
} as const;

/** Medium state of one LUN, shared by all initiators. */
export class RemovableMedium {
  /** Configured removable (`option removable on`): RMB = 1. */
  readonly removable: boolean;
  /** The medium was ejected by START STOP UNIT (LOEJ = 1, START = 0) and not loaded since. */
  ejected = false;
  /** Initiator indices (I_T nexuses) that currently prevent medium removal. */
  readonly #preventing = new Set<number>();

  constructor(removable: boolean) {
    this.removable = removable;
  }

  /** Whether any I_T nexus prevents medium removal (SBC-3 PREVENT ALLOW MEDIUM REMOVAL). */
  get prevented(): boolean {
    return this.#preventing.size > 0;
  }

  /** Whether this I_T nexus prevents medium removal. */
  isPreventing(initiatorIndex: number): boolean {
    return this.#preventing.has(initiatorIndex);
  }

  /** PREVENT = 01b (or 11b) from `initiatorIndex`: prevent; 00b (or 10b): allow. */
  setPrevent(initiatorIndex: number, prevent: boolean): void {
    if (prevent) this.#preventing.add(initiatorIndex);
    else this.#preventing.delete(initiatorIndex);
  }

  /**
   * SBC-3 PREVENT ALLOW MEDIUM REMOVAL: the prevention ends for every I_T
   * nexus on a logical unit reset or a hard reset (TARGET RESET resets every logical unit).
   */
  clearAll(): void {
    this.#preventing.clear();
  }

  /** SBC-3 PREVENT ALLOW MEDIUM REMOVAL: I_T nexus loss ends that nexus's prevention. */
  clearNexus(initiatorIndex: number): void {
    this.#preventing.delete(initiatorIndex);
  }
}

/** PREVENT ALLOW MEDIUM REMOVAL (SBC-3; FreeBSD `ctl_prevent_allow`). Offered only on removable LUNs. */
export function preventAllowMediumRemoval(state: IoState, host: CommandHost): void {
  const lun = state.lun;
  if (!lun) throw new Error('PREVENT ALLOW MEDIUM REMOVAL without a LUN');
  const field = (state.io.cdb[4] ?? 0) & 0x03;
  // SBC-3 PREVENT ALLOW MEDIUM REMOVAL: 00b allows, 01b prevents removal for this I_T nexus.
  // 10b and 11b are obsolete; SPC-2 §7.12 defined them as "medium changer" and "both": without
  // a medium changer (MCHNGR = 0) bit 0 alone decides, as FreeBSD CTL does (PR_PREVENT).
  lun.medium.setPrevent(state.initiatorIndex, (field & PreventField.Prevent) !== 0);
  good(state, host);
}

/**
 * START STOP UNIT with LOEJ = 1 and POWER CONDITION = START_VALID on a
 * removable LUN: loads (`start`) or ejects the medium. Completes the
 * command with an error and returns false if the medium may not move;
 * returns true (command still open) if the state was changed, the caller
 * finishing the start or stop part.
 */
export function loadEject(state: IoState, host: CommandHost, start: boolean): boolean {
  const lun = state.lun;
  if (!lun) throw new Error('START STOP UNIT without a LUN');
  const medium = lun.medium;
  // SBC-3 PREVENT ALLOW MEDIUM REMOVAL / START STOP UNIT: while any I_T nexus prevents
  // medium removal, the medium stays where it is: ILLEGAL REQUEST / MEDIUM REMOVAL PREVENTED
  // (53h/02h) for an eject, and likewise for a load (the prevention locks the mechanism;
  // libiscsi PreventAllow.Eject expects both; FreeBSD refuses only the eject).
  if (medium.prevented) {
    checkCondition(state, host, SenseKey.IllegalRequest, Asc.MediumRemovalPrevented);
    return false;
  }
  if (start) {
    if (medium.ejected) {
      medium.ejected = false;
      // SBC-3 removable medium / SPC-4 Annex D 28h/00h: every other I_T nexus gets NOT READY
      // TO READY CHANGE, MEDIUM MAY HAVE CHANGED; the one that loaded it learns from this GOOD.
      lun.establishUaAll(UaFlag.MediumChanged, state.initiatorIndex);
    }
  } else {
    medium.ejected = true;
  }
  return true;
}
