/**
 * The admin socket protocol: line-delimited JSON over a local UNIX socket,
 * spoken between the daemon (`admin-server.ts`) and `iscsi-target-ctl`
 * (`client.ts`). Documented in apps/target/README.md ("Admin socket").
 *
 * One request per line: `{"id": <number>, "cmd": "<command>", "args": {...}}`.
 * One response per request, in order: `{"id": <same>, "ok": true, "result": ...}`
 * or `{"id": <same>, "ok": false, "error": "<message>"}`. A line that is
 * not a JSON object gets `{"id": null, "ok": false, "error": ...}`; the
 * connection stays open. Lines are UTF-8, at most `MAX_ADMIN_LINE` bytes.
 *
 * What it does: the types, the command names and their argument checks.
 * What it does not do: no I/O (the server and the client do that).
 */

/** Longest request or response line accepted (bytes). */
export const MAX_ADMIN_LINE = 1024 * 1024;

/** File name of the socket in the data directory. */
export const ADMIN_SOCKET_NAME = 'iscsi-target.sock';

export const AdminCommand = {
  Version: 'version',
  LunList: 'lun.list',
  LunCreate: 'lun.create',
  LunRemove: 'lun.remove',
  LunResize: 'lun.resize',
  SessionList: 'session.list',
  SessionKill: 'session.kill',
  PortList: 'port.list',
  Stat: 'stat',
  Reload: 'reload',
} as const;
export type AdminCommand = (typeof AdminCommand)[keyof typeof AdminCommand];

export const ADMIN_COMMANDS: ReadonlySet<string> = new Set(Object.values(AdminCommand));

export interface AdminRequest {
  readonly id: number;
  readonly cmd: string;
  readonly args?: Record<string, unknown>;
}

export type AdminResponse =
  | { readonly id: number | null; readonly ok: true; readonly result: unknown }
  | { readonly id: number | null; readonly ok: false; readonly error: string };

/** Parses one request line. Throws `Error` with a message for the response. */
export function parseRequest(line: string): AdminRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new Error('the request is not valid JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('the request is not a JSON object');
  const r = v as Record<string, unknown>;
  if (typeof r['id'] !== 'number' || !Number.isSafeInteger(r['id'])) throw new Error('"id" must be an integer');
  if (typeof r['cmd'] !== 'string') throw new Error('"cmd" must be a string');
  const args = r['args'];
  if (args !== undefined && (args === null || typeof args !== 'object' || Array.isArray(args))) throw new Error('"args" must be an object');
  return { id: r['id'], cmd: r['cmd'], ...(args !== undefined ? { args: args as Record<string, unknown> } : {}) };
}

/** The request id, if the line has a usable one (for error responses). */
export function requestIdOf(line: string): number | null {
  try {
    const v = JSON.parse(line) as unknown;
    if (v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>)['id'] === 'number') return (v as { id: number }).id;
  } catch {
    /* not JSON */
  }
  return null;
}

/** Argument readers: throw with a message naming the argument. */
export function argString(args: Record<string, unknown>, key: string): string {
  const v = args[key];
  if (typeof v !== 'string' || v === '') throw new Error(`"${key}" must be a non-empty string`);
  return v;
}

export function argOptString(args: Record<string, unknown>, key: string): string | undefined {
  return args[key] === undefined ? undefined : argString(args, key);
}

export function argInt(args: Record<string, unknown>, key: string): number {
  const v = args[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`"${key}" must be a non-negative integer`);
  return v;
}

export function argOptInt(args: Record<string, unknown>, key: string): number | undefined {
  return args[key] === undefined ? undefined : argInt(args, key);
}
