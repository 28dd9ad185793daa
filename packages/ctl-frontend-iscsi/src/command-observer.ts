/**
 * The command observer: a hook through which the embedder (the daemon's
 * metrics) learns about every finished SCSI command of every session —
 * which session and LUN, the operation code, payload bytes moved, how it
 * ended and how long it took (FreeBSD keeps the same per-LUN/per-port
 * figures in `ctl_io_stats`, read by `ctlstat`).
 *
 * What it does: defines `CommandObserver` and `CommandRecord`, and
 * `observeCommandDone`, which the session calls once per SCSI command when
 * CTL reports it done (aborted commands included). The record is a plain
 * object built for the call; the observer may keep it.
 *
 * What it does not do: no aggregation, no clocks other than the timestamp
 * taken when the command arrived, no Buffers (no payload is exposed), and no
 * task management functions (those are not SCSI commands). An observer that
 * throws is not the session's problem: the error is swallowed so that
 * metrics can never break I/O.
 */
import { IoStatus, type ScsiIo } from '@iscsi-target/ctl-core';
import type { IscsiCommand } from './command.js';

/** How a command ended, from the frontend's point of view. */
export const CommandOutcome = {
  /** GOOD status. */
  Good: 'good',
  /** Any other SCSI status (CHECK CONDITION, BUSY, RESERVATION CONFLICT...). */
  Error: 'error',
  /** Aborted by task management or nexus loss (nothing was sent). */
  Aborted: 'aborted',
} as const;
export type CommandOutcome = (typeof CommandOutcome)[keyof typeof CommandOutcome];

export interface CommandRecord {
  /** `IscsiSession.id`. */
  readonly sessionId: number;
  readonly targetName: string;
  readonly initiatorName: string;
  /** The LUN number as the initiator addressed it (SAM single level). */
  readonly lun: number;
  /** CDB byte 0. */
  readonly opcode: number;
  /** Payload bytes queued in Data-In PDUs for this command. */
  readonly dataInBytes: number;
  /** Payload bytes the backend asked to receive (sum of the Data-Out datamoves). */
  readonly dataOutBytes: number;
  readonly outcome: CommandOutcome;
  /** SCSI status byte (meaningful unless `outcome` is aborted). */
  readonly scsiStatus: number;
  /** Milliseconds from the arrival of the SCSI Command PDU to CTL's done. */
  readonly latencyMs: number;
}

export interface CommandObserver {
  commandDone(record: CommandRecord): void;
}

/** Builds the record of a finished command and hands it to the observer. */
export function observeCommandDone(observer: CommandObserver, cmd: IscsiCommand, io: ScsiIo): void {
  const session = cmd.session;
  const outcome: CommandOutcome =
    io.aborted || io.status === IoStatus.Aborted
      ? CommandOutcome.Aborted
      : io.status === IoStatus.Success
        ? CommandOutcome.Good
        : CommandOutcome.Error;
  const record: CommandRecord = {
    sessionId: session.id,
    targetName: session.target.targetName,
    initiatorName: session.initiatorName,
    lun: io.nexus.lun,
    opcode: io.cdb[0] ?? 0,
    dataInBytes: cmd.dataInBytes,
    dataOutBytes: cmd.dataOutBytes,
    outcome,
    scsiStatus: io.scsiStatus,
    latencyMs: performance.now() - cmd.startedAt,
  };
  try {
    observer.commandDone(record);
  } catch {
    // Metrics must never break I/O (see the module comment).
  }
}
