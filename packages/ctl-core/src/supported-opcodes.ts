/**
 * REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35) and REPORT SUPPORTED TASK
 * MANAGEMENT FUNCTIONS (SPC-4 §6.36), the two MAINTENANCE IN (A3h) service
 * actions of the core (FreeBSD `ctl_report_supported_opcodes`,
 * `ctl_report_supported_tmf`).
 *
 * What it does: builds the command descriptors (all commands, or one
 * command with its CDB usage data) from the command table itself
 * (`COMMANDS` in cmd-table.ts), so a command added to the table later is
 * reported with its usage mask without touching this file; the optional
 * command timeouts descriptors (RCTD); the TMF support bits.
 *
 * What it does NOT do: it does not know any command itself, does not
 * dispatch MAINTENANCE IN (the table does, by service action), and reports
 * no command timeouts (both timeout fields are 0, "not specified", SPC-4
 * §6.35.4: the target has no per-command timing to promise).
 *
 * Buffers returned are freshly allocated and owned by the caller.
 */
import { COMMANDS, type CmdEntry } from './cmd-table.js';
import { invalidFieldInCdb, type CommandHost } from './command.js';
import type { IoState } from './io-state.js';
import type { CtlLun } from './lun.js';

/** REPORTING OPTIONS field values (SPC-4 §6.35.1, table 243). */
export const ReportingOptions = {
  /** All commands, command descriptor format. */
  All: 0b000,
  /** One command by operation code; it must not have service actions. */
  OpCode: 0b001,
  /** One command by operation code and service action; it must have service actions. */
  OpCodeServiceAction: 0b010,
  /** One command by operation code and service action, whether or not it has service actions. */
  OpCodeAnyServiceAction: 0b011,
} as const;

/** SUPPORT field of the one-command format (SPC-4 §6.35.3, table 246). */
export const CommandSupport = {
  NotAvailable: 0b000,
  NotSupported: 0b001,
  Supported: 0b011,
} as const;

/** Length of one command timeouts descriptor (SPC-4 §6.35.4): DESCRIPTOR LENGTH 0Ah + 2. */
const TIMEOUTS_DESCRIPTOR_LENGTH = 12;
/** Length of one command descriptor without timeouts (SPC-4 §6.35.2). */
const COMMAND_DESCRIPTOR_LENGTH = 8;

/**
 * The entries `lun` offers (CmdEntry.offered; a command offered only on some
 * LUNs, e.g. PREVENT ALLOW MEDIUM REMOVAL on removable ones, is reported per
 * LUN); every entry without a LUN.
 */
function offeredCommands(lun: CtlLun | null): CmdEntry[] {
  return COMMANDS.filter((e) => !e.offered || (lun !== null && e.offered(lun)));
}

/** Every entry offered on `lun` sorted by operation code, then service action. */
function sortedCommands(lun: CtlLun | null = null): CmdEntry[] {
  return offeredCommands(lun).sort((a, b) => a.opcode - b.opcode || (a.serviceAction ?? 0) - (b.serviceAction ?? 0));
}

/** Whether `opcode` is a command with service actions in the table. */
function hasServiceActions(opcode: number): boolean {
  return COMMANDS.some((e) => e.opcode === opcode && e.serviceAction !== null);
}

function findEntry(opcode: number, serviceAction: number | null, lun: CtlLun | null = null): CmdEntry | undefined {
  return offeredCommands(lun).find((e) => e.opcode === opcode && e.serviceAction === serviceAction);
}

/**
 * CDB usage data (SPC-4 §6.35.3): byte 0 is the operation code; for a
 * command with a service action, the SERVICE ACTION field (low 5 bits of
 * byte 1) holds the service action code; every other bit is the usage mask.
 */
export function cdbUsageData(entry: CmdEntry): Buffer {
  const usage = Buffer.from(entry.usage);
  usage[0] = entry.opcode;
  if (entry.serviceAction !== null) usage[1] = ((usage[1] ?? 0) & 0xe0) | (entry.serviceAction & 0x1f);
  return usage;
}

/** Command timeouts descriptor (SPC-4 §6.35.4): both timeouts "not specified". */
function timeoutsDescriptor(): Buffer {
  const d = Buffer.alloc(TIMEOUTS_DESCRIPTOR_LENGTH);
  d.writeUInt16BE(TIMEOUTS_DESCRIPTOR_LENGTH - 2, 0); // DESCRIPTOR LENGTH = 0Ah
  return d;
}

/** All-commands parameter data (SPC-4 §6.35.2) for the commands `lun` offers. */
export function buildAllCommands(rctd: boolean, lun: CtlLun | null = null): Buffer {
  const entries = sortedCommands(lun);
  const each = COMMAND_DESCRIPTOR_LENGTH + (rctd ? TIMEOUTS_DESCRIPTOR_LENGTH : 0);
  const data = Buffer.alloc(4 + entries.length * each);
  data.writeUInt32BE(entries.length * each, 0); // COMMAND DATA LENGTH
  let off = 4;
  for (const e of entries) {
    data[off] = e.opcode;
    data.writeUInt16BE(e.serviceAction ?? 0, off + 2);
    data[off + 5] = (rctd ? 0x02 : 0) | (e.serviceAction !== null ? 0x01 : 0); // CTDP | SERVACTV
    data.writeUInt16BE(e.cdbLength, off + 6);
    if (rctd) timeoutsDescriptor().copy(data, off + COMMAND_DESCRIPTOR_LENGTH);
    off += each;
  }
  return data;
}

/** One-command parameter data (SPC-4 §6.35.3) for `entry`, or SUPPORT = not supported. */
export function buildOneCommand(entry: CmdEntry | undefined, rctd: boolean): Buffer {
  if (!entry) {
    const data = Buffer.alloc(4);
    data[1] = CommandSupport.NotSupported;
    return data;
  }
  const usage = cdbUsageData(entry);
  const data = Buffer.alloc(4 + usage.length + (rctd ? TIMEOUTS_DESCRIPTOR_LENGTH : 0));
  data[1] = (rctd ? 0x80 : 0) | CommandSupport.Supported; // CTDP | SUPPORT
  data.writeUInt16BE(usage.length, 2); // CDB SIZE
  usage.copy(data, 4);
  if (rctd) timeoutsDescriptor().copy(data, 4 + usage.length);
  return data;
}

/** REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35). */
export function reportSupportedOpcodes(state: IoState, host: CommandHost): void {
  const cdb = state.io.cdb;
  const rctd = ((cdb[2] ?? 0) & 0x80) !== 0;
  const options = (cdb[2] ?? 0) & 0x07;
  const opcode = cdb[3] ?? 0;
  const serviceAction = cdb.readUInt16BE(4);
  const allocationLength = cdb.readUInt32BE(6);
  let data: Buffer;
  switch (options) {
    case ReportingOptions.All:
      data = buildAllCommands(rctd, state.lun);
      break;
    case ReportingOptions.OpCode:
      // SPC-4 §6.35.1: 001b for an operation code with service actions is an
      // invalid field (REPORTING OPTIONS).
      if (hasServiceActions(opcode)) return invalidFieldInCdb(state, host, 2, 2);
      data = buildOneCommand(findEntry(opcode, null, state.lun), rctd);
      break;
    case ReportingOptions.OpCodeServiceAction:
      // SPC-4 §6.35.1: 010b for an operation code without service actions is an
      // invalid field (REPORTING OPTIONS).
      if (!hasServiceActions(opcode)) return invalidFieldInCdb(state, host, 2, 2);
      data = buildOneCommand(serviceAction > 0x1f ? undefined : findEntry(opcode, serviceAction, state.lun), rctd);
      break;
    case ReportingOptions.OpCodeAnyServiceAction:
      // SPC-4 §6.35.1: 011b: a command without service actions is supported only
      // with REQUESTED SERVICE ACTION zero.
      if (hasServiceActions(opcode)) {
        data = buildOneCommand(serviceAction > 0x1f ? undefined : findEntry(opcode, serviceAction, state.lun), rctd);
      } else {
        data = buildOneCommand(serviceAction === 0 ? findEntry(opcode, null, state.lun) : undefined, rctd);
      }
      break;
    default:
      // SPC-4 §6.35.1: reserved REPORTING OPTIONS values.
      return invalidFieldInCdb(state, host, 2, 2);
  }
  host.sendData(state, data, allocationLength);
}

/**
 * TMF support bits (SPC-4 §6.36.2, table 248) matching what ctl.ts `#runTask`
 * carries out: ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET,
 * QUERY TASK, TARGET RESET (byte 0); QUERY TASK SET, I_T NEXUS RESET (byte 1).
 * CLEAR ACA (no ACA), QUERY ASYNCHRONOUS EVENT and WAKEUP are not offered.
 */
export const SUPPORTED_TMF_BYTE0 = 0x80 | 0x40 | 0x10 | 0x08 | 0x04 | 0x02; // ATS ATSS CTSS LURS QTS TRS
export const SUPPORTED_TMF_BYTE1 = 0x02 | 0x01; // QTSS ITNRS

/** REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 §6.36). */
export function reportSupportedTmf(state: IoState, host: CommandHost): void {
  const cdb = state.io.cdb;
  const repd = ((cdb[2] ?? 0) & 0x80) !== 0;
  const allocationLength = cdb.readUInt32BE(6);
  // SPC-4 §6.36.1: an ALLOCATION LENGTH below 4 is an invalid field.
  if (allocationLength < 4) return invalidFieldInCdb(state, host, 6);
  // SPC-4 §6.36.2/§6.36.3: basic (4 bytes) or extended (16 bytes, ADDITIONAL
  // DATA LENGTH 0Ch) format; TMFTMOV = 0: no timeouts are reported.
  const data = Buffer.alloc(repd ? 16 : 4);
  data[0] = SUPPORTED_TMF_BYTE0;
  data[1] = SUPPORTED_TMF_BYTE1;
  if (repd) data[3] = 0x0c;
  host.sendData(state, data, allocationLength);
}
