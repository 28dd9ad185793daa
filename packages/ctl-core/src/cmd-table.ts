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
import type { CtlLun } from './lun.js';
import { preventAllowMediumRemoval } from './removable.js';
import {
  readCapacity10,
  readCapacity16,
  readWrite,
  rwExtent,
  synchronizeCache,
  syncExtent,
} from './sbc-commands.js';
import {
  compareAndWriteCommand,
  integrityExtentOf,
  orWriteCommand,
  preFetchCommand,
  preFetchExtent,
  verifyCommand,
  writeAndVerifyCommand,
} from './sbc-integrity.js';
import { unmapEnabled } from './lbp.js';
import { logSense } from './log-pages.js';
import { readDefectData } from './read-defect-data.js';
import { MaintenanceIn, ScsiOpcode, ServiceActionIn16 } from './scsi-proto.js';
import { startStopUnit } from './start-stop-unit.js';
import { reportSupportedOpcodes, reportSupportedTmf } from './supported-opcodes.js';
import { reportTargetPortGroups } from './alua.js';
import { persistentReserveIn, persistentReserveOut, release, reserve } from './pr-commands.js';
import { PrInAction, PrOpcode, PrOutAction } from './pr-proto.js';
import { SerClass } from './ser-table.js';
import { inquiry, modeSelect, modeSense, reportLuns, requestSense, testUnitReady } from './spc-commands.js';
import { extendedCopy, receiveCopyResults } from './tpc-commands.js';
import { ExtendedCopySa, ReceiveCopyResultsSa, TpcOpcode } from './tpc-proto.js';
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
  /** Runs while the unit is stopped (FreeBSD OK_ON_STOPPED); others get NOT READY 04h/02h (SBC-3 §4.19). */
  OkOnStopped: 1 << 6,
  /** Allowed for other I_T nexuses under an SPC-2 reservation (FreeBSD ALLOW_ON_RESV). */
  AllowOnResv: 1 << 3,
  /** Allowed for non-holders under every persistent reservation type (SPC-4 table 66; FreeBSD ALLOW_ON_PR_RESV). */
  AllowOnPrResv: 1 << 4,
  /** Allowed for non-holders under Write Exclusive types (SPC-4 table 66; FreeBSD ALLOW_ON_PR_WRESV). */
  AllowOnPrWresv: 1 << 5,
  /**
   * Needs the medium although `OkOnStopped`: refused with NOT READY, MEDIUM NOT
   * PRESENT while a removable medium is ejected (removable.ts). Every other
   * `OkOnStopped` command also runs without a medium (FreeBSD OK_ON_NO_MEDIA
   * covers both states).
   */
  NeedsMedium: 1 << 7,
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
  /**
   * Whether the LUN offers the command at all (absent: always). Where it does
   * not, the command is INVALID COMMAND OPERATION CODE and REPORT SUPPORTED
   * OPERATION CODES leaves it out.
   */
  readonly offered?: (lun: CtlLun) => boolean;
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
    flags: CmdFlag.AllowOnPrResv,
    serClass: SerClass.None,
    handler: testUnitReady,
  },
  {
    name: 'REQUEST SENSE',
    opcode: ScsiOpcode.RequestSense,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x01, 0x00, 0x00, 0xff, CONTROL],
    flags: CmdFlag.OkOnNoLun | CmdFlag.NoUnitAttention | CmdFlag.OkOnStopped | CmdFlag.AllowOnResv | CmdFlag.AllowOnPrResv,
    serClass: SerClass.None,
    handler: requestSense,
  },
  {
    name: 'READ(6)',
    opcode: ScsiOpcode.Read6,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x1f, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrWresv,
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
    flags: CmdFlag.OkOnNoLun | CmdFlag.NoUnitAttention | CmdFlag.OkOnStopped | CmdFlag.AllowOnResv | CmdFlag.AllowOnPrResv,
    serClass: SerClass.None,
    handler: inquiry,
  },
  {
    name: 'MODE SELECT(6)',
    opcode: ScsiOpcode.ModeSelect6,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x11, 0x00, 0x00, 0xff, CONTROL],
    flags: CmdFlag.OkOnStopped,
    serClass: SerClass.ModeSelect,
    handler: modeSelect,
  },
  {
    name: 'MODE SENSE(6)',
    opcode: ScsiOpcode.ModeSense6,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x08, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.OkOnStopped | CmdFlag.AllowOnPrWresv,
    serClass: SerClass.ModeSense,
    handler: modeSense,
  },
  {
    name: 'START STOP UNIT',
    opcode: ScsiOpcode.StartStopUnit,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x01, 0x00, 0x0f, 0xf7, CONTROL],
    flags: CmdFlag.OkOnStopped,
    serClass: SerClass.Sync,
    handler: startStopUnit,
  },
  {
    name: 'READ CAPACITY(10)',
    opcode: ScsiOpcode.ReadCapacity10,
    serviceAction: null,
    cdbLength: 10,
    usage: [0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, CONTROL],
    flags: CmdFlag.OkOnStopped | CmdFlag.AllowOnPrResv | CmdFlag.NeedsMedium,
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
    flags: CmdFlag.AllowOnPrWresv,
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
    flags: CmdFlag.AllowOnPrWresv,
    serClass: SerClass.Read,
    extent: rwExtent,
    handler: verifyCommand,
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
    flags: CmdFlag.OkOnStopped,
    serClass: SerClass.ModeSelect,
    handler: modeSelect,
  },
  {
    name: 'MODE SENSE(10)',
    opcode: ScsiOpcode.ModeSense10,
    serviceAction: null,
    cdbLength: 10,
    usage: [0xff, 0x18, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, CONTROL],
    flags: CmdFlag.OkOnStopped | CmdFlag.AllowOnPrWresv,
    serClass: SerClass.ModeSense,
    handler: modeSense,
  },
  {
    name: 'READ(16)',
    opcode: ScsiOpcode.Read16,
    serviceAction: null,
    cdbLength: 16,
    usage: [0xff, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.AllowOnPrWresv,
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
    flags: CmdFlag.AllowOnPrWresv,
    serClass: SerClass.Read,
    extent: rwExtent,
    handler: verifyCommand,
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
    flags: CmdFlag.OkOnStopped | CmdFlag.AllowOnPrResv | CmdFlag.NeedsMedium,
    serClass: SerClass.None,
    handler: readCapacity16,
  },
  {
    name: 'REPORT LUNS',
    opcode: ScsiOpcode.ReportLuns,
    serviceAction: null,
    cdbLength: 12,
    usage: [0xff, 0x00, 0xff, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, CONTROL],
    flags: CmdFlag.OkOnNoLun | CmdFlag.NoUnitAttention | CmdFlag.OkOnStopped | CmdFlag.AllowOnResv | CmdFlag.AllowOnPrResv,
    serClass: SerClass.None,
    handler: reportLuns,
  },
  {
    name: 'READ(12)',
    opcode: ScsiOpcode.Read12,
    serviceAction: null,
    cdbLength: 12,
    usage: [0xff, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.AllowOnPrWresv,
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
    name: 'EXTENDED COPY(LID1)',
    opcode: TpcOpcode.ExtendedCopy,
    serviceAction: ExtendedCopySa.Lid1,
    cdbLength: 16,
    // SPC-4 §6.4.2: SERVICE ACTION | reserved | PARAMETER LIST LENGTH (10..13) | CONTROL
    usage: [0xff, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, CONTROL],
    flags: CmdFlag.None,
    serClass: SerClass.None,
    handler: extendedCopy,
  },
  ...[
    ReceiveCopyResultsSa.CopyStatus,
    ReceiveCopyResultsSa.OperatingParameters,
    ReceiveCopyResultsSa.FailedSegmentDetails,
  ].map(
    (sa): CmdEntry => ({
      name: `RECEIVE COPY RESULTS(${sa})`,
      opcode: TpcOpcode.ReceiveCopyResults,
      serviceAction: sa,
      cdbLength: 16,
      // SPC-4 §6.18.1: SERVICE ACTION | LIST IDENTIFIER (reserved for OPERATING PARAMETERS) |
      // reserved | ALLOCATION LENGTH (10..13) | CONTROL
      usage: [
        0xff,
        0x1f,
        sa === ReceiveCopyResultsSa.OperatingParameters ? 0 : 0xff,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0xff,
        0xff,
        0xff,
        0xff,
        0,
        CONTROL,
      ],
      flags: CmdFlag.OkOnStopped | CmdFlag.AllowOnPrResv,
      serClass: SerClass.None,
      handler: receiveCopyResults,
    }),
  ),
  // Data-integrity commands (sbc-integrity.ts). DPO and FUA_NV are accepted and have no effect.
  {
    name: 'VERIFY(12)',
    opcode: ScsiOpcode.Verify12,
    serviceAction: null,
    cdbLength: 12,
    // VRPROTECT DPO . BYTCHK . | LBA | VERIFICATION LENGTH | GROUP NUMBER
    usage: [0xff, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.AllowOnPrWresv,
    serClass: SerClass.Read,
    extent: integrityExtentOf,
    handler: verifyCommand,
  },
  {
    name: 'WRITE AND VERIFY(10)',
    opcode: ScsiOpcode.WriteAndVerify10,
    serviceAction: null,
    cdbLength: 10,
    // WRPROTECT DPO . BYTCHK . | LBA | GROUP NUMBER | TRANSFER LENGTH
    usage: [0xff, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: integrityExtentOf,
    handler: writeAndVerifyCommand,
  },
  {
    name: 'WRITE AND VERIFY(12)',
    opcode: ScsiOpcode.WriteAndVerify12,
    serviceAction: null,
    cdbLength: 12,
    usage: [0xff, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: integrityExtentOf,
    handler: writeAndVerifyCommand,
  },
  {
    name: 'WRITE AND VERIFY(16)',
    opcode: ScsiOpcode.WriteAndVerify16,
    serviceAction: null,
    cdbLength: 16,
    usage: [0xff, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: integrityExtentOf,
    handler: writeAndVerifyCommand,
  },
  {
    name: 'ORWRITE(16)',
    opcode: ScsiOpcode.OrWrite16,
    serviceAction: null,
    cdbLength: 16,
    // ORPROTECT DPO FUA . FUA_NV . | LBA | TRANSFER LENGTH | GROUP NUMBER
    usage: [0xff, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: integrityExtentOf,
    handler: orWriteCommand,
  },
  {
    name: 'COMPARE AND WRITE',
    opcode: ScsiOpcode.CompareAndWrite,
    serviceAction: null,
    cdbLength: 16,
    // WRPROTECT DPO FUA . FUA_NV . | LBA | reserved x3 | NUMBER OF LOGICAL BLOCKS | GROUP NUMBER
    usage: [0xff, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.WritesMedium,
    serClass: SerClass.Write,
    extent: integrityExtentOf,
    handler: compareAndWriteCommand,
  },
  {
    name: 'PRE-FETCH(10)',
    opcode: ScsiOpcode.PreFetch10,
    serviceAction: null,
    cdbLength: 10,
    // . IMMED . | LBA | GROUP NUMBER | PREFETCH LENGTH
    usage: [0xff, 0x02, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrWresv,
    serClass: SerClass.None,
    extent: preFetchExtent,
    handler: preFetchCommand,
  },
  {
    name: 'PRE-FETCH(16)',
    opcode: ScsiOpcode.PreFetch16,
    serviceAction: null,
    cdbLength: 16,
    usage: [0xff, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, CONTROL],
    flags: CmdFlag.AllowOnPrWresv,
    serClass: SerClass.None,
    extent: preFetchExtent,
    handler: preFetchCommand,
  },
  {
    name: 'READ DEFECT DATA(10)',
    opcode: ScsiOpcode.ReadDefectData10,
    serviceAction: null,
    cdbLength: 10,
    // REQ_PLIST REQ_GLIST DEFECT LIST FORMAT | ALLOCATION LENGTH
    usage: [0xff, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrWresv,
    serClass: SerClass.None,
    handler: readDefectData,
  },
  {
    name: 'READ DEFECT DATA(12)',
    opcode: ScsiOpcode.ReadDefectData12,
    serviceAction: null,
    cdbLength: 12,
    // REQ_PLIST REQ_GLIST DEFECT LIST FORMAT | ADDRESS DESCRIPTOR INDEX | ALLOCATION LENGTH
    usage: [0xff, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CONTROL],
    flags: CmdFlag.AllowOnPrWresv,
    serClass: SerClass.None,
    handler: readDefectData,
  },
  {
    name: 'LOG SENSE',
    opcode: ScsiOpcode.LogSense,
    serviceAction: null,
    cdbLength: 10,
    // SP | PC PAGE CODE | SUBPAGE CODE | PARAMETER POINTER | ALLOCATION LENGTH (PPC is obsolete)
    usage: [0xff, 0x01, 0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.OkOnStopped | CmdFlag.AllowOnPrResv,
    serClass: SerClass.None,
    handler: logSense,
  },
  {
    name: 'REPORT SUPPORTED OPERATION CODES',
    opcode: ScsiOpcode.MaintenanceIn,
    serviceAction: MaintenanceIn.ReportSupportedOperationCodes,
    cdbLength: 12,
    // SERVICE ACTION | RCTD REPORTING OPTIONS | REQUESTED OPERATION CODE | REQUESTED SERVICE ACTION | ALLOCATION LENGTH
    usage: [0xff, 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CONTROL],
    flags: CmdFlag.OkOnStopped | CmdFlag.AllowOnPrResv,
    serClass: SerClass.None,
    handler: reportSupportedOpcodes,
  },
  {
    name: 'REPORT TARGET PORT GROUPS',
    opcode: ScsiOpcode.MaintenanceIn,
    serviceAction: MaintenanceIn.ReportTargetPortGroups,
    cdbLength: 12,
    // PARAMETER DATA FORMAT | SERVICE ACTION | ALLOCATION LENGTH
    usage: [0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, CONTROL],
    // SPC-4 table 66 / FreeBSD: allowed under every reservation; runs while stopped.
    flags: CmdFlag.OkOnStopped | CmdFlag.AllowOnResv | CmdFlag.AllowOnPrResv,
    serClass: SerClass.None,
    handler: reportTargetPortGroups,
  },
  {
    name: 'REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS',
    opcode: ScsiOpcode.MaintenanceIn,
    serviceAction: MaintenanceIn.ReportSupportedTaskManagementFunctions,
    cdbLength: 12,
    // SERVICE ACTION | REPD | ALLOCATION LENGTH
    usage: [0xff, 0x1f, 0x80, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, CONTROL],
    flags: CmdFlag.OkOnStopped | CmdFlag.AllowOnPrResv,
    serClass: SerClass.None,
    handler: reportSupportedTmf,
  },
  {
    name: 'RESERVE(6)',
    opcode: PrOpcode.Reserve6,
    serviceAction: null,
    cdbLength: 6,
    // Third-party reservations and extents (byte 1) are not supported.
    usage: [0xff, 0x00, 0x00, 0x00, 0x00, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: reserve,
  },
  {
    name: 'RELEASE(6)',
    opcode: PrOpcode.Release6,
    serviceAction: null,
    cdbLength: 6,
    usage: [0xff, 0x00, 0x00, 0x00, 0x00, CONTROL],
    flags: CmdFlag.AllowOnResv | CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: release,
  },
  {
    name: 'RESERVE(10)',
    opcode: PrOpcode.Reserve10,
    serviceAction: null,
    cdbLength: 10,
    // 3RDPTY / LONGID and the third-party parameter list are not supported.
    usage: [0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: reserve,
  },
  {
    name: 'RELEASE(10)',
    opcode: PrOpcode.Release10,
    serviceAction: null,
    cdbLength: 10,
    usage: [0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, CONTROL],
    flags: CmdFlag.AllowOnResv | CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: release,
  },
  {
    name: 'PERSISTENT RESERVE IN (READ KEYS)',
    opcode: PrOpcode.PersistentReserveIn,
    serviceAction: PrInAction.ReadKeys,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.ModeSense,
    handler: persistentReserveIn,
  },
  {
    name: 'PERSISTENT RESERVE IN (READ RESERVATION)',
    opcode: PrOpcode.PersistentReserveIn,
    serviceAction: PrInAction.ReadReservation,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.ModeSense,
    handler: persistentReserveIn,
  },
  {
    name: 'PERSISTENT RESERVE IN (REPORT CAPABILITIES)',
    opcode: PrOpcode.PersistentReserveIn,
    serviceAction: PrInAction.ReportCapabilities,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.ModeSense,
    handler: persistentReserveIn,
  },
  {
    name: 'PERSISTENT RESERVE IN (READ FULL STATUS)',
    opcode: PrOpcode.PersistentReserveIn,
    serviceAction: PrInAction.ReadFullStatus,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.ModeSense,
    handler: persistentReserveIn,
  },
  {
    name: 'PERSISTENT RESERVE OUT (REGISTER)',
    opcode: PrOpcode.PersistentReserveOut,
    serviceAction: PrOutAction.Register,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: persistentReserveOut,
  },
  {
    name: 'PERSISTENT RESERVE OUT (RESERVE)',
    opcode: PrOpcode.PersistentReserveOut,
    serviceAction: PrOutAction.Reserve,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: persistentReserveOut,
  },
  {
    name: 'PERSISTENT RESERVE OUT (RELEASE)',
    opcode: PrOpcode.PersistentReserveOut,
    serviceAction: PrOutAction.Release,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: persistentReserveOut,
  },
  {
    name: 'PERSISTENT RESERVE OUT (CLEAR)',
    opcode: PrOpcode.PersistentReserveOut,
    serviceAction: PrOutAction.Clear,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: persistentReserveOut,
  },
  {
    name: 'PERSISTENT RESERVE OUT (PREEMPT)',
    opcode: PrOpcode.PersistentReserveOut,
    serviceAction: PrOutAction.Preempt,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: persistentReserveOut,
  },
  {
    name: 'PERSISTENT RESERVE OUT (PREEMPT AND ABORT)',
    opcode: PrOpcode.PersistentReserveOut,
    serviceAction: PrOutAction.PreemptAndAbort,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: persistentReserveOut,
  },
  {
    name: 'PERSISTENT RESERVE OUT (REGISTER AND IGNORE EXISTING KEY)',
    opcode: PrOpcode.PersistentReserveOut,
    serviceAction: PrOutAction.RegisterAndIgnoreExistingKey,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: persistentReserveOut,
  },
  {
    name: 'PERSISTENT RESERVE OUT (REGISTER AND MOVE)',
    opcode: PrOpcode.PersistentReserveOut,
    serviceAction: PrOutAction.RegisterAndMove,
    cdbLength: 10,
    usage: [0xff, 0x1f, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, CONTROL],
    flags: CmdFlag.AllowOnPrResv | CmdFlag.OkOnStopped,
    serClass: SerClass.Reservation,
    handler: persistentReserveOut,
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
    offered: (lun) => lun.be.provisioning !== undefined,
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
    offered: (lun) => unmapEnabled(lun.be),
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
    offered: (lun) => lun.be.provisioning !== undefined,
  },
  {
    name: 'GET LBA STATUS',
    opcode: ScsiOpcode.ServiceActionIn16,
    serviceAction: ServiceActionIn16.GetLbaStatus,
    cdbLength: 16,
    // SERVICE ACTION | STARTING LBA | ALLOCATION LENGTH | reserved
    usage: [0xff, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, CONTROL],
    flags: CmdFlag.AllowOnPrWresv,
    serClass: SerClass.Read,
    extent: getLbaStatusExtent,
    handler: getLbaStatus,
  },
  {
    name: 'PREVENT ALLOW MEDIUM REMOVAL',
    opcode: ScsiOpcode.PreventAllowMediumRemoval,
    serviceAction: null,
    cdbLength: 6,
    // PREVENT (SBC-3 PREVENT ALLOW MEDIUM REMOVAL); bytes 1-3 reserved
    usage: [0xff, 0x00, 0x00, 0x00, 0x03, CONTROL],
    flags: CmdFlag.OkOnStopped,
    serClass: SerClass.None,
    // FreeBSD ctl_prevent_allow: INVALID COMMAND OPERATION CODE unless the LUN is removable.
    offered: (lun) => lun.medium.removable,
    handler: preventAllowMediumRemoval,
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
