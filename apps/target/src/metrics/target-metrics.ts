/**
 * `TargetMetrics`: the daemon's Prometheus metrics (issue 5 item 5), kept in
 * a private prom-client `Registry`:
 * - per LUN (target + LUN number as the initiator addresses it) and per
 *   session: payload bytes read and written, SCSI commands by operation
 *   class (read / write / other), commands that did not end GOOD, and a
 *   latency histogram (arrival of the SCSI Command PDU → CTL done) — fed by
 *   the frontend's `CommandObserver` hook;
 * - the number of sessions per target, read from the frontend at scrape time;
 * - backend storage errors per LUN (configuration name) and errno, read at
 *   scrape time (`iscsi_target_lun_backend_errors_total`);
 * - the copy counters (DESIGN.md §3.3) of the ICL and CTL layers: payload
 *   bytes copied in userspace versus passed by reference, per direction,
 *   read at scrape time.
 * - the io_uring engine (process-wide, read at scrape time): bytes the
 *   `uring` NIC driver sent zero-copy / the kernel copied anyway / sent
 *   plainly, the receive pool's buffers in use and its cap, and the shared
 *   ring's `io_uring_enter` calls and SQEs (their ratio: ops per enter).
 * Metric names are listed in apps/target/README.md ("Metrics").
 *
 * What it does NOT do: serve HTTP (`metrics-server.ts`), default process
 * metrics (prom-client's `collectDefaultMetrics` is not enabled: CPU and
 * memory of a process are better scraped by node_exporter), or keep the
 * series of a session after it ended (they are dropped at the next scrape).
 * Task management functions are not counted as commands.
 *
 * No Buffers pass through here; records from the observer are read and
 * dropped.
 */
import type { CtlCopyCounters } from '@iscsi-target/ctl-core';
import { CommandOutcome, type CommandObserver, type CommandRecord, type IscsiFrontend } from '@iscsi-target/ctl-frontend-iscsi';
import type { CopyCounters } from '@iscsi-target/icl-core';
import { sharedRingStats, uringNicPool, uringNicStats } from '@iscsi-target/io-uring';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Latency buckets in seconds: 50 µs … 10 s (loopback RAM reads to a stalled disk). */
export const LATENCY_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/** Operation class of a CDB opcode (SBC-3 READ/WRITE 6/10/12/16). */
export function operationClass(opcode: number): 'read' | 'write' | 'other' {
  switch (opcode) {
    case 0x08: // READ(6)
    case 0x28: // READ(10)
    case 0xa8: // READ(12)
    case 0x88: // READ(16)
      return 'read';
    case 0x0a: // WRITE(6)
    case 0x2a: // WRITE(10)
    case 0xaa: // WRITE(12)
    case 0x8a: // WRITE(16)
      return 'write';
    default:
      return 'other';
  }
}

/** Where the metrics read live state at scrape time. */
export interface MetricsSources {
  /** The frontend, once the daemon started (null before / after). */
  frontend(): IscsiFrontend | null;
  /** ICL copy counters (the process-wide `iclCopyCounters` in the daemon). */
  readonly iclCounters: CopyCounters;
  /** CTL copy counters (`ctl.counters`), or null before start. */
  ctlCounters(): CtlCopyCounters | null;
  /** Storage errors per LUN name and errno (ENOSPC, EIO...), cumulative; optional. */
  backendFaults?(): Array<{ lun: string; code: string; count: number }>;
}

type Op = 'read' | 'write' | 'other';

/** prom-client children of one (LUN or session) label set, cached to keep `commandDone` cheap. */
interface Children {
  readBytes: Counter.Internal;
  writeBytes: Counter.Internal;
  errors: Counter.Internal;
  ops: Record<Op, Counter.Internal>;
  latency: Record<Op, Histogram.Internal<string>>;
}

export class TargetMetrics implements CommandObserver {
  readonly registry = new Registry();
  readonly #sources: MetricsSources;
  readonly #lun: {
    readBytes: Counter;
    writeBytes: Counter;
    ops: Counter;
    errors: Counter;
    latency: Histogram;
  };
  readonly #session: {
    readBytes: Counter;
    writeBytes: Counter;
    ops: Counter;
    errors: Counter;
    latency: Histogram;
  };
  readonly #lunChildren = new Map<string, Children>();
  /** session id → its cached children and label values (to drop them when it ends). */
  readonly #sessionChildren = new Map<number, { children: Children; labels: Record<string, string> }>();

  constructor(sources: MetricsSources) {
    this.#sources = sources;
    const registers = [this.registry];
    const family = (scope: 'lun' | 'session', labelNames: string[]) => ({
      readBytes: new Counter({
        name: `iscsi_target_${scope}_read_bytes_total`,
        help: `Payload bytes of READ commands sent to initiators in Data-In PDUs, per ${scope}.`,
        labelNames,
        registers,
      }),
      writeBytes: new Counter({
        name: `iscsi_target_${scope}_write_bytes_total`,
        help: `Payload bytes of WRITE commands that ended GOOD, received from initiators, per ${scope}.`,
        labelNames,
        registers,
      }),
      ops: new Counter({
        name: `iscsi_target_${scope}_commands_total`,
        help: `SCSI commands finished, by operation class (read, write, other), per ${scope}.`,
        labelNames: [...labelNames, 'op'],
        registers,
      }),
      errors: new Counter({
        name: `iscsi_target_${scope}_command_errors_total`,
        help: `SCSI commands that did not end GOOD (CHECK CONDITION, BUSY, aborted...), per ${scope}.`,
        labelNames,
        registers,
      }),
      latency: new Histogram({
        name: `iscsi_target_${scope}_command_latency_seconds`,
        help: `Time from the arrival of a SCSI Command PDU to its completion by CTL, per ${scope}.`,
        labelNames: [...labelNames, 'op'],
        buckets: [...LATENCY_BUCKETS_SECONDS],
        registers,
      }),
    });
    this.#lun = family('lun', ['target', 'lun']);
    this.#session = family('session', ['session', 'initiator', 'target']);

    const sessionsGauge = new Gauge({
      name: 'iscsi_target_sessions',
      help: 'Sessions in full feature phase (including terminating ones), per target.',
      labelNames: ['target'],
      registers,
    });
    const copyBytes = new Counter({
      name: 'iscsi_target_copy_bytes_total',
      help: 'Payload bytes copied in userspace (kind="copied") or passed by reference (kind="referenced"), per layer and direction (in = initiator to target).',
      labelNames: ['layer', 'direction', 'kind'],
      registers,
    });
    const backendErrors = new Counter({
      name: 'iscsi_target_lun_backend_errors_total',
      help: 'Storage errors reported by a LUN\'s backend (ENOSPC, EIO...), per LUN name and errno ("other" without one).',
      labelNames: ['lun', 'code'],
      registers,
    });
    const uringSendBytes = new Counter({
      name: 'iscsi_target_uring_send_bytes_total',
      help: 'Bytes the uring NIC driver sent, by kind: zerocopy (sent from the pages), kernel_copied (SENDMSG_ZC that the kernel copied anyway), plain (sendmsg).',
      labelNames: ['kind'],
      registers,
    });
    const uringPool = new Gauge({
      name: 'iscsi_target_uring_recv_pool_buffers',
      help: 'Receive pool buffers of the uring NIC driver: in_use (lent to connections), allocated, cap.',
      labelNames: ['state'],
      registers,
    });
    const uringEnters = new Counter({ name: 'iscsi_target_uring_enters_total', help: 'io_uring_enter calls of the shared ring (submissions).', registers });
    const uringSqes = new Counter({ name: 'iscsi_target_uring_sqes_total', help: 'SQEs submitted on the shared ring (divided by enters: operations per io_uring_enter).', registers });
    const refreshUring = (): void => {
      const n = uringNicStats();
      uringSendBytes.reset();
      uringSendBytes.inc({ kind: 'zerocopy' }, n.zeroCopyBytes);
      uringSendBytes.inc({ kind: 'kernel_copied' }, n.kernelCopiedBytes);
      uringSendBytes.inc({ kind: 'plain' }, n.plainBytes);
      const p = uringNicPool()?.stats();
      uringPool.set({ state: 'in_use' }, p?.inUse ?? 0);
      uringPool.set({ state: 'allocated' }, p?.allocated ?? 0);
      uringPool.set({ state: 'cap' }, p?.cap ?? 0);
      const r = sharedRingStats();
      uringEnters.reset();
      uringSqes.reset();
      if (r !== null) {
        uringEnters.inc(r.enters);
        uringSqes.inc(r.submitted);
      }
    };
    // Values read from live state are refreshed just before each scrape.
    this.#beforeScrape = () => {
      refreshUring();
      backendErrors.reset();
      for (const f of this.#sources.backendFaults?.() ?? []) backendErrors.inc({ lun: f.lun, code: f.code }, f.count);
      sessionsGauge.reset();
      const frontend = this.#sources.frontend();
      const live = new Set<number>();
      if (frontend !== null) {
        for (const t of frontend.targets()) sessionsGauge.set({ target: t.targetName }, 0);
        for (const s of frontend.sessions()) {
          sessionsGauge.inc({ target: s.targetName });
          live.add(s.id);
        }
      }
      for (const [id, entry] of this.#sessionChildren) {
        if (live.has(id)) continue;
        this.#sessionChildren.delete(id);
        for (const m of [this.#session.readBytes, this.#session.writeBytes, this.#session.errors]) m.remove(entry.labels);
        for (const op of ['read', 'write', 'other'] as const) {
          this.#session.ops.remove({ ...entry.labels, op });
          this.#session.latency.remove({ ...entry.labels, op });
        }
      }
      copyBytes.reset();
      const put = (layer: string, c: { copiedIn: number; copiedOut: number; referencedIn: number; referencedOut: number }) => {
        copyBytes.inc({ layer, direction: 'in', kind: 'copied' }, c.copiedIn);
        copyBytes.inc({ layer, direction: 'out', kind: 'copied' }, c.copiedOut);
        copyBytes.inc({ layer, direction: 'in', kind: 'referenced' }, c.referencedIn);
        copyBytes.inc({ layer, direction: 'out', kind: 'referenced' }, c.referencedOut);
      };
      put('icl', this.#sources.iclCounters);
      const ctl = this.#sources.ctlCounters();
      if (ctl !== null) put('ctl', ctl);
    };
  }

  readonly #beforeScrape: () => void;

  /** The Prometheus text exposition (format 0.0.4). */
  async scrape(): Promise<string> {
    this.#beforeScrape();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** `CommandObserver`: account one finished SCSI command. */
  commandDone(r: CommandRecord): void {
    const op = operationClass(r.opcode);
    const seconds = r.latencyMs / 1000;
    const lunKey = `${r.targetName}\u0000${r.lun}`;
    let lun = this.#lunChildren.get(lunKey);
    if (lun === undefined) {
      lun = this.#children(this.#lun, { target: r.targetName, lun: String(r.lun) });
      this.#lunChildren.set(lunKey, lun);
    }
    let s = this.#sessionChildren.get(r.sessionId);
    if (s === undefined) {
      const labels = { session: String(r.sessionId), initiator: r.initiatorName, target: r.targetName };
      s = { children: this.#children(this.#session, labels), labels };
      this.#sessionChildren.set(r.sessionId, s);
    }
    for (const c of [lun, s.children]) {
      // Payload only: data of READ / WRITE commands (INQUIRY, MODE SENSE... are not payload).
      if (op === 'read' && r.dataInBytes > 0) c.readBytes.inc(r.dataInBytes);
      if (op === 'write' && r.dataOutBytes > 0 && r.outcome === CommandOutcome.Good) c.writeBytes.inc(r.dataOutBytes);
      if (r.outcome !== CommandOutcome.Good) c.errors.inc();
      c.ops[op].inc();
      c.latency[op].observe(seconds);
    }
  }

  #children(
    f: { readBytes: Counter; writeBytes: Counter; ops: Counter; errors: Counter; latency: Histogram },
    labels: Record<string, string>,
  ): Children {
    const per = <T>(make: (op: Op) => T): Record<Op, T> => ({ read: make('read'), write: make('write'), other: make('other') });
    return {
      readBytes: f.readBytes.labels(labels),
      writeBytes: f.writeBytes.labels(labels),
      errors: f.errors.labels(labels),
      ops: per((op) => f.ops.labels({ ...labels, op })),
      latency: per((op) => f.latency.labels({ ...labels, op })),
    };
  }
}
