/**
 * Serialization of overlapping commands (FreeBSD `ctl_ser_table.c` and
 * `ctl_check_for_blockage`, SAM-5 task attributes): decides whether a newly arrived
 * command may run alongside an older one still on the LUN's order-of-arrival
 * list or must wait for it. The Blockage values also name the two
 * overlapped-command errors, which `CtlLun.checkOverlap` detects.
 *
 * Does NOT walk the OOA list or wake blocked commands (lun.ts and ctl.ts do), and does
 * not implement FreeBSD's "serseq" sequential-read option or the Control mode
 * page queue algorithm modifier (QAM is reported as 0, restricted).
 */
import { TagType } from './io.js';

/** Serialization classes of commands (a column/row of the table). */
export const SerClass = {
  /** TEST UNIT READY, INQUIRY, REPORT LUNS, REQUEST SENSE, READ CAPACITY. */
  None: 0,
  /** READ, VERIFY. */
  Read: 1,
  /** WRITE. */
  Write: 2,
  /** SYNCHRONIZE CACHE, START STOP UNIT. */
  Sync: 3,
  /** MODE SENSE. */
  ModeSense: 4,
  /** MODE SELECT. */
  ModeSelect: 5,
  /**
   * RESERVE, RELEASE, PERSISTENT RESERVE OUT: newer commands wait for it (they
   * must see the new reservation); it does not wait for older I/O, so PREEMPT
   * AND ABORT can abort the very tasks it would otherwise queue behind.
   */
  Reservation: 6,
} as const;
export type SerClass = (typeof SerClass)[keyof typeof SerClass];

/** Table actions. */
const P = 0; // pass
const B = 1; // block
const X = 2; // block only if the LBA extents overlap

/**
 * SER_TABLE[pending][older]: what a pending command of one class does about an
 * older command of another class. Extent checks keep reads and writes of the
 * same blocks in arrival order (SAM-5 "restricted" queue algorithm); a cache
 * flush waits for older writes; MODE SELECT is a barrier both ways.
 */
const SER_TABLE: readonly (readonly number[])[] = [
  /*              None Read Write Sync MSense MSelect Resv */
  /* None    */ [P, P, P, P, P, P, P],
  /* Read    */ [P, P, X, P, P, B, B],
  /* Write   */ [P, X, X, P, P, B, B],
  /* Sync    */ [P, P, B, P, P, B, B],
  /* MSense  */ [P, P, P, P, P, B, B],
  /* MSelect */ [B, B, B, B, B, B, B],
  /* Resv    */ [P, P, P, P, P, B, B],
];

/** Outcome of comparing a pending command with one older command. */
export const Blockage = {
  /** No conflict with this one; keep looking at older commands. */
  Pass: 0,
  /** The older command is aborted; ignore it. */
  Skip: 1,
  /** Wait until the older command completes. */
  Block: 2,
  /** Two untagged commands from one I_T nexus (OVERLAPPED COMMANDS ATTEMPTED). */
  Overlap: 3,
  /** Same task tag reused on one I_T nexus (TAGGED OVERLAPPED COMMANDS). */
  OverlapTag: 4,
} as const;
export type Blockage = (typeof Blockage)[keyof typeof Blockage];

/** What the check needs to know about a command on the OOA list. */
export interface SerEntry {
  readonly tagType: number;
  readonly aborted: boolean;
  readonly serClass: SerClass;
  /** First LBA of the command's extent. */
  readonly lba: number;
  /** Number of blocks of the extent (0 = none). */
  readonly blocks: number;
}

function extentsOverlap(a: SerEntry, b: SerEntry): boolean {
  return a.blocks > 0 && b.blocks > 0 && a.lba < b.lba + b.blocks && b.lba < a.lba + a.blocks;
}

/**
 * Compares `pending` with one `older` command for ordering (FreeBSD
 * `ctl_check_for_blockage`, after its overlapped-command checks, which the
 * LUN does in O(1) with tag maps: see `CtlLun.checkOverlap`).
 */
export function checkForBlockage(pending: SerEntry, older: SerEntry): Blockage {
  if (older.aborted) return Blockage.Skip;
  // SAM-5 task attributes: HEAD OF QUEUE runs at once; ORDERED waits for every
  // older command; SIMPLE (and untagged) wait for older ORDERED / HEAD OF QUEUE ones.
  if (pending.tagType === TagType.HeadOfQueue) return Blockage.Pass;
  if (pending.tagType === TagType.Ordered) return Blockage.Block;
  if (older.tagType === TagType.Ordered || older.tagType === TagType.HeadOfQueue) return Blockage.Block;
  const action = SER_TABLE[pending.serClass]?.[older.serClass] ?? B;
  if (action === P) return Blockage.Pass;
  if (action === B) return Blockage.Block;
  return extentsOverlap(pending, older) ? Blockage.Block : Blockage.Pass;
}

/**
 * Whether a SIMPLE/untagged command of class `pending` can be blocked by an
 * older command of class `older` at all (the table entry is not PASS).
 */
export function mayConflict(pending: SerClass, older: SerClass): boolean {
  return (SER_TABLE[pending]?.[older] ?? B) !== P;
}

/** Number of serialization classes. */
export const SER_CLASS_COUNT = SER_TABLE.length;
