/**
 * The reservation state of one LUN (FreeBSD `struct ctl_lun` fields `res_idx`,
 * `pr_key_count`, `pr_generation`, `pr_res_idx`, `pr_res_type`): the SPC-2
 * RESERVE holder, and the SPC-4 §5.13 persistent reservation state —
 * registrations (an I_T nexus by name → 64-bit key, in registration order), the
 * generation counter, the reservation (holder, type, scope), APTPL — plus the
 * access rule of SPC-4 §5.13.1 table 66 ("may this I_T nexus run a command
 * with these flags?").
 *
 * Registrations are keyed by names (initiator port name + target port name),
 * not CTL initiator indices, so they survive reconnects, index eviction and,
 * with APTPL, a restart. The SPC-2 holder is an initiator index: an SPC-2
 * reservation ends with its I_T nexus.
 *
 * Does NOT decode commands or establish unit attentions (pr-commands.ts and
 * ctl.ts do), and never touches storage: `save()` hands a snapshot to the
 * LUN owner's `PrStore`.
 */
import { isAllRegistrants, isPrType, registrantsHaveAccess, type PrType } from './pr-proto.js';
import type { PrNexus, PrSnapshot, PrStore } from './pr-store.js';

/** Map key of an I_T nexus. */
export function nexusId(n: PrNexus): string {
  return `${n.initiator}\n${n.port}`;
}

/** A registered I_T nexus. */
export interface Registration {
  readonly nexus: PrNexus;
  readonly id: string;
  key: bigint;
}

/** The persistent reservation; `holder` is a nexus id, or null for All Registrants types. */
export interface PrReservation {
  readonly holder: string | null;
  readonly type: PrType;
  readonly scope: number;
}

/** Everything `restore` needs to undo a failed save. */
export interface PrFullState {
  readonly snapshot: PrSnapshot;
  readonly aptpl: boolean;
}

/** Registrations a LUN accepts before INSUFFICIENT REGISTRATION RESOURCES. */
export const MAX_REGISTRATIONS = 4096;

export class LunReservations {
  /** SPC-2 RESERVE(6)/(10) holder (an initiator index, i.e. one I_T nexus), or null. */
  spc2Holder: number | null = null;
  /** PRGENERATION (SPC-4 §6.15.2): 32 bits, wraps. */
  generation = 0;
  /** Activate Persist Through Power Loss, from the last REGISTER / REGISTER AND MOVE. */
  aptpl = false;
  reservation: PrReservation | null = null;
  readonly store: PrStore | null;
  readonly #regs = new Map<string, Registration>();
  #saving: Promise<void> = Promise.resolve();

  /** Loads the persisted state from `store`, if any (the caller validated it). */
  constructor(store: PrStore | null, persisted: PrSnapshot | null = null) {
    this.store = store;
    if (persisted) {
      this.#apply(persisted);
      this.aptpl = true;
    }
  }

  /** Whether SPC-2 or persistent reservation state exists (fast path of the access check). */
  get active(): boolean {
    return this.spc2Holder !== null || this.reservation !== null;
  }

  get registrationCount(): number {
    return this.#regs.size;
  }

  registration(id: string): Registration | undefined {
    return this.#regs.get(id);
  }

  /** Registrations in registration order (a snapshot). */
  registrations(): Registration[] {
    return [...this.#regs.values()];
  }

  /** Adds or re-keys the registration of `nexus`. */
  register(nexus: PrNexus, key: bigint): void {
    const id = nexusId(nexus);
    const reg = this.#regs.get(id);
    if (reg) reg.key = key;
    else this.#regs.set(id, { nexus: { initiator: nexus.initiator, port: nexus.port }, id, key });
  }

  /**
   * Removes a registration (SPC-4 §5.13.11.2.4): the reservation goes with
   * the holder, or, for All Registrants types, with the last registrant.
   * Returns the type of a reservation released by this, or null.
   */
  unregister(id: string): PrType | null {
    if (!this.#regs.delete(id)) return null;
    const res = this.reservation;
    if (!res) return null;
    if (res.holder === null ? this.#regs.size === 0 : res.holder === id) {
      this.reservation = null;
      return res.type;
    }
    return null;
  }

  /** Removes every registration and the reservation (CLEAR). */
  clear(): void {
    this.#regs.clear();
    this.reservation = null;
  }

  /** SPC-4 §5.13.10: the holder, or any registrant for an All Registrants reservation. */
  isHolder(id: string): boolean {
    const res = this.reservation;
    if (!res) return false;
    return res.holder === null ? this.#regs.has(id) : res.holder === id;
  }

  /**
   * SPC-4 §5.13.1 table 66: whether the nexus has full access under the
   * current persistent reservation (no reservation, the holder, or a
   * registrant of a Registrants Only / All Registrants reservation).
   */
  hasFullAccess(id: string): boolean {
    const res = this.reservation;
    if (!res) return true;
    if (res.holder === id) return true;
    return registrantsHaveAccess(res.type) && this.#regs.has(id);
  }

  bumpGeneration(): void {
    this.generation = (this.generation + 1) >>> 0;
  }

  /** The state as plain JSON. */
  snapshot(): PrSnapshot {
    const res = this.reservation;
    return {
      version: 1,
      generation: this.generation,
      registrations: this.registrations().map((r) => ({
        initiator: r.nexus.initiator,
        port: r.nexus.port,
        key: r.key.toString(16).padStart(16, '0'),
      })),
      reservation: res
        ? { holder: res.holder === null ? null : this.#regs.get(res.holder)!.nexus, type: res.type, scope: res.scope }
        : null,
    };
  }

  full(): PrFullState {
    return { snapshot: this.snapshot(), aptpl: this.aptpl };
  }

  /** Puts back a state taken with `full()` (rollback after a failed save). */
  restore(s: PrFullState): void {
    this.#apply(s.snapshot);
    this.aptpl = s.aptpl;
  }

  #apply(s: PrSnapshot): void {
    this.#regs.clear();
    for (const r of s.registrations) this.register(r, BigInt(`0x${r.key}`));
    this.generation = s.generation >>> 0;
    const res = s.reservation;
    this.reservation =
      res && isPrType(res.type)
        ? { holder: res.holder === null || isAllRegistrants(res.type) ? null : nexusId(res.holder), type: res.type, scope: res.scope }
        : null;
  }

  /**
   * Whether a change needs to reach the store: APTPL is (or, before the
   * change, was) in effect and there is a store.
   */
  needsSave(aptplBefore: boolean): boolean {
    return this.store !== null && (this.aptpl || aptplBefore);
  }

  /**
   * Saves the current state (or clears the persisted one when APTPL is off),
   * after every save already queued: saves reach the store one at a time, in
   * the order the changes were made.
   */
  save(): Promise<void> {
    const store = this.store;
    if (!store) return Promise.resolve();
    const snap = this.aptpl ? this.snapshot() : null;
    const p = this.#saving.then(() => store.save(snap));
    this.#saving = p.catch(() => undefined);
    return p;
  }
}
