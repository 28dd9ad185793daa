/**
 * The Prometheus scrape endpoint: a tiny `node:http` server answering
 * `GET /metrics` (and `HEAD`) with `TargetMetrics.scrape()` in the text
 * exposition format; every other path is 404, every other method 405.
 * Off by default: the daemon starts it only for `--metrics ADDR:PORT` or the
 * `metrics-listen` configuration key.
 *
 * What it does NOT do: TLS, authentication or access control (bind it to a
 * loopback or management address), push gateways, or anything but metrics.
 * A failing scrape answers 500 and never affects I/O.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListenAddress } from '../config/listen-address.js';
import type { TargetMetrics } from './target-metrics.js';

/** Where the endpoint listens (port 0: any free port, reported by `port`). */
export interface MetricsAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses `ADDR:PORT` (`[v6]:PORT` for IPv6). The port is required: there is
 * no well-known port for this endpoint. Returns an error message instead of
 * throwing.
 */
export function parseMetricsAddress(text: string): MetricsAddress | string {
  if (!/:\d+$/.test(text) || (!text.startsWith('[') && text.split(':').length > 2)) {
    return `invalid metrics address "${text}" (expected ADDR:PORT or [IPv6]:PORT)`;
  }
  const a = parseListenAddress(text);
  if (typeof a === 'string') return a;
  return { host: a.host, port: a.port };
}

export class MetricsServer {
  readonly #server: Server;
  readonly #metrics: TargetMetrics;

  private constructor(server: Server, metrics: TargetMetrics) {
    this.#server = server;
    this.#metrics = metrics;
  }

  /** Starts listening; rejects if the address cannot be bound. */
  static async listen(address: MetricsAddress, metrics: TargetMetrics): Promise<MetricsServer> {
    const server = createServer();
    const self = new MetricsServer(server, metrics);
    server.on('request', (req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      self.#metrics.scrape().then(
        (text) => {
          res.writeHead(200, { 'content-type': self.#metrics.contentType });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`scrape failed: ${String(err)}\n`);
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return self;
  }

  /** The bound port. */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
