/**
 * Per-LUN I/O statistics for the admin CLI's `stat` (FreeBSD ctlstat(8)
 * reads CTL's per-LUN `ctl_io_stats`; our core keeps none, so the daemon
 * measures at the backend boundary).
 *
 * What it does: `meterBackend(be)` returns a `MeteredLun`: a Proxy of the
 * backend that forwards every property and method (so optional backend
 * methods added later keep working) except `submit`, which it times from
 * the call to the backend's `dataSubmitDone` and counts by kind (read,
 * write, other = verify/flush), with payload bytes of reads and writes.
 * `stats` is a live, cumulative `LunIoStats`; rates are computed by the
 * reader from two snapshots (`rates()`). Storage errors the backend reports
 * through `ctl.noteStorageError` (ENOSPC, EIO...) are counted in
 * `stats.errors` and `faults` (by errno name) and passed to `onFault`, which
 * the inventory points at the daemon's rate-limited fault log.
 *
 * What it does not do: no histograms or Prometheus output (the metrics
 * endpoint is another module), nothing about commands that CTL answers
 * without the backend (INQUIRY, MODE SENSE...). Buffers are not touched:
 * the `ScsiIo` and its buffers pass through unchanged, owned as before.
 */
import type { BackendLun, BlockRequest, CtlBackendServices, ScsiIo } from '@iscsi-target/ctl-core';

/** Cumulative counters of one LUN (monotonic). */
export interface LunIoStats {
  reads: number;
  writes: number;
  /** VERIFY, SYNCHRONIZE CACHE. */
  others: number;
  bytesRead: number;
  bytesWritten: number;
  /** Sum of per-command latencies (submit → dataSubmitDone), in nanoseconds, by kind. */
  readNs: number;
  writeNs: number;
  otherNs: number;
  /** Commands submitted to the backend and not completed yet. */
  inFlight: number;
  /** Storage errors the backend reported (ENOSPC, EIO, ...), all kinds. */
  errors: number;
}

/** One storage error reported by a backend (see `CtlBackendServices.noteStorageError`). */
export interface BackendFault {
  /** errno name (ENOSPC, EIO...), or null for an error without one. */
  readonly code: string | null;
  readonly op: 'read' | 'write' | 'flush';
  readonly message: string;
}

export function emptyStats(): LunIoStats {
  return { reads: 0, writes: 0, others: 0, bytesRead: 0, bytesWritten: 0, readNs: 0, writeNs: 0, otherNs: 0, inFlight: 0, errors: 0 };
}

export type MeteredLun = BackendLun & {
  readonly stats: LunIoStats;
  readonly inner: BackendLun;
  /** Storage errors by errno name ("other" when the error had none). */
  readonly faults: ReadonlyMap<string, number>;
  /** Called on every storage error the backend reports (set by the inventory). */
  onFault: ((fault: BackendFault) => void) | null;
};

interface Pending {
  readonly start: bigint;
  readonly kind: 'read' | 'write' | 'other';
  readonly bytes: number;
}

/** Wraps `be` (see the module comment). The wrapper owns nothing; `shutdown` is the backend's. */
export function meterBackend(be: BackendLun): MeteredLun {
  const stats = emptyStats();
  const faults = new Map<string, number>();
  let onFault: ((fault: BackendFault) => void) | null = null;
  const noteStorageError = (_io: ScsiIo, code: string | null, op: BackendFault['op'], message: string): void => {
    stats.errors++;
    const k = code ?? 'other';
    faults.set(k, (faults.get(k) ?? 0) + 1);
    onFault?.({ code, op, message });
  };
  const pending = new Map<ScsiIo, Pending>();
  const wrapped = new WeakMap<CtlBackendServices, CtlBackendServices>();

  const done = (io: ScsiIo): void => {
    const p = pending.get(io);
    if (p === undefined) return;
    pending.delete(io);
    stats.inFlight--;
    const ns = Number(process.hrtime.bigint() - p.start);
    if (p.kind === 'read') {
      stats.reads++;
      stats.bytesRead += p.bytes;
      stats.readNs += ns;
    } else if (p.kind === 'write') {
      stats.writes++;
      stats.bytesWritten += p.bytes;
      stats.writeNs += ns;
    } else {
      stats.others++;
      stats.otherNs += ns;
    }
  };

  const services = (ctl: CtlBackendServices): CtlBackendServices => {
    let w = wrapped.get(ctl);
    if (w === undefined) {
      // Every service forwarded to `ctl` itself (its methods may use #private state).
      w = new Proxy(ctl, {
        get(target, prop) {
          if (prop === 'dataSubmitDone') {
            return (io: ScsiIo): void => {
              done(io);
              target.dataSubmitDone(io);
            };
          }
          if (prop === 'noteStorageError') {
            return (io: ScsiIo, code: string | null, op: BackendFault['op'], message: string): void => {
              noteStorageError(io, code, op, message);
              target.noteStorageError?.(io, code, op, message);
            };
          }
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      wrapped.set(ctl, w);
    }
    return w;
  };

  const submit = (io: ScsiIo, request: BlockRequest, ctl: CtlBackendServices): void => {
    const kind = request.op === 'read' ? 'read' : request.op === 'write' ? 'write' : 'other';
    pending.set(io, { start: process.hrtime.bigint(), kind, bytes: kind === 'other' ? 0 : request.blocks * be.blockSize });
    stats.inFlight++;
    be.submit(io, request, services(ctl));
  };

  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(be, {
    get(target, prop) {
      if (prop === 'submit') return submit;
      if (prop === 'stats') return stats;
      if (prop === 'inner') return target;
      if (prop === 'faults') return faults;
      if (prop === 'onFault') return onFault;
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      let b = bound.get(prop);
      if (b === undefined) {
        b = (v as (...a: unknown[]) => unknown).bind(target);
        bound.set(prop, b);
      }
      return b;
    },
    set(target, prop, value) {
      if (prop === 'onFault') {
        onFault = value as typeof onFault;
        return true;
      }
      return Reflect.set(target, prop, value, target);
    },
    has(target, prop) {
      return prop === 'stats' || prop === 'inner' || prop === 'faults' || prop === 'onFault' || Reflect.has(target, prop);
    },
  }) as MeteredLun;
}

/** Rates between two snapshots taken `seconds` apart (ctlstat's columns). */
export interface LunRates {
  readOps: number;
  writeOps: number;
  otherOps: number;
  readMBps: number;
  writeMBps: number;
  /** Mean latency in milliseconds over the interval (0 when no command). */
  readMs: number;
  writeMs: number;
  otherMs: number;
}

export function rates(a: LunIoStats, b: LunIoStats, seconds: number): LunRates {
  const s = seconds > 0 ? seconds : 1;
  const ms = (ns: number, n: number): number => (n > 0 ? ns / n / 1e6 : 0);
  const dr = b.reads - a.reads;
  const dw = b.writes - a.writes;
  const dot = b.others - a.others;
  return {
    readOps: dr / s,
    writeOps: dw / s,
    otherOps: dot / s,
    readMBps: (b.bytesRead - a.bytesRead) / s / 1e6,
    writeMBps: (b.bytesWritten - a.bytesWritten) / s / 1e6,
    readMs: ms(b.readNs - a.readNs, dr),
    writeMs: ms(b.writeNs - a.writeNs, dw),
    otherMs: ms(b.otherNs - a.otherNs, dot),
  };
}
