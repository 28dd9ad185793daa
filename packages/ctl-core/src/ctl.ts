/**
 * The CTL core (FreeBSD `ctl.c`): LUNs, ports and initiators; the life of a
 * SCSI command from `run` (precheck: LUN mapping, unit attentions, CDB
 * validation, write protection, the reservation access check, ordering on
 * the LUN's OOA list) through its
 * handler or the backend to `port.done`; the datamove plumbing between
 * backend and frontend; task management and I_T nexus loss.
 *
 * Does NOT touch the OS, move READ/WRITE payload (backends and frontends
 * do), run the reservation commands themselves (pr-commands.ts), or
 * decide ALUA ownership (a LUN's `LunAlua` does; alua.ts builds the answers). Single-threaded:
 * every call runs on the event loop; `port.datamove`/`port.done` and
 * backend `submit` are always called from a later microtask, never inside
 * the caller's `run`, `datamove` or `datamoveDone`.
 *
 * Buffer ownership: CTL-generated data (INQUIRY, MODE SENSE, sense...) is a
 * fresh Buffer owned by the I/O once sent; READ/WRITE buffers belong to the
 * backend (see io.ts / backend.ts). CTL copies no payload, so its copy
 * counters stay at zero on the READ/WRITE paths.
 */
import type { BackendLun, BlockRequest, CtlBackendServices } from './backend.js';
import { checkCondition, setGood, useDescriptorSense, type CommandHost } from './command.js';
import { CmdFlag, lookupCommand, validateCdb } from './cmd-table.js';
import { ctlCopyCounters, type CtlCopyCounters } from './counters.js';
import { CtlError, CtlErrorCode } from './errors.js';
import type { CtlFrontendServices, CtlPort } from './frontend.js';
import {
  DataDirection,
  DataOutMode,
  IoStatus,
  ScsiStatus,
  TagType,
  type CtlIo,
  type ScsiIo,
  type TaskIo,
} from './io.js';
import { IoPhase, IoState, ioState } from './io-state.js';
import { CtlLun } from './lun.js';
import { resolveCtlOptions, type CtlOptions, type ResolvedCtlOptions } from './options.js';
import { CtlPortTable, type InitiatorEntry } from './port-table.js';
import { Asc, SenseKey } from './scsi-proto.js';
import { Blockage } from './ser-table.js';
import { setSense, type SenseOptions } from './sense.js';
import { UaFlag, uaAscAscq } from './unit-attention.js';
import { abortAndWait, runTask } from './task-management.js';
import { ThirdPartyCopy } from './tpc.js';
import { reservationConflict, type PrHost } from './pr-commands.js';
import { isWriteExclusive } from './pr-proto.js';
import { validatePrSnapshot, type PrNexus, type PrStore } from './pr-store.js';
import { nexusId } from './reservations.js';
import type { CmdEntry } from './cmd-table.js';
import { AluaState, aluaRefusal, DEFAULT_TARGET_PORT_GROUP, validatePortAlua, type AluaHost, type LunAlua, type TargetPortGroup } from './alua.js';

export type { CtlOptions } from './options.js';

/** Per-LUN options of `Ctl.addLun`. */
export interface AddLunOptions extends LunInventoryOptions {
  /**
   * Durable store of the LUN's persistent reservations (APTPL). Loaded
   * synchronously here; without one the LUN reports PTPL_C = 0.
   */
  prStore?: PrStore;
  /**
   * The medium is removable (ctl.conf `option removable on`; FreeBSD
   * CTL_LUN_REMOVABLE): INQUIRY RMB = 1, PREVENT ALLOW MEDIUM REMOVAL and
   * START STOP UNIT LOEJ are offered (removable.ts). Default false.
   */
  removable?: boolean;
  /**
   * The LUN's ALUA access states per target port group (alua.ts), decided by
   * whoever enforces ownership across gateways. Absent: symmetric (every
   * group Active/Optimized).
   */
  alua?: LunAlua;
}

/**
 * `portStatus` CTL sets when a backend asks to move data for an aborted
 * command: the frontend is not called and `beMoveDone` follows at once
 * (FreeBSD uses the same value).
 */
export const PORT_STATUS_ABORTED = 31337;

/**
 * `portStatus` a frontend sets when the Data-Out of a piece arrived but is
 * unusable because of a transport sequence or digest error (RFC 7143 §7.8 /
 * §7.9: e.g. an out-of-order DataSN): CTL completes the command with ABORTED
 * COMMAND / PROTOCOL SERVICE CRC ERROR (47h/05h) instead of INTERNAL TARGET
 * FAILURE, and the backend writes nothing (any non-zero `portStatus`).
 */
export const PORT_STATUS_PROTOCOL_CRC_ERROR = 0x4705;
/** Options of `Ctl.addLun` / `Ctl.removeLun`. */
export interface LunInventoryOptions {
  /**
   * Establish REPORTED LUNS DATA HAS CHANGED on every other LUN for every
   * initiator (default true). False: the caller reports the change only
   * where it is seen, per port, with `lunInventoryChanged` once the port's
   * LUN map is updated (FreeBSD ctld: CTL_LUN_MAP, `ctl_est_ua_port`).
   */
  readonly inventoryUa?: boolean;
}
/**
 * `kernDataRef` of CTL-generated data (INQUIRY, MODE SENSE...): such a
 * Buffer is owned by its I/O and never modified after `sendData`, and the
 * garbage collector keeps it alive while a PDU borrows it, so there is
 * nothing to count. Lets a no-copy frontend send it without a userspace copy
 * (DESIGN.md §3.3: CTL's own data is not payload and must not show up as
 * copied bytes).
 */
export function ctlDataRef(_arg: unknown, _diff: number): void {}

/** A LUN as `Ctl.luns()` lists it. */
export interface CtlLunEntry {
  readonly lunId: number;
  readonly backend: BackendLun;
  /** Commands on the LUN's OOA list. */
  readonly outstanding: number;
}

export class Ctl implements CtlFrontendServices, CtlBackendServices {
  readonly counters: CtlCopyCounters;
  readonly options: ResolvedCtlOptions;
  readonly #luns = new Map<number, CtlLun>();
  readonly #ports: CtlPortTable;
  /** LUNs removed but still draining. */
  readonly #removing = new Set<CtlLun>();
  /** Commands running without a LUN (INQUIRY etc. to a LUN that does not exist). */
  readonly #lunless = new Set<IoState>();
  readonly #host: CommandHost;
  readonly #tpc: ThirdPartyCopy;

  constructor(options: CtlOptions = {}) {
    this.counters = options.counters ?? ctlCopyCounters;
    this.options = resolveCtlOptions(options);
    this.#ports = new CtlPortTable(this.#luns, this.options.maxInitiatorsPerPort, (ie) => this.#forgetInitiator(ie));
    this.#tpc = new ThirdPartyCopy(
      { frontend: this, counters: this.counters, lunsOf: (port) => this.#ports.portLuns(port) },
      options.tpc,
    );
    this.#host = {
      options: this.options,
      complete: (state) => this.#finish(state),
      sendData: (state, data, allocationLength) => this.#sendData(state, data, allocationLength),
      receiveData: (state, length, onData) => this.#receiveData(state, length, onData),
      submit: (state, request) => this.#submit(state, request),
      visibleLuns: (state) => this.#ports.visibleLuns(state.port),
      lunInventoryReported: (initiatorIndex) => {
        for (const lun of this.#luns.values()) lun.clearUa(initiatorIndex, UaFlag.LunInventoryChanged);
      },
      modeParametersChanged: (lun, byInitiator) => lun.establishUaAll(UaFlag.ModeParametersChanged, byInitiator),
      relativeTargetPort: (state) => this.#relativeTargetPort(state.port, state.targetPort),
      tpc: this.#tpc,
      pr: this.#prHost(),
      alua: this.#aluaHost(),
    };
  }

  // ---------------------------------------------------------------- LUNs

  /**
   * Adds a LUN backed by `be` with the given CTL LUN id (or the lowest free
   * one). Every initiator gets POWER ON on its first command to it, and
   * REPORTED LUNS DATA HAS CHANGED on the other LUNs. Returns the id.
   */
  addLun(be: BackendLun, lunId?: number, lunOptions: AddLunOptions = {}): number {
    validateBackend(be);
    const prStore = lunOptions.prStore ?? null;
    let persisted = null;
    if (prStore) {
      const loaded = prStore.load();
      if (loaded !== null) {
        const v = validatePrSnapshot(loaded);
        if (typeof v === 'string') throw new CtlError(CtlErrorCode.InvalidPrState, `persistent reservation state: ${v}`);
        persisted = v;
      }
    }
    let id = lunId;
    if (id === undefined) {
      id = 0;
      while (this.#luns.has(id)) id++;
    }
    if (!Number.isInteger(id) || id < 0 || id > this.options.maxLunId) {
      throw new CtlError(CtlErrorCode.InvalidLunId, `LUN id ${id} outside 0..${this.options.maxLunId}`);
    }
    if (this.#luns.has(id)) throw new CtlError(CtlErrorCode.LunExists, `LUN ${id} already exists`);
    if (lunOptions.inventoryUa !== false) for (const other of this.#luns.values()) other.establishUaAll(UaFlag.LunInventoryChanged);
    const lun = new CtlLun(id, be, this.options.descriptorSense, prStore, persisted, lunOptions.removable ?? false);
    lun.alua = lunOptions.alua ?? null;
    this.#luns.set(id, lun);
    return id;
  }

  /**
   * Removes a LUN: new commands to it fail with LOGICAL UNIT NOT SUPPORTED at
   * once; outstanding ones run to completion; then `be.shutdown()` is called
   * and awaited. Other LUNs raise REPORTED LUNS DATA HAS CHANGED.
   */
  async removeLun(lunId: number, options: LunInventoryOptions = {}): Promise<void> {
    const lun = this.#luns.get(lunId);
    if (!lun) throw new CtlError(CtlErrorCode.NoSuchLun, `no LUN ${lunId}`);
    lun.removing = true;
    this.#luns.delete(lunId);
    this.#removing.add(lun);
    if (options.inventoryUa !== false) for (const other of this.#luns.values()) other.establishUaAll(UaFlag.LunInventoryChanged);
    try {
      await lun.whenIdle();
    } finally {
      this.#removing.delete(lun);
    }
    this.#tpc.forgetLun(lunId);
    await lun.be.shutdown();
  }

  /** The backend changed the LUN's capacity: CAPACITY DATA HAS CHANGED for everyone (SBC-3 READ CAPACITY). */
  lunCapacityChanged(lunId: number): void {
    const lun = this.#luns.get(lunId);
    if (!lun) throw new CtlError(CtlErrorCode.NoSuchLun, `no LUN ${lunId}`);
    lun.establishUaAll(UaFlag.CapacityChanged);
  }

  /**
   * The LUN's ALUA access states changed (its `LunAlua` says so, e.g. after
   * an ownership move between gateways): ASYMMETRIC ACCESS STATE CHANGED
   * (2Ah/06h) for every initiator of this process (SPC-4 §5.15.2.2; the other
   * gateways raise it for theirs).
   */
  aluaStateChanged(lunId: number): void {
    const lun = this.#luns.get(lunId);
    if (!lun) throw new CtlError(CtlErrorCode.NoSuchLun, `no LUN ${lunId}`);
    lun.establishUaAll(UaFlag.AsymmetricAccessStateChanged);
  }

  /**
   * The LUN inventory seen through one port changed (its LUN map was
   * edited): REPORTED LUNS DATA HAS CHANGED (3Fh/0Eh) for the initiators of
   * that port only, on every LUN they can see (SPC-4 §6.33 REPORT LUNS: the
   * condition is for the I_T nexuses whose inventory changed; FreeBSD
   * CTL_LUN_MAP does the same per port).
   */
  lunInventoryChanged(targetPort: number): void {
    const pe = this.#ports.entry(targetPort);
    for (const id of this.#ports.mappedLunIds(pe.port)) {
      const lun = this.#luns.get(id);
      if (!lun) continue;
      for (const ie of pe.initiators.values()) lun.establishUa(ie.index, UaFlag.LunInventoryChanged);
    }
  }

  /** The LUNs, by ascending id (LUNs being removed are not listed). */
  luns(): CtlLunEntry[] {
    return [...this.#luns.values()]
      .sort((a, b) => a.id - b.id)
      .map((lun) => ({ lunId: lun.id, backend: lun.be, outstanding: lun.outstanding }));
  }

  // ------------------------------------------------------ ports/initiators

  registerPort(port: CtlPort): number {
    if (port.alua) {
      const bad = validatePortAlua(port.alua);
      if (bad !== null) throw new CtlError(CtlErrorCode.InvalidPortAlua, `port ${port.name}: ${bad}`);
    }
    return this.#ports.register(port);
  }

  /**
   * Removes a port: each of its initiators suffers I_T nexus loss (tasks
   * aborted; their `done` is still delivered to the port object) and is
   * forgotten. Unknown ports are ignored.
   */
  deregisterPort(targetPort: number): void {
    if (!this.#ports.has(targetPort)) return;
    for (const state of this.#allStates()) if (state.targetPort === targetPort) this.#abort(state);
    this.#ports.remove(targetPort);
  }

  addInitiator(targetPort: number, name: string): number {
    return this.#ports.addInitiator(targetPort, name);
  }

  /**
   * I_T nexus loss (SAM-5 I_T nexus loss): aborts every task of the nexus and
   * establishes I_T NEXUS LOSS OCCURRED on every LUN for it. The index stays
   * reserved for the name, so a reconnecting initiator gets it back.
   */
  removeInitiator(targetPort: number, initiatorIndex: number): void {
    if (this.#ports.releaseInitiator(targetPort, initiatorIndex)) this.#nexusLoss(targetPort, initiatorIndex);
  }

  /** An initiator index is forgotten (LRU eviction or its port's removal). */
  #forgetInitiator(ie: InitiatorEntry): void {
    for (const lun of this.#luns.values()) lun.forgetInitiator(ie.index);
    this.#releaseNexus(ie.index);
  }

  #nexusLoss(targetPort: number, initiatorIndex: number): void {
    for (const state of this.#allStates()) {
      if (state.targetPort === targetPort && state.initiatorIndex === initiatorIndex) this.#abort(state);
    }
    for (const lun of this.#luns.values()) lun.establishUa(initiatorIndex, UaFlag.NexusLoss);
    this.#tpc.forgetInitiator(initiatorIndex);
    this.#releaseNexus(initiatorIndex);
  }

  /**
   * What the end of an I_T nexus releases on every LUN: its SPC-2
   * reservation (SPC-2 §5.5.1) and its prevention of medium removal (SBC-3
   * PREVENT ALLOW MEDIUM REMOVAL).
   */
  #releaseNexus(initiatorIndex: number): void {
    for (const lun of this.#luns.values()) {
      if (lun.reservations.spc2Holder === initiatorIndex) lun.reservations.spc2Holder = null;
      lun.medium.clearNexus(initiatorIndex);
    }
  }

  /**
   * FreeBSD `ctl_scsiio_lun_check` (reservation part): SPC-2 — another I_T
   * nexus's reservation allows only `AllowOnResv` commands; SPC-4 §5.13.1
   * table 66 — without full access (not the holder, nor a registrant of a
   * Registrants Only / All Registrants reservation) only `AllowOnPrResv`
   * commands run, plus `AllowOnPrWresv` ones under Write Exclusive types.
   */
  #reservationConflict(state: IoState, entry: CmdEntry, lun: CtlLun): boolean {
    const r = lun.reservations;
    if (!r.active) return false;
    // A third-party copy's internal I/O has the rights of the nexus that sent the EXTENDED COPY.
    const subject = (state.copyIo ? this.#tpc.originOf(state.io) : null) ?? state;
    const flags = entry.flags;
    if (r.spc2Holder !== null && r.spc2Holder !== subject.initiatorIndex && (flags & CmdFlag.AllowOnResv) === 0) {
      return true;
    }
    const res = r.reservation;
    if (!res || (flags & CmdFlag.AllowOnPrResv) !== 0) return false;
    if (r.hasFullAccess(nexusId(this.#nexusOf(subject)))) return false;
    return !(isWriteExclusive(res.type) && (flags & CmdFlag.AllowOnPrWresv) !== 0);
  }

  /** The I_T nexus of a command by name (reservations are kept by name). */
  #nexusOf(state: IoState): PrNexus {
    const ie = this.#ports.initiator(state.initiatorIndex);
    return { initiator: ie ? ie.name : `#${state.initiatorIndex}`, port: state.port.name };
  }

  /** The reservation commands' view of the core (`CommandHost.pr`). */
  #prHost(): PrHost {
    return {
      nexusOf: (state) => this.#nexusOf(state),
      targetPortName: (rtpi) => {
        for (const pe of this.#ports.entries()) if (this.#relativeTargetPort(pe.port, pe.targetPort) === rtpi) return pe.port.name;
        return null;
      },
      relativeTargetPortOf: (name) => {
        for (const pe of this.#ports.entries()) if (pe.port.name === name) return this.#relativeTargetPort(pe.port, pe.targetPort);
        return 0;
      },
      establishUa: (lun, nexus, flag) => {
        for (const pe of this.#ports.entries()) {
          if (pe.port.name !== nexus.port) continue;
          const ie = pe.initiators.get(nexus.initiator);
          if (ie) lun.establishUa(ie.index, flag);
        }
      },
      abortTasks: (lun, nexuses, done) => {
        const ids = new Set(nexuses.map(nexusId));
        const affected = lun.ooa().filter((s) => ids.has(nexusId(this.#nexusOf(s))));
        abortAndWait({ abort: (s) => this.#abort(s) }, affected, done);
      },
    };
  }

  /** A port's relative target port identifier: configured (`CtlPort.alua`), else port number + 1. */
  #relativeTargetPort(port: CtlPort, targetPort: number): number {
    return port.alua ? port.alua.relativeTargetPort : targetPort + 1;
  }

  /** The ALUA commands' view of the core (`CommandHost.alua`). */
  #aluaHost(): AluaHost {
    return {
      groups: (state) => {
        const a = state.port.alua;
        if (a) return a.groups;
        // Default: group 1 holds every port of this SCSI target name registered here.
        const ports: number[] = [];
        for (const pe of this.#ports.entries()) {
          if (!pe.port.alua && pe.port.targetName === state.port.targetName) ports.push(pe.targetPort + 1);
        }
        const g: TargetPortGroup = { id: DEFAULT_TARGET_PORT_GROUP, relativeTargetPorts: ports };
        return [g];
      },
      portGroup: (state) => state.port.alua?.targetPortGroup ?? DEFAULT_TARGET_PORT_GROUP,
      accessState: (state, groupId) => state.lun?.alua?.accessState(groupId) ?? AluaState.ActiveOptimized,
    };
  }

  /** Every command CTL holds (snapshot). */
  #allStates(): IoState[] {
    const out: IoState[] = [...this.#lunless];
    for (const lun of this.#luns.values()) out.push(...lun.ooa());
    for (const lun of this.#removing) out.push(...lun.ooa());
    return out;
  }

  // ------------------------------------------------------------- commands

  /**
   * Submits a SCSI command or a task management request. Processing starts
   * synchronously (a command is on its LUN's OOA list when `run` returns, so
   * a later TMF or nexus loss finds it); every callback to the port comes
   * later. Throws `CtlError` for an unregistered port or an I/O still in use.
   */
  run(io: CtlIo): void {
    if (io.kind === 'task') {
      this.#runTask(io);
      return;
    }
    const pe = this.#ports.entry(io.nexus.targetPort);
    const previous = ioState(io);
    if (previous && previous.phase !== IoPhase.Done) throw new CtlError(CtlErrorCode.IoBusy, 'I/O already running');
    const lun = this.#ports.mapLun(pe.port, io.nexus.lun);
    const state = new IoState(io, pe.port, lun, lun ? lun.nextSeq() : 0);
    state.copyIo = this.#tpc.ownsPort(pe.port);
    io.ctlPriv = state;
    this.#precheck(state);
  }

  /** FreeBSD `ctl_scsiio_precheck`. */
  #precheck(state: IoState): void {
    const io = state.io;
    const lun = state.lun;
    const host = this.#host;
    const found = lookupCommand(io.cdb);
    const entry = found.entry;
    state.entry = entry;
    if (!lun) {
      // SPC-4 §6.6, §6.33, §6.39 (FreeBSD OK_ON_NO_LUN): only INQUIRY, REPORT LUNS
      // and REQUEST SENSE work on a LUN that does not exist.
      if (!entry || (entry.flags & CmdFlag.OkOnNoLun) === 0) {
        return checkCondition(state, host, SenseKey.IllegalRequest, Asc.LogicalUnitNotSupported);
      }
      const bad = validateCdb(entry, io.cdb);
      if (bad) return this.#invalidField(state, bad.byte, bad.bit);
      this.#lunless.add(state);
      this.#schedule(state);
      return;
    }
    // SAM-5 unit attention condition: a pending unit attention is reported on the first command
    // other than INQUIRY, REPORT LUNS and REQUEST SENSE.
    if (!entry || (entry.flags & CmdFlag.NoUnitAttention) === 0) {
      const flag = lun.takeUa(state.initiatorIndex);
      if (flag !== 0) {
        if (flag === UaFlag.LunInventoryChanged) this.#host.lunInventoryReported(state.initiatorIndex);
        return checkCondition(state, host, SenseKey.UnitAttention, uaAscAscq(flag));
      }
    }
    // A command the LUN does not offer (CmdEntry.offered) is answered like an unknown one.
    if (!entry || (entry.offered && !entry.offered(lun))) {
      if (found.entry !== null || found.error === 'opcode') {
        // SPC-4 §4.5.2.4.2: the field pointer designates the OPERATION CODE.
        return checkCondition(state, host, SenseKey.IllegalRequest, Asc.InvalidCommandOperationCode, {
          fieldPointer: 0,
          command: true,
        });
      }
      // Unsupported service action: INVALID FIELD IN CDB at the SERVICE ACTION field.
      return this.#invalidField(state, 1, 4);
    }
    const bad = validateCdb(entry, io.cdb);
    if (bad) return this.#invalidField(state, bad.byte, bad.bit);
    // SAM-5 ACA task attribute: the ACA attribute is only valid while an ACA condition exists (never here).
    if (state.tagType === TagType.Aca) {
      return checkCondition(state, host, SenseKey.IllegalRequest, Asc.InvalidMessageError);
    }
    // SBC-3 removable medium (FreeBSD ctl_scsiio_lun_check, CTL_LUN_EJECTED): with the medium
    // ejected, medium access commands get NOT READY, MEDIUM NOT PRESENT - TRAY OPEN.
    if (lun.medium.ejected && ((entry.flags & CmdFlag.OkOnStopped) === 0 || (entry.flags & CmdFlag.NeedsMedium) !== 0)) {
      return checkCondition(state, host, SenseKey.NotReady, Asc.MediumNotPresentTrayOpen);
    }
    // SBC-3 §4.19: a stopped unit answers NOT READY, INITIALIZING COMMAND REQUIRED until started.
    if (lun.unit.stopped && (entry.flags & CmdFlag.OkOnStopped) === 0) {
      return checkCondition(state, host, SenseKey.NotReady, Asc.LogicalUnitNotReadyInitializingCommandRequired);
    }
    // SPC-4 §5.15.2 (implicit ALUA): medium access through a group that is not Active is refused
    // with NOT READY; through an Active/Non-optimized one the LUN's owner may start an implicit
    // transition instead of serving it (alua.ts `LunAlua.accessRequested`).
    if (lun.alua && (entry.flags & CmdFlag.OkOnStopped) === 0) {
      const group = this.#host.alua.portGroup(state);
      const access = lun.alua.accessState(group);
      const refusal = aluaRefusal(access);
      if (refusal) return checkCondition(state, host, SenseKey.NotReady, refusal);
      // Only LBA-addressed commands (those with an extent) move ownership: TEST UNIT READY and
      // the like, which multipath sends down every path, must not make ownership ping-pong.
      if (
        access === AluaState.ActiveNonOptimized &&
        entry.extent !== undefined &&
        lun.alua.accessRequested?.(group, (entry.flags & CmdFlag.WritesMedium) !== 0)
      ) {
        return checkCondition(state, host, SenseKey.NotReady, Asc.AsymmetricAccessStateTransition);
      }
    }
    // SBC-3 write protection: commands that modify the medium fail on a write-protected LUN
    // (read-only backend, or Control mode page SWP, SPC-4 §7.5.8).
    if ((entry.flags & CmdFlag.WritesMedium) !== 0 && (lun.be.readOnly || lun.mode.swp)) {
      return checkCondition(state, host, SenseKey.DataProtect, Asc.WriteProtected);
    }
    // SPC-2 / SPC-4 §5.13.1: RESERVATION CONFLICT for commands the reservation does not allow.
    if (this.#reservationConflict(state, entry, lun)) return reservationConflict(state, host);
    state.serClass = entry.serClass;
    entry.extent?.(state);
    const overlap = lun.checkOverlap(state);
    if (overlap === Blockage.Overlap) {
      // SAM-5 overlapped commands: a second untagged command on one I_T nexus.
      return checkCondition(state, host, SenseKey.AbortedCommand, Asc.OverlappedCommandsAttempted);
    }
    if (overlap === Blockage.OverlapTag) {
      // SAM-5 overlapped commands: ASCQ carries the low byte of the duplicated tag.
      return checkCondition(state, host, SenseKey.AbortedCommand, {
        asc: Asc.TaggedOverlappedCommands.asc,
        ascq: state.tagNum & 0xff,
      });
    }
    lun.insert(state);
    this.#placeOnOoa(state);
  }

  #invalidField(state: IoState, byte: number, bit: number | undefined): void {
    const opts: SenseOptions = { fieldPointer: byte, command: true };
    if (bit !== undefined) opts.bitPointer = bit;
    checkCondition(state, this.#host, SenseKey.IllegalRequest, Asc.InvalidFieldInCdb, opts);
  }

  /** Decides, for a command on its LUN's OOA list, whether it runs now or waits. */
  #placeOnOoa(state: IoState): void {
    const lun = state.lun;
    if (!lun) return;
    const { blockage, other } = lun.findBlocker(state);
    if (blockage === Blockage.Block && other) {
      state.phase = IoPhase.Blocked;
      state.blocker = other;
      (other.waiters ??= []).push(state);
      return;
    }
    this.#schedule(state);
  }

  /** Marks the command ready and runs its handler in a later microtask. */
  #schedule(state: IoState): void {
    state.phase = IoPhase.Ready;
    queueMicrotask(() => this.#execute(state));
  }

  /** FreeBSD `ctl_scsiio`: runs the handler unless the command was aborted meanwhile. */
  #execute(state: IoState): void {
    if (state.phase !== IoPhase.Ready) return;
    if (state.io.aborted) return this.#finish(state);
    const entry = state.entry;
    if (!entry) return this.#finish(state);
    // A command that waited behind a PERSISTENT RESERVE OUT or RESERVE is checked again
    // against the reservation now in force (FreeBSD re-runs ctl_scsiio_lun_check on unblock).
    if (state.lun && this.#reservationConflict(state, entry, state.lun)) return reservationConflict(state, this.#host);
    state.phase = IoPhase.Running;
    try {
      entry.handler(state, this.#host);
    } catch {
      // A handler or backend `submit` threw: fail the command rather than hang it.
      if ((state.phase as IoPhase) !== IoPhase.Done && !state.dmaInProgress) {
        this.setInternalFailure(state.io);
        this.#finish(state);
      }
    }
  }

  #submit(state: IoState, request: BlockRequest): void {
    const lun = state.lun;
    if (!lun) throw new Error('block request without a LUN');
    lun.be.submit(state.io, request, this);
  }

  /** Sends CTL-generated data in one datamove (see `CommandHost.sendData`). */
  #sendData(state: IoState, data: Buffer, allocationLength: number): void {
    const io = state.io;
    const len = Math.min(allocationLength, data.length);
    setGood(state);
    if (len === 0) return this.#finish(state);
    io.dataDirection = DataDirection.In;
    io.kernSgList = [len < data.length ? data.subarray(0, len) : data];
    io.kernDataLen = len;
    io.kernTotalLen = len;
    io.kernRelOffset = 0;
    // The data is the I/O's own (`CommandHost.sendData`: never modified after
    // this call), so a no-copy frontend may borrow it; the Buffer stays alive
    // as long as a PDU references it, hence a reference function with nothing to count.
    io.kernDataRef = ctlDataRef;
    io.kernDataArg = undefined;
    io.beMoveDone = () => this.#finish(state);
    this.datamove(io);
  }

  /** Receives parameter data into a core-owned buffer (see `CommandHost.receiveData`). */
  #receiveData(state: IoState, length: number, onData: (data: Buffer) => void): void {
    const io = state.io;
    const buf = Buffer.alloc(length);
    io.dataDirection = DataDirection.Out;
    io.dataOutMode = DataOutMode.Copy;
    io.kernSgList = [buf];
    io.kernDataLen = length;
    io.kernTotalLen = length;
    io.kernRelOffset = 0;
    io.kernDataRef = null;
    io.kernDataArg = undefined;
    io.beMoveDone = () => {
      if (io.aborted || io.status === IoStatus.ScsiError || io.portStatus !== 0) return this.#finish(state);
      try {
        onData(buf);
      } catch {
        this.setInternalFailure(io);
        this.#finish(state);
      }
    };
    this.datamove(io);
  }

  /**
   * Completes a command (FreeBSD `ctl_process_done`): aborted commands get
   * status Aborted; the command leaves the OOA list, wakes the commands it
   * blocked and the TMFs waiting for it; `port.done` follows in a microtask.
   * Idempotent.
   */
  #finish(state: IoState): void {
    if (state.phase === IoPhase.Done) return;
    const wasBlocked = state.phase === IoPhase.Blocked;
    state.phase = IoPhase.Done;
    const io = state.io;
    if (io.aborted) {
      io.status = IoStatus.Aborted;
      io.scsiStatus = ScsiStatus.TaskAborted;
      io.senseData = null;
    } else if (io.status === IoStatus.None) {
      setGood(state);
    }
    io.beMoveDone = null;
    io.ctlPriv = null; // the I/O may be reused; it no longer pins the LUN
    state.dmaInProgress = false;
    if (wasBlocked && state.blocker) {
      const list = state.blocker.waiters;
      if (list) {
        const i = list.indexOf(state);
        if (i >= 0) list.splice(i, 1);
      }
      state.blocker = null;
    }
    const lun = state.lun;
    if (lun) {
      const waiters = state.waiters;
      state.waiters = null;
      lun.remove(state);
      if (waiters) this.#wake(waiters);
    } else {
      this.#lunless.delete(state);
    }
    const tmfs = state.tmfWaits;
    state.tmfWaits = null;
    const port = state.port;
    queueMicrotask(() => port.done(io));
    if (tmfs) for (const t of tmfs) if (--t.remaining === 0) t.finish();
  }

  /** Re-evaluates commands that waited for a completed one, in arrival order. */
  #wake(waiters: IoState[]): void {
    waiters.sort((a, b) => a.seq - b.seq);
    for (const w of waiters) {
      if (w.phase !== IoPhase.Blocked) continue;
      w.blocker = null;
      this.#placeOnOoa(w);
    }
  }

  // ------------------------------------------------------------- datamove

  /** Backend/core: move the current piece (FreeBSD `ctl_datamove`). */
  datamove(io: ScsiIo): void {
    const state = ioState(io);
    if (!state || state.phase === IoPhase.Done) return;
    io.kernDataResid = io.kernDataLen;
    if (io.aborted) {
      // FreeBSD: an aborted command's data is not moved; beMoveDone follows.
      io.portStatus = PORT_STATUS_ABORTED;
      queueMicrotask(() => this.#moveDone(state));
      return;
    }
    if (io.kernDataLen === 0) {
      queueMicrotask(() => this.#moveDone(state));
      return;
    }
    state.dmaInProgress = true;
    const port = state.port;
    queueMicrotask(() => port.datamove(io));
  }

  /** Frontend: the current piece has been moved (or failed, `portStatus` != 0). */
  datamoveDone(io: ScsiIo): void {
    const state = ioState(io);
    if (!state || !state.dmaInProgress) return;
    state.dmaInProgress = false;
    this.#moveDone(state);
  }

  /** FreeBSD `ctl_datamove_done`: turn transfer failures into sense, then `beMoveDone`. */
  #moveDone(state: IoState): void {
    if (state.phase === IoPhase.Done) return;
    const io = state.io;
    const ok = io.status === IoStatus.None || io.status === IoStatus.Success;
    if (ok && io.portStatus === PORT_STATUS_PROTOCOL_CRC_ERROR) {
      const a = Asc.ProtocolServiceCrcError;
      this.#setSense(io, SenseKey.AbortedCommand, a.asc, a.ascq);
    } else if (ok && io.portStatus !== 0) {
      this.setInternalFailure(io);
    } else if (ok && io.dataDirection === DataDirection.Out && io.kernDataResid !== 0) {
      // Less Data-Out than the command needs: INVALID FIELD IN COMMAND INFORMATION UNIT.
      const a = Asc.InvalidFieldInCommandInformationUnit;
      this.#setSense(io, SenseKey.AbortedCommand, a.asc, a.ascq);
    }
    const cb = io.beMoveDone;
    if (cb) cb(io);
    else this.#finish(state);
  }

  // ------------------------------------------------------ backend services

  dataSubmitDone(io: ScsiIo): void {
    const state = ioState(io);
    if (state) this.#finish(state);
  }

  setSuccess(io: ScsiIo): void {
    io.status = IoStatus.Success;
    io.scsiStatus = ScsiStatus.Good;
    io.senseData = null;
  }

  setSense(io: ScsiIo, senseKey: number, asc: number, ascq: number): void {
    this.#setSense(io, senseKey, asc, ascq);
  }

  setMediumError(io: ScsiIo, read: boolean): void {
    const a = read ? Asc.UnrecoveredReadError : Asc.WriteError;
    this.#setSense(io, SenseKey.MediumError, a.asc, a.ascq);
  }

  setInternalFailure(io: ScsiIo): void {
    this.#setSense(io, SenseKey.HardwareError, Asc.InternalTargetFailure.asc, Asc.InternalTargetFailure.ascq);
  }

  setWriteProtected(io: ScsiIo): void {
    this.#setSense(io, SenseKey.DataProtect, Asc.WriteProtected.asc, Asc.WriteProtected.ascq);
  }

  /** SBC-3 thin provisioning: DATA PROTECT / SPACE ALLOCATION FAILED WRITE PROTECT (27h/07h). */
  setSpaceAllocationFailed(io: ScsiIo): void {
    const a = Asc.SpaceAllocationFailedWriteProtect;
    this.#setSense(io, SenseKey.DataProtect, a.asc, a.ascq);
  }

  /** SBC-3 COMPARE AND WRITE / VERIFY: MISCOMPARE, 1Dh/00h, INFORMATION = offset of the first differing byte. */
  setMiscompare(io: ScsiIo, offset: number): void {
    const state = ioState(io);
    const descriptor = state ? useDescriptorSense(state, this.#host) : this.options.descriptorSense;
    const a = Asc.MiscompareDuringVerifyOperation;
    setSense(io, SenseKey.Miscompare, a.asc, a.ascq, { descriptor, information: offset });
  }

  /** Sets sense in the LUN's format (Control mode page D_SENSE). */
  #setSense(io: ScsiIo, senseKey: number, asc: number, ascq: number): void {
    const state = ioState(io);
    const descriptor = state ? useDescriptorSense(state, this.#host) : this.options.descriptorSense;
    setSense(io, senseKey, asc, ascq, { descriptor });
  }

  // ------------------------------------------------------ task management

  /** FreeBSD `ctl_run_task` (task-management.ts). */
  #runTask(tio: TaskIo): void {
    runTask(
      {
        ports: this.#ports,
        luns: () => this.#luns.values(),
        allStates: () => this.#allStates(),
        abort: (s) => this.#abort(s),
        releaseNexus: (i) => this.#releaseNexus(i),
      },
      tio,
    );
  }

  /**
   * Aborts a command: one not yet handed to its handler completes at once
   * (it never reaches the backend); a running one completes when the backend
   * (and, for a datamove in progress, the frontend) finishes with it.
   */
  #abort(state: IoState): void {
    if (state.phase === IoPhase.Done) return;
    state.io.aborted = true;
    state.lun?.uncountTag(state);
    if (state.phase === IoPhase.Blocked || state.phase === IoPhase.Ready) this.#finish(state);
  }
}

/** Rejects backend descriptions the core cannot serve. */
function validateBackend(be: BackendLun): void {
  const bad = (what: string): never => {
    throw new CtlError(CtlErrorCode.InvalidBackend, what);
  };
  if (!Number.isInteger(be.blockSize) || be.blockSize < 1 || be.blockSize > 0xffffff) bad(`block size ${be.blockSize}`);
  if (!Number.isSafeInteger(be.numBlocks) || be.numBlocks < 0) bad(`capacity ${be.numBlocks}`);
  if (!Number.isInteger(be.physicalBlockExponent) || be.physicalBlockExponent < 0 || be.physicalBlockExponent > 15) {
    bad(`physical block exponent ${be.physicalBlockExponent}`);
  }
  if (be.naa.length !== 8 && be.naa.length !== 16) bad(`NAA identifier of ${be.naa.length} bytes`);
  if (!Number.isInteger(be.maxTransferBlocks) || be.maxTransferBlocks < 0) bad(`max transfer ${be.maxTransferBlocks}`);
  if (!Number.isInteger(be.optimalTransferBlocks) || be.optimalTransferBlocks < 0) {
    bad(`optimal transfer ${be.optimalTransferBlocks}`);
  }
}
