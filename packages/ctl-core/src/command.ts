/**
 * What a command handler may ask of the core (`CommandHost`), and small
 * helpers to complete a command with GOOD or CHECK CONDITION. Handlers live
 * in spc-commands.ts and sbc-commands.ts; the core (ctl.ts) implements the
 * host.
 *
 * Does NOT define any command; does not touch ports or backends directly.
 */
import type { BlockRequest } from './backend.js';
import { IoStatus, ScsiStatus } from './io.js';
import type { IoState } from './io-state.js';
import type { CtlLun } from './lun.js';
import type { ResolvedCtlOptions } from './options.js';
import type { ThirdPartyCopy } from './tpc.js';
import type { PrHost } from './pr-commands.js';
import type { AluaHost } from './alua.js';
import { Asc, SenseKey, type AscAscq } from './scsi-proto.js';
import { setSense, type SenseOptions } from './sense.js';

/** Services of the core available to command handlers. */
export interface CommandHost {
  readonly options: ResolvedCtlOptions;
  /** Completes the command with the status already set in the I/O (GOOD if none). */
  complete(state: IoState): void;
  /**
   * Sends CTL-generated `data` to the initiator in one datamove, truncated to
   * `allocationLength`, then completes with GOOD. Ownership of `data` passes
   * to the I/O (it must not be modified afterwards).
   */
  sendData(state: IoState, data: Buffer, allocationLength: number): void;
  /**
   * Receives `length` bytes of parameter data (MODE SELECT...) into a buffer
   * the core allocates, then calls `onData` with it (owned by the handler).
   * If the transfer fails or the command is aborted, the command completes
   * without calling `onData`.
   */
  receiveData(state: IoState, length: number, onData: (data: Buffer) => void): void;
  /** Hands a decoded block command to the LUN's backend. */
  submit(state: IoState, request: BlockRequest): void;
  /** LUNs the initiator sees through the command's port, ascending. */
  visibleLuns(state: IoState): number[];
  /** REPORTED LUNS DATA HAS CHANGED was reported: clear it on every LUN. */
  lunInventoryReported(initiatorIndex: number): void;
  /** Mode parameters of `lun` changed: tell every other initiator. */
  modeParametersChanged(lun: CtlLun, byInitiator: number): void;
  /** Relative target port identifier of the command's port (1-based). */
  relativeTargetPort(state: IoState): number;
  /** The copy manager (EXTENDED COPY, RECEIVE COPY RESULTS; tpc.ts). */
  readonly tpc: ThirdPartyCopy;
  /** Services of the reservation commands (pr-commands.ts). */
  readonly pr: PrHost;
  /** ALUA topology and access states (alua.ts). */
  readonly alua: AluaHost;
}

/** A command handler (FreeBSD `ctl_cmd_entry.execute`). */
export type CommandHandler = (state: IoState, host: CommandHost) => void;

/** Whether sense for this command is built in descriptor format (D_SENSE). */
export function useDescriptorSense(state: IoState, host: CommandHost): boolean {
  return state.lun ? state.lun.mode.dSense : host.options.descriptorSense;
}

/** Sets GOOD status. */
export function setGood(state: IoState): void {
  const io = state.io;
  io.status = IoStatus.Success;
  io.scsiStatus = ScsiStatus.Good;
  io.senseData = null;
}

/** Completes with GOOD status. */
export function good(state: IoState, host: CommandHost): void {
  setGood(state);
  host.complete(state);
}

/** Completes with CHECK CONDITION and the given sense. */
export function checkCondition(
  state: IoState,
  host: CommandHost,
  senseKey: number,
  code: AscAscq,
  opts: Omit<SenseOptions, 'descriptor'> = {},
): void {
  setSense(state.io, senseKey, code.asc, code.ascq, { ...opts, descriptor: useDescriptorSense(state, host) });
  host.complete(state);
}

/**
 * ILLEGAL REQUEST / INVALID FIELD IN CDB with the sense-key specific field
 * pointer (SPC-4 §4.5.2.4.2: SKSV = 1, C/D = 1, BPV if `bit` is given).
 */
export function invalidFieldInCdb(state: IoState, host: CommandHost, byte: number, bit?: number): void {
  const opts: SenseOptions = { fieldPointer: byte, command: true };
  if (bit !== undefined) opts.bitPointer = bit;
  checkCondition(state, host, SenseKey.IllegalRequest, Asc.InvalidFieldInCdb, opts);
}

/** ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST with a field pointer (C/D = 0). */
export function invalidFieldInParameterList(state: IoState, host: CommandHost, byte: number, bit?: number): void {
  const opts: SenseOptions = { fieldPointer: byte, command: false };
  if (bit !== undefined) opts.bitPointer = bit;
  checkCondition(state, host, SenseKey.IllegalRequest, Asc.InvalidFieldInParameterList, opts);
}

/** ILLEGAL REQUEST / LOGICAL BLOCK ADDRESS OUT OF RANGE (SBC-3 READ/WRITE). */
export function lbaOutOfRange(state: IoState, host: CommandHost): void {
  checkCondition(state, host, SenseKey.IllegalRequest, Asc.LogicalBlockAddressOutOfRange);
}
