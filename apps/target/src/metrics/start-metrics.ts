/**
 * Wiring of the metrics into the command line: decides whether the
 * endpoint runs (`--metrics ADDR:PORT` wins over `metrics-listen` in the
 * configuration; neither = off), creates the `TargetMetrics` the daemon is
 * given as its command observer, and starts the HTTP endpoint after the
 * daemon started.
 *
 * What it does NOT do: reload (a changed `metrics-listen` needs a restart),
 * or anything when metrics are off (no observer: the I/O path pays nothing).
 */
import { iclCopyCounters } from '@iscsi-target/icl-core';
import type { TargetDaemon } from '../daemon.js';
import type { Logger } from '../logger.js';
import { MetricsServer, parseMetricsAddress, type MetricsAddress } from './metrics-server.js';
import { TargetMetrics } from './target-metrics.js';

export interface MetricsPlan {
  readonly address: MetricsAddress;
  readonly metrics: TargetMetrics;
  /** Set once the daemon exists (the metrics read it at scrape time). */
  attach(daemon: TargetDaemon): void;
}

/**
 * The metrics to run, or null when off. `cli` is the `--metrics` value,
 * `configured` the `metrics-listen` value. Throws `Error` with a message on
 * a bad address (the CLI checked its own already).
 */
export function planMetrics(cli: string | null, configured: string | null | undefined): MetricsPlan | null {
  const text = cli ?? configured ?? null;
  if (text === null) return null;
  const address = parseMetricsAddress(text);
  if (typeof address === 'string') throw new Error(address);
  let daemon: TargetDaemon | null = null;
  const metrics = new TargetMetrics({
    frontend: () => daemon?.frontend ?? null,
    iclCounters: iclCopyCounters,
    ctlCounters: () => daemon?.ctl?.counters ?? null,
    backendFaults: () => (daemon?.lunList() ?? []).flatMap((l) => Object.entries(l.faults).map(([code, count]) => ({ lun: l.name, code, count }))),
  });
  return {
    address,
    metrics,
    attach(d) {
      daemon = d;
    },
  };
}

/** Starts the endpoint and logs where; the caller closes it at shutdown. */
export async function startMetricsServer(plan: MetricsPlan, logger: Logger): Promise<MetricsServer> {
  const server = await MetricsServer.listen(plan.address, plan.metrics);
  const host = plan.address.host.includes(':') ? `[${plan.address.host}]` : plan.address.host;
  logger.info({ metrics: `${host}:${server.port}` }, `metrics on http://${host}:${server.port}/metrics`);
  return server;
}
