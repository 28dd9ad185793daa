/**
 * A LUN inside the core (FreeBSD `struct ctl_lun`): its backend, the order of
 * arrival (OOA) list of outstanding commands, the per-initiator unit
 * attention conditions, the mode page state and the started/stopped state.
 *
 * Does NOT execute commands or talk to ports (ctl.ts does); it only keeps
 * the state and answers "which older command blocks this one".
 */
import type { LunAlua } from './alua.js';
import type { BackendLun } from './backend.js';
import { IoPhase, type IoState } from './io-state.js';
import { ModeState } from './mode-pages.js';
import { UnitState } from './start-stop-unit.js';
import { LunReservations } from './reservations.js';
import type { PrSnapshot, PrStore } from './pr-store.js';
import { TagType } from './io.js';
import { Blockage, checkForBlockage, mayConflict, SER_CLASS_COUNT } from './ser-table.js';
import { highestUa, uaClearMask, UaFlag } from './unit-attention.js';
import { TpcOpcode } from './tpc-proto.js';
import { RemovableMedium } from './removable.js';

/** Result of scanning the OOA list for a new command. */
export interface BlockageResult {
  readonly blockage: Blockage;
  /** The older command responsible (for Block, Overlap, OverlapTag). */
  readonly other: IoState | null;
}

export class CtlLun {
  readonly id: number;
  readonly be: BackendLun;
  readonly mode: ModeState;
  /** Started/stopped state (START STOP UNIT). */
  readonly unit = new UnitState();
  /** SPC-2 and persistent reservation state (reservations.ts). */
  readonly reservations: LunReservations;
  /** Removable medium: present or ejected, prevention per I_T nexus (removable.ts). */
  readonly medium: RemovableMedium;
  /** Set by `removeLun`: no new commands, shut down when idle. */
  removing = false;
  /** Who decides the LUN's ALUA access states (alua.ts); null: every group Active/Optimized. */
  alua: LunAlua | null = null;
  #head: IoState | null = null;
  #tail: IoState | null = null;
  #count = 0;
  #seq = 0;
  /** Commands on the OOA list per serialization class. */
  readonly #classCount = new Array<number>(SER_CLASS_COUNT).fill(0);
  /** ORDERED and HEAD OF QUEUE commands on the OOA list. */
  #barrierCount = 0;
  /** Live tagged commands: (initiator index, tag) key → count. */
  readonly #tags = new Map<number, number>();
  /** Live untagged commands per initiator index. */
  readonly #untagged = new Map<number, number>();
  /** initiator index → pending UA bits; a missing entry means POWER ON pending. */
  readonly #ua = new Map<number, number>();
  #idleWaiters: (() => void)[] = [];

  constructor(
    id: number,
    be: BackendLun,
    descriptorSense: boolean,
    prStore: PrStore | null = null,
    persisted: PrSnapshot | null = null,
    removable = false,
  ) {
    this.id = id;
    this.be = be;
    this.mode = new ModeState(be, descriptorSense);
    this.reservations = new LunReservations(prStore, persisted);
    this.medium = new RemovableMedium(removable);
  }

  /** Next arrival sequence number. */
  nextSeq(): number {
    return ++this.#seq;
  }

  /** Number of commands on the OOA list. */
  get outstanding(): number {
    return this.#count;
  }

  /**
   * SAM-5 overlapped commands, checked before `insert` in O(1): a second
   * untagged command from one I_T nexus, or a tag already used by a live
   * (not aborted) command of that nexus on this LUN. Initiator indices are
   * unique across ports, so the index identifies the I_T nexus.
   */
  checkOverlap(state: IoState): Blockage {
    if (state.tagType === TagType.Untagged) {
      return (this.#untagged.get(state.initiatorIndex) ?? 0) > 0 ? Blockage.Overlap : Blockage.Pass;
    }
    return (this.#tags.get(tagKey(state)) ?? 0) > 0 ? Blockage.OverlapTag : Blockage.Pass;
  }

  /** Appends `state` to the OOA list (newest). */
  insert(state: IoState): void {
    this.#classCount[state.serClass]!++;
    if (state.tagType === TagType.Ordered || state.tagType === TagType.HeadOfQueue) this.#barrierCount++;
    this.#countTag(state, 1);
    state.tagCounted = true;
    state.prev = this.#tail;
    state.next = null;
    if (this.#tail) this.#tail.next = state;
    else this.#head = state;
    this.#tail = state;
    state.onOoa = true;
    this.#count++;
  }

  /** Removes `state` from the OOA list; wakes `whenIdle` waiters when empty. */
  remove(state: IoState): void {
    if (!state.onOoa) return;
    this.#classCount[state.serClass]!--;
    if (state.tagType === TagType.Ordered || state.tagType === TagType.HeadOfQueue) this.#barrierCount--;
    this.uncountTag(state);
    if (state.prev) state.prev.next = state.next;
    else this.#head = state.next;
    if (state.next) state.next.prev = state.prev;
    else this.#tail = state.prev;
    state.prev = state.next = null;
    state.onOoa = false;
    this.#count--;
    if (this.#count === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** The OOA list, oldest first (a snapshot, safe to mutate the list while iterating). */
  ooa(): IoState[] {
    const out: IoState[] = [];
    for (let s = this.#head; s; s = s.next) out.push(s);
    return out;
  }

  /** An aborted command no longer holds its tag (it may be reused). */
  uncountTag(state: IoState): void {
    if (!state.tagCounted) return;
    state.tagCounted = false;
    this.#countTag(state, -1);
  }

  #countTag(state: IoState, delta: number): void {
    const map = state.tagType === TagType.Untagged ? this.#untagged : this.#tags;
    const key = state.tagType === TagType.Untagged ? state.initiatorIndex : tagKey(state);
    const n = (map.get(key) ?? 0) + delta;
    if (n > 0) map.set(key, n);
    else map.delete(key);
  }

  /**
   * Whether any command on the list could block `state` (on the list):
   * lets the common case (no conflicting class, no ORDERED/HEAD OF QUEUE
   * outstanding) skip the O(n) walk. Conservative: counts include newer and
   * aborted commands.
   */
  #mayBeBlocked(state: IoState): boolean {
    if (state.tagType === TagType.HeadOfQueue) return false;
    if (state.tagType === TagType.Ordered) return state.prev !== null;
    if (this.#barrierCount > 0) return true;
    for (let c = 0; c < SER_CLASS_COUNT; c++) {
      const others = this.#classCount[c]! - (c === state.serClass ? 1 : 0);
      if (others > 0 && mayConflict(state.serClass, c as IoState['serClass'])) return true;
    }
    return false;
  }

  /**
   * Compares `state` with every older command, newest first, stopping at the
   * first that blocks it (FreeBSD `ctl_check_ooa`).
   */
  findBlocker(state: IoState): BlockageResult {
    if (!this.#mayBeBlocked(state)) return { blockage: Blockage.Pass, other: null };
    for (let older = state.prev; older; older = older.prev) {
      if (state.copyIo && stuckBehindCopy(older)) continue;
      const b = checkForBlockage(state, older);
      if (b === Blockage.Pass || b === Blockage.Skip) continue;
      return { blockage: b, other: older };
    }
    return { blockage: Blockage.Pass, other: null };
  }

  /** Resolves once the OOA list is empty. */
  whenIdle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Pending unit attention bits of an initiator. */
  pendingUa(initiatorIndex: number): number {
    return this.#ua.get(initiatorIndex) ?? UaFlag.PowerOn;
  }

  /**
   * Takes the highest-priority pending unit attention of an initiator and
   * clears it (with every lower one, for reset-class conditions). Returns the
   * flag taken, or 0.
   */
  takeUa(initiatorIndex: number): number {
    const pending = this.pendingUa(initiatorIndex);
    const flag = highestUa(pending);
    if (flag === 0) return 0;
    this.#ua.set(initiatorIndex, pending & ~uaClearMask(flag));
    return flag;
  }

  /** Clears a condition for one initiator without reporting it. */
  clearUa(initiatorIndex: number, flag: number): void {
    const pending = this.#ua.get(initiatorIndex);
    if (pending !== undefined) this.#ua.set(initiatorIndex, pending & ~flag);
  }

  /** Establishes a condition for one initiator. */
  establishUa(initiatorIndex: number, flag: number): void {
    this.#ua.set(initiatorIndex, this.pendingUa(initiatorIndex) | flag);
  }

  /**
   * Establishes a condition for every initiator (but `except`). Initiators
   * that never talked to this LUN still have POWER ON pending, which
   * supersedes everything, so only known ones are touched.
   */
  establishUaAll(flag: number, except = -1): void {
    for (const [initiator, pending] of this.#ua) {
      if (initiator !== except) this.#ua.set(initiator, pending | flag);
    }
  }

  /** Forgets an initiator: POWER ON pending again if it comes back. */
  forgetInitiator(initiatorIndex: number): void {
    this.#ua.delete(initiatorIndex);
  }
}

/** Map key of a tagged command: initiator index and 32-bit tag. */
function tagKey(state: IoState): number {
  return state.initiatorIndex * 0x1_0000_0000 + (state.tagNum >>> 0);
}

/**
 * Whether `s` is an EXTENDED COPY or waits (through its chain of blockers) for
 * one. The copy manager's internal READ/WRITE commands do not wait for such
 * commands: an EXTENDED COPY completes only after its internal commands do,
 * so waiting for it (say, behind a newer ORDERED command or MODE SELECT that
 * waits for the copy) would deadlock. They still wait for every other older
 * command, running or blocked.
 */
function stuckBehindCopy(s: IoState): boolean {
  for (let c: IoState | null = s; c; c = c.phase === IoPhase.Blocked ? c.blocker : null) {
    if (c.entry?.opcode === TpcOpcode.ExtendedCopy) return true;
  }
  return false;
}
