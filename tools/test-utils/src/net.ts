/**
 * TCP helpers for tests: free ports and waiting for a listener.
 *
 * What this module does: picks a port that is free right now, tries single
 * connections, polls until a port accepts connections.
 * What it does not do: no iSCSI (see raw-login.ts); a port returned by
 * `freePort()` can in theory be taken by someone else before it is used.
 */
import net from 'node:net';

/** A TCP port that was free on `host` a moment ago (bind port 0, read it, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Tries one connection to `host:port`; resolves true if it was accepted within `timeoutMs`. */
export function canConnect(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean): void => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** Options of {@link waitForPort}. */
export interface WaitForPortOptions {
  /** Give up after this many milliseconds. Default 20 000. */
  readonly timeoutMs?: number;
  /** Stop early (reject) as soon as this returns false, e.g. the server process exited. */
  readonly isAlive?: () => boolean;
}

/** Polls every 50 ms until `host:port` accepts a connection. */
export async function waitForPort(host: string, port: number, options: WaitForPortOptions = {}): Promise<void> {
  const { timeoutMs = 20_000, isAlive = () => true } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isAlive()) throw new Error(`the process exited before ${host}:${port} accepted connections`);
    if (await canConnect(host, port, 500)) return;
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
