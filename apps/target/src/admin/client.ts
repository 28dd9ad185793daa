/**
 * The client side of the admin socket (`iscsi-target-ctl`, tests).
 *
 * What it does: `AdminClient.connect(path)` opens the UNIX socket;
 * `request(cmd, args)` sends one line-delimited JSON request and resolves
 * with its `result`, or rejects with `AdminRequestError` carrying the
 * daemon's message; requests may be pipelined (answers come in order).
 *
 * What it does not do: no retries or reconnects, no formatting.
 */
import net from 'node:net';
import { MAX_ADMIN_LINE, type AdminResponse } from './protocol.js';

export class AdminRequestError extends Error {
  override readonly name = 'AdminRequestError';
  readonly code = 'TARGET_ERR_ADMIN_REQUEST';
}

export class AdminClient {
  readonly #socket: net.Socket;
  readonly #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #buffered = '';
  #closedError: Error | null = null;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    const fail = (e: Error): void => {
      this.#closedError = e;
      for (const w of this.#waiting.values()) w.reject(e);
      this.#waiting.clear();
    };
    socket.on('error', (e) => fail(e));
    socket.on('close', () => fail(new AdminRequestError('the daemon closed the admin connection')));
  }

  static connect(path: string, timeoutMs = 5000): Promise<AdminClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ path });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new AdminRequestError(`${path}: timed out connecting to the daemon`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(new AdminClient(s));
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why = e.code === 'ENOENT' ? 'no such socket (is the daemon running? see --socket)' : e.code === 'ECONNREFUSED' ? 'nothing listens (stale socket)' : e.message;
        reject(new AdminRequestError(`${path}: ${why}`, { cause: e }));
      });
    });
  }

  request(cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
    if (this.#closedError !== null) return Promise.reject(this.#closedError);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#socket.write(`${JSON.stringify({ id, cmd, args })}\n`);
    });
  }

  close(): void {
    this.#socket.end();
    this.#socket.destroy();
  }

  #onData(chunk: string): void {
    this.#buffered += chunk;
    let nl: number;
    while ((nl = this.#buffered.indexOf('\n')) !== -1) {
      const line = this.#buffered.slice(0, nl);
      this.#buffered = this.#buffered.slice(nl + 1);
      let r: AdminResponse;
      try {
        r = JSON.parse(line) as AdminResponse;
      } catch {
        continue;
      }
      const w = r.id === null ? undefined : this.#waiting.get(r.id);
      if (w === undefined) continue;
      this.#waiting.delete(r.id!);
      if (r.ok) w.resolve(r.result);
      else w.reject(new AdminRequestError(r.error));
    }
    if (this.#buffered.length > MAX_ADMIN_LINE) this.#socket.destroy(new AdminRequestError('response line too long'));
  }
}
