/**
 * The command table (FreeBSD `ctl_cmd_table.c`): for each supported
 * operation code (and service action), its handler, flags, CDB length,
 * serialization class and the per-byte "usage" mask of bits the initiator
 * may set. Any other bit set is a reserved bit: INVALID FIELD IN CDB with the
 * field and bit pointer (SPC-4 §4.5.2.4.2). The CONTROL byte allows only the
 * vendor-specific bits, so NACA = 1 (no ACA support, SAM-5 CONTROL byte) and the
 * obsolete LINK bit are rejected the same way.
 *
 * Does NOT execute anything itself; the core (ctl.ts) looks entries up and
 * runs the prechecks the flags ask for.
 */
import type { CommandHandler } from './command.js';
import type { IoState } from './io-state.js';
import {
  readCapacity10,
  readCapacity16,
  readWrite,
  rwExtent,
  startStopUnit,
  synchronizeCache,
  syncExtent,
  verify,
} from './sbc-commands.js';
import { ScsiOpcode, ServiceActionIn16 } from './scsi-proto.js';
import { SerClass } from './ser-table.js';
import { inquiry, modeSelect, modeSense, reportLuns, requestSense, testUnitReady } from './spc-commands.js';
import { getLbaStatus, getLbaStatusExtent } from './get-lba-status.js';
import { unmap, unmapExtent } from './unmap.js';
import { writeSame, writeSameExtent } from './write-same.js';

/** Command flags (FreeBSD `CTL_CMD_FLAG_*`). */
export const CmdFlag = {
  None: 0,
  /** Runs even if the LUN does not exist (FreeBSD OK_ON_NO_LUN). */
  OkOnNoLun: 1 << 0,
  /** Not held up by a pending unit attention (SAM-5 unit attention condition). */
  NoUnitAttention: 1 << 1,
  /** Modifies the medium: refused with WRITE PROTECTED on a read-only LUN. */
  WritesMedium: 1 << 2,
} as const;

/** One row of the table. */
export interface CmdEntry {
  readonly name: string;
  readonly opcode: number;
  /** Service action (5 bits of CDB byte 1), or null. */
  readonly serviceAction: number | null;
  readonly cdbLength: number;
  /** usage[i] = bits the initiator may set in CDB byte i (byte 0 is the opcode). */
  readonly usage: readonly number[];
  readonly flags: number;
  readonly serClass: SerClass;
  /** Records the command's LBA extent on the state, for ordering. */
  readonly extent?: (state: IoState) => void;
  readonly handler: CommandHandler;
}

/** CONTROL byte usage: vendor-specific bits only (SAM-5 CONTROL byte). */
const CONTROL = 0xc0;

const ENTRIES: readonly CmdEntry[] = [
  {
    name: 'TEST UNIT READY',
    opcode: ScsiOpcode.TestUnitReady,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x00, 0x00, 0x00, 0x00, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.None,
    handler: testUnitReady,
  },
  {
    name: 'REQUEST SENSE',
    opcode: ScsiOpcode.RequestSense,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x01, 0x00, 0x00, 0xff, CONTROL],
    flags: CmdFlag.OkOnNoLun | CmdFlag.NoUnitAttention,
    serClass: SerClass.None,
    handler: requestSense,
  },
  {
    name: 'READ(6)',
    opcode: ScsiOpcode.Read6,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x1f, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.Read,
    extent: rwExtent,
    handler: readWrite,
  },
  {
    name: 'WRITE(6)',
    opcode: ScsiOpcode.Write6,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x1f, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: rwExtent,
    handler: readWrite,
  },
  {
    name: 'INQUIRY',
    opcode: ScsiOpcode.Inquiry,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x01, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.OkOnNoLun | CmdFlag.NoUnitAttention,
    serClass: SerClass.None,
    handler: inquiry,
  },
  {
    name: 'MODE SELECT(6)',
    opcode: ScsiOpcode.ModeSelect6,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x11, 0x00, 0x00, 0xff, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.ModeSelect,
    handler: modeSelect,
  },
  {
    name: 'MODE SENSE(6)',
    opcode: ScsiOpcode.ModeSense6,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x08, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.ModeSense,
    handler: modeSense,
  },
  {
    name: 'START STOP UNIT',
    opcode: ScsiOpcode.StartStopUnit,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x01, 0x00, 0x0f, 0xf7, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.Sync,
    handler: startStopUnit,
  },
  {
    name: 'READ CAPACITY(10)',
    opcode: ScsiOpcode.ReadCapacity10,
    serviceAction: null,
    cdbLength: 10,
    usage: [0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.None,
    handler: readCapacity10,
  },
  {
    name: 'READ(10)',
    opcode: ScsiOpcode.Read10,
    serviceAction: null,
    cdbLength: 10,
    // RDPROTECT DPO FUA . FUA_NV . | LBA | GROUP NUMBER | TRANSFER LENGTH
    usage: [0xff, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.Read,
    extent: rwExtent,
    handler: readWrite,
  },
  {
    name: 'WRITE(10)',
    opcode: ScsiOpcode.Write10,
    serviceAction: null,
    cdbLength: 10,
    usage: [0xff, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: rwExtent,
    handler: readWrite,
  },
  {
    name: 'VERIFY(10)',
    opcode: ScsiOpcode.Verify10,
    serviceAction: null,
    cdbLength: 10,
    // VRPROTECT DPO . BYTCHK . | LBA | GROUP NUMBER | VERIFICATION LENGTH
    usage: [0xff, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.Read,
    extent: rwExtent,
    handler: verify,
  },
  {
    name: 'SYNCHRONIZE CACHE(10)',
    opcode: ScsiOpcode.SynchronizeCache10,
    serviceAction: null,
    cdbLength: 10,
    usage: [0xff, 0x06, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.Sync,
    extent: syncExtent,
    handler: synchronizeCache,
  },
  {
    name: 'MODE SELECT(10)',
    opcode: ScsiOpcode.ModeSelect10,
    serviceAction: null,
    cdbLength: 10,
    usage: [0xff, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.ModeSelect,
    handler: modeSelect,
  },
  {
    name: 'MODE SENSE(10)',
    opcode: ScsiOpcode.ModeSense10,
    serviceAction: null,
    cdbLength: 10,
    usage: [0xff, 0x18, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.ModeSense,
    handler: modeSense,
  },
  {
    name: 'READ(16)',
    opcode: ScsiOpcode.Read16,
    serviceAction: null,
    cdbLength: 16,
    usage: [0xff, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.Read,
    extent: rwExtent,
    handler: readWrite,
  },
  {
    name: 'WRITE(16)',
    opcode: ScsiOpcode.Write16,
    serviceAction: null,
    cdbLength: 16,
    usage: [0xff, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: rwExtent,
    handler: readWrite,
  },
  {
    name: 'VERIFY(16)',
    opcode: ScsiOpcode.Verify16,
    serviceAction: null,
    cdbLength: 16,
    usage: [0xff, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.Read,
    extent: rwExtent,
    handler: verify,
  },
  {
    name: 'SYNCHRONIZE CACHE(16)',
    opcode: ScsiOpcode.SynchronizeCache16,
    serviceAction: null,
    cdbLength: 16,
    usage: [0xff, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.Sync,
    extent: syncExtent,
    handler: synchronizeCache,
  },
  {
    name: 'READ CAPACITY(16)',
    opcode: ScsiOpcode.ServiceActionIn16,
    serviceAction: ServiceActionIn16.ReadCapacity16,
    cdbLength: 16,
    usage: [0xff, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.None,
    handler: readCapacity16,
  },
  {
    name: 'REPORT LUNS',
    opcode: ScsiOpcode.ReportLuns,
    serviceAction: null,
    cdbLength: 12,
    usage: [0xff, 0x00, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, CONTROL],
    flags: CmdFlag.OkOnNoLun | CmdFlag.NoUnitAttention,
    serClass: SerClass.None,
    handler: reportLuns,
  },
  {
    name: 'READ(12)',
    opcode: ScsiOpcode.Read12,
    serviceAction: null,
    cdbLength: 12,
    usage: [0xff, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.Read,
    extent: rwExtent,
    handler: readWrite,
  },
  {
    name: 'WRITE(12)',
    opcode: ScsiOpcode.Write12,
    serviceAction: null,
    cdbLength: 12,
    usage: [0xff, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: rwExtent,
    handler: readWrite,
  },
  {
    name: 'WRITE SAME(10)',
    opcode: ScsiOpcode.WriteSame10,
    serviceAction: null,
    cdbLength: 10,
    // WRPROTECT ANCHOR UNMAP (PBDATA, LBDATA obsolete) | LBA | GROUP NUMBER | NUMBER OF LOGICAL BLOCKS
    usage: [0xff, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: writeSameExtent,
    handler: writeSame,
  },
  {
    name: 'UNMAP',
    opcode: ScsiOpcode.Unmap,
    serviceAction: null,
    cdbLength: 10,
    // ANCHOR | GROUP NUMBER | PARAMETER LIST LENGTH
    usage: [0xff, 0x01, 0x00, 0x00, 0x00, 0x00, 0x1f, 0xff, 0xff, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: unmapExtent,
    handler: unmap,
  },
  {
    name: 'WRITE SAME(16)',
    opcode: ScsiOpcode.WriteSame16,
    serviceAction: null,
    cdbLength: 16,
    // WRPROTECT ANCHOR UNMAP (obsolete) NDOB | LBA | NUMBER OF LOGICAL BLOCKS | GROUP NUMBER
    usage: [0xff, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: writeSameExtent,
    handler: writeSame,
  },
  {
    name: 'GET LBA STATUS',
    opcode: ScsiOpcode.ServiceActionIn16,
    serviceAction: ServiceActionIn16.GetLbaStatus,
    cdbLength: 16,
    // SERVICE ACTION | STARTING LBA | ALLOCATION LENGTH | reserved
    usage: [0xff, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.Read,
    extent: getLbaStatusExtent,
    handler: getLbaStatus,
  },
];

/** A slot of the 256-entry opcode table. */
type Slot = CmdEntry | ReadonlyMap<number, CmdEntry> | undefined;

function isServiceActionMap(slot: Slot): slot is ReadonlyMap<number, CmdEntry> {
  return slot instanceof Map;
}

function buildTable(entries: readonly CmdEntry[]): readonly Slot[] {
  const table: Slot[] = new Array<Slot>(256).fill(undefined);
  for (const e of entries) {
    if (e.usage.length !== e.cdbLength) throw new Error(`${e.name}: usage mask length ${e.usage.length}`);
    if (e.serviceAction === null) {
      table[e.opcode] = e;
    } else {
      const slot = table[e.opcode];
      const map = new Map<number, CmdEntry>(isServiceActionMap(slot) ? slot : []);
      map.set(e.serviceAction, e);
      table[e.opcode] = map;
    }
  }
  return table;
}

const TABLE = buildTable(ENTRIES);

/** Every entry of the table (for REPORT SUPPORTED OPERATION CODES and tests). */
export const COMMANDS: readonly CmdEntry[] = ENTRIES;

/** Result of looking a CDB up. */
export type CmdLookup =
  | { readonly entry: CmdEntry }
  /** Unsupported operation code (INVALID COMMAND OPERATION CODE). */
  | { readonly entry: null; readonly error: 'opcode' }
  /** Supported opcode, unsupported service action (INVALID FIELD IN CDB, byte 1). */
  | { readonly entry: null; readonly error: 'serviceAction' };

/** Finds the table entry for a CDB (FreeBSD `ctl_get_cmd_entry`). */
export function lookupCommand(cdb: Buffer): CmdLookup {
  const slot = TABLE[cdb[0] ?? 0];
  if (slot === undefined) return { entry: null, error: 'opcode' };
  if (isServiceActionMap(slot)) {
    const entry = slot.get((cdb[1] ?? 0) & 0x1f);
    return entry ? { entry } : { entry: null, error: 'serviceAction' };
  }
  return { entry: slot };
}

/** An invalid CDB field: byte offset and (optionally) the offending bit. */
export interface CdbFieldError {
  readonly byte: number;
  readonly bit?: number;
}

/**
 * Checks a CDB against the entry's usage mask (FreeBSD `ctl_validate_command`):
 * the first byte with a bit outside the mask, and its highest such bit. A CDB
 * shorter than the command's length is reported at its first missing byte.
 */
export function validateCdb(entry: CmdEntry, cdb: Buffer): CdbFieldError | null {
  if (cdb.length < entry.cdbLength) return { byte: cdb.length };
  const usage = entry.usage;
  for (let i = 1; i < entry.cdbLength; i++) {
    const bad = (cdb[i] ?? 0) & ~(usage[i] ?? 0) & 0xff;
    if (bad !== 0) return { byte: i, bit: 31 - Math.clz32(bad) };
  }
  return null;
}
