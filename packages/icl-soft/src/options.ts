/**
 * Tunables of the software ICL driver, declared once with their defaults
 * (FreeBSD `kern.icl.soft.*` sysctls, freebsd-arch.md §3.7).
 *
 * What it does: the options type, the defaults, and validation.
 * What it does not do: negotiate anything — login negotiates within the
 * limits the driver reports from these values.
 */

/** How a send-queue flush is scheduled after the first PDU of a batch is queued. */
export type FlushScheduler = 'microtask' | 'immediate';

export interface SoftDriverOptions {
  /**
   * Largest data segment we accept and send; reported by `limits()` as both
   * MaxRecvDataSegmentLength and the send cap (FreeBSD
   * `max_data_segment_length`, 256 KiB).
   */
  maxDataSegmentLength: number;
  /** FirstBurstLength the driver can take (FreeBSD `first_burst_length`, 1 MiB). */
  firstBurstLength: number;
  /** MaxBurstLength the driver can take (FreeBSD `max_burst_length`, 1 MiB). */
  maxBurstLength: number;
  /**
   * Coalesce the PDUs queued in one event-loop turn into one NIC send (one
   * `writev`), as FreeBSD's `coalesce` does for one `sosend`. Default true.
   */
  coalesce: boolean;
  /** Upper bound of one coalesced NIC send, in wire bytes. Default 1 MiB. */
  maxCoalesceBytes: number;
  /**
   * Stop handing PDUs to the NIC while it holds at least this many bytes
   * not yet completed; PDUs then wait in the driver's queue, visible in
   * `SoftConn.sendQueueBytes`. Default 4 MiB (FreeBSD reserves 1.5 MiB of
   * socket send buffer; Node's buffering sits above the kernel's).
   */
  sendHighWater: number;
  /**
   * When the flush of a batch runs: 'microtask' (end of the current
   * macrotask) or 'immediate' (the next check phase, so PDUs queued by all
   * I/O callbacks and promise continuations of one loop iteration share a
   * send). Default 'immediate': measured equal or better in every pattern,
   * and 4.8× (4 KiB PDUs) to 9× (header-only PDUs) the throughput of
   * 'microtask' when PDUs are queued after `await`s, which 'microtask'
   * sends one per writev (benchmark/README.md). It costs one loop
   * iteration of latency.
   */
  flushScheduler: FlushScheduler;
  /**
   * PDUs delivered to `onReceive` in one event-loop turn before yielding
   * (pausing the NIC until the backlog is delivered), so that one busy
   * connection cannot starve the others. Default 256.
   */
  receiveBatchPdus: number;
  /** Data bytes delivered in one turn before yielding, likewise. Default 4 MiB. */
  receiveBatchBytes: number;
}

/** Defaults of every tunable. */
export const SOFT_DEFAULTS: Readonly<SoftDriverOptions> = Object.freeze({
  maxDataSegmentLength: 256 * 1024,
  firstBurstLength: 1024 * 1024,
  maxBurstLength: 1024 * 1024,
  coalesce: true,
  maxCoalesceBytes: 1024 * 1024,
  sendHighWater: 4 * 1024 * 1024,
  flushScheduler: 'immediate',
  receiveBatchPdus: 256,
  receiveBatchBytes: 4 * 1024 * 1024,
});

/** Defaults overlaid with `partial`; throws RangeError on a nonsensical value. */
export function resolveSoftOptions(partial: Partial<SoftDriverOptions> = {}): SoftDriverOptions {
  const o: SoftDriverOptions = { ...SOFT_DEFAULTS, ...partial };
  const positive = [
    'maxDataSegmentLength',
    'firstBurstLength',
    'maxBurstLength',
    'maxCoalesceBytes',
    'sendHighWater',
    'receiveBatchPdus',
    'receiveBatchBytes',
  ] as const;
  for (const k of positive) {
    const v = o[k];
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`icl-soft: ${k} must be a positive integer, got ${v}`);
  }
  // RFC 7143 §13.12: a data segment length fits 24 bits and is at least 512.
  if (o.maxDataSegmentLength < 512 || o.maxDataSegmentLength > 0xffffff) {
    throw new RangeError(`icl-soft: maxDataSegmentLength ${o.maxDataSegmentLength} outside 512..16777215`);
  }
  if (o.flushScheduler !== 'microtask' && o.flushScheduler !== 'immediate') {
    throw new RangeError(`icl-soft: flushScheduler must be 'microtask' or 'immediate'`);
  }
  return o;
}
