/**
 * The admin socket server (the daemon side of `iscsi-target-ctl`; FreeBSD's
 * ctladm talks to the kernel through /dev/cam/ctl instead).
 *
 * What it does: `startAdminServer(path, handle, logger)` listens on a UNIX
 * socket created with mode 0600 (owner only: the umask is narrowed around
 * the bind, then the mode is set again), after refusing to start if another
 * process answers on that path and removing a stale socket left by a crash
 * (never a file that is not a socket). It reads line-delimited JSON
 * requests (`protocol.ts`), answers each in order through `handle`, and
 * never lets bad input (invalid JSON, an overlong line, a throwing
 * handler) do more than earn an error response or, for an overlong line,
 * close that connection. `close()` stops listening, closes clients and
 * removes the socket file.
 *
 * What it does not do: no authentication beyond the file mode (whoever
 * can open the socket is the administrator), no TCP, no command logic
 * (`commands.ts`).
 */
import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import type { Logger } from '../logger.js';
import { MAX_ADMIN_LINE, parseRequest, requestIdOf, type AdminRequest, type AdminResponse } from './protocol.js';

export class AdminSocketError extends Error {
  override readonly name = 'AdminSocketError';
  readonly code = 'TARGET_ERR_ADMIN_SOCKET';
}

/** Answers one request; throw to send `{ok: false, error: message}`. */
export type AdminHandler = (req: AdminRequest) => Promise<unknown>;

export interface AdminServer {
  readonly path: string;
  close(): Promise<void>;
}

/** True if something accepts connections on `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ path });
    const done = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

async function clearStale(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new AdminSocketError(`${path}: ${(e as Error).message}`, { cause: e });
  }
  if (!st.isSocket()) throw new AdminSocketError(`${path} exists and is not a socket; refusing to replace it`);
  if (await answers(path)) throw new AdminSocketError(`${path}: another daemon is listening on this admin socket`);
  await unlink(path);
}

export async function startAdminServer(path: string, handle: AdminHandler, logger: Logger): Promise<AdminServer> {
  await clearStale(path);
  const clients = new Set<net.Socket>();
  const server = net.createServer((socket) => serve(socket, handle, logger, clients));
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(new AdminSocketError(`${path}: cannot listen: ${e.message}`, { cause: e }));
    server.once('error', onError);
    // The socket file is created by bind() with the umask applied: owner only from the start.
    const old = process.umask(0o177);
    try {
      server.listen({ path }, () => {
        server.off('error', onError);
        server.on('error', (e) => logger.error({ err: e }, 'admin socket error'));
        resolve();
      });
    } finally {
      process.umask(old);
    }
  });
  await chmod(path, 0o600);
  let closed = false;
  return {
    path,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const c of clients) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // server.close() unlinks the socket file; make sure of it.
      await unlink(path).catch(() => {});
    },
  };
}

function serve(socket: net.Socket, handle: AdminHandler, logger: Logger, clients: Set<net.Socket>): void {
  clients.add(socket);
  socket.setEncoding('utf8');
  let buffered = '';
  // Responses go out in request order, one request at a time.
  let chain = Promise.resolve();
  const respond = (r: AdminResponse): void => {
    if (!socket.destroyed) socket.write(`${JSON.stringify(r)}\n`);
  };
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line === '') continue;
      chain = chain.then(() => answer(line, handle, logger).then(respond));
    }
    if (Buffer.byteLength(buffered) > MAX_ADMIN_LINE) {
      respond({ id: null, ok: false, error: `request line longer than ${MAX_ADMIN_LINE} bytes` });
      socket.end();
      buffered = '';
    }
  });
  socket.on('error', () => {});
  socket.on('close', () => clients.delete(socket));
}

async function answer(line: string, handle: AdminHandler, logger: Logger): Promise<AdminResponse> {
  let req: AdminRequest;
  try {
    req = parseRequest(line);
  } catch (e) {
    return { id: requestIdOf(line), ok: false, error: (e as Error).message };
  }
  try {
    const result = await handle(req);
    return { id: req.id, ok: true, result: result ?? null };
  } catch (e) {
    logger.debug({ cmd: req.cmd, err: e }, 'admin request failed');
    return { id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}
