/**
 * `iscsi-target-ctl`: the administration command line (FreeBSD ctladm(8)
 * and ctlstat(8) in one), talking to a running `iscsi-target` over its
 * admin socket (`protocol.ts`).
 *
 * What it does: parses the command line with `node:util` `parseArgs` (as
 * `main.ts` does), sends the matching request and prints the answer as a
 * table, or as JSON with `--json` (one document; `stat` prints one JSON
 * line per interval). `stat` polls the cumulative per-LUN counters every
 * `-w` seconds and prints rates over each interval, `-n` times (default:
 * until interrupted). Exit status: 0 success, 1 the daemon refused or could
 * not be reached (the reason on stderr), 2 usage error.
 *
 * What it does not do: nothing is changed in the configuration file;
 * LUNs created here are forgotten at the daemon's restart.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatSize, parseSize } from '../config/size.js';
import type { AdminLunInfo, AdminPortInfo, BoundPortal } from '../daemon.js';
import type { SessionInfo } from '@iscsi-target/ctl-frontend-iscsi';
import { rates, type LunIoStats } from '../lun-stats.js';
import type { ReloadReport } from '../reload/report.js';
import { AdminClient } from './client.js';
import { ADMIN_SOCKET_NAME, AdminCommand } from './protocol.js';

export const CTL_USAGE = `Usage: iscsi-target-ctl [-s SOCKET | -d DATA-DIR] [--json] COMMAND [ARGS]

Talks to a running iscsi-target over its admin socket (default:
./data/${ADMIN_SOCKET_NAME}, i.e. <data-dir>/${ADMIN_SOCKET_NAME}).

Commands:
  lun list                              LUNs with size, backend, mappings
  lun create --backend ramdisk|file [--size SIZE] [--path FILE] [--name NAME]
             [--blocksize N] [--ctl-lun ID] [--target IQN [--lun N]] [--readonly] [--removable]
                                        create a LUN (a missing file is created sparse)
  lun remove NAME|ID                    remove a LUN created with "lun create"
  lun resize NAME|ID SIZE [--force]     resize (CAPACITY DATA HAS CHANGED); a shrink,
                                        which discards the end of the LUN, needs --force
  session list                          sessions with their negotiated parameters
  session kill ID                       drop a session
  port list                             portals and CTL ports (target, tag)
  stat [-n COUNT] [-w SECONDS]          per-LUN ops/s, MB/s, latency (ctlstat)
  reload                                re-read the configuration file (like SIGHUP)
  version                               the daemon's version, pid and configuration

Options:
  -s, --socket PATH     admin socket
  -d, --data-dir DIR    the daemon's data directory (socket inside it)
      --json            machine-readable output
  -h, --help            show this help
`;

export interface CtlIo {
  out(s: string): void;
  err(s: string): void;
  /** Waits (injectable for tests). */
  sleep(ms: number): Promise<void>;
  /** Output is a terminal: `stat` redraws its table in place (like top) instead of appending. */
  readonly tty?: boolean;
}

const defaultIo: CtlIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  tty: process.stdout.isTTY === true,
};

class UsageError extends Error {}

/** Left-aligned columns. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

function fmtLuns(luns: AdminLunInfo[]): string {
  return table(
    ['CTL', 'NAME', 'BACKEND', 'SIZE', 'BS', 'RO', 'ORIGIN', 'MAPPED', 'STATE', 'ERRORS', 'PATH'],
    luns.map((l) => [
      l.ctlLun === null ? '-' : String(l.ctlLun),
      l.name,
      l.backend === 'block' ? 'file' : l.backend,
      formatSize(l.size),
      String(l.blockSize),
      l.readOnly ? 'yes' : 'no',
      l.origin,
      l.mappings.map((m) => `${m.target}/${m.lun}`).join(',') || '-',
      l.state ?? 'ok',
      // e.g. "3 (ENOSPC 3)": the count, and by errno when there are any.
      l.errors === 0 ? '0' : `${l.errors} (${Object.entries(l.faults ?? {}).map(([k, n]) => `${k} ${n}`).join(', ')})`,
      l.path ?? '-',
    ]),
  );
}

function fmtSessions(ss: SessionInfo[]): string {
  return table(
    ['ID', 'INITIATOR', 'ADDRESS', 'TARGET', 'ISID', 'TSIH', 'STATE', 'HDGST', 'DDGST', 'MRDSL', 'MSDSL', 'MAXBURST', 'FIRSTBURST', 'IMMDATA', 'INITR2T'],
    ss.map((s) => [
      String(s.id),
      s.initiatorName,
      s.initiatorAddress,
      s.targetName,
      s.isid,
      `0x${s.tsih.toString(16).padStart(4, '0')}`,
      s.state,
      s.headerDigest ? 'CRC32C' : 'None',
      s.dataDigest ? 'CRC32C' : 'None',
      String(s.maxRecvDataSegmentLength),
      String(s.maxSendDataSegmentLength),
      String(s.maxBurstLength),
      String(s.firstBurstLength),
      s.immediateData ? 'Yes' : 'No',
      s.initialR2t ? 'Yes' : 'No',
    ]),
  );
}

function fmtPorts(p: { portals: BoundPortal[]; ports: AdminPortInfo[] }): string {
  return (
    table(
      ['PORTAL', 'PORTAL-GROUP', 'TAG'],
      p.portals.map((x) => [x.host.includes(':') ? `[${x.host}]:${x.port}` : `${x.host}:${x.port}`, x.portalGroup, String(x.tag)]),
    ) +
    '\n' +
    table(
      ['PORT', 'TARGET', 'TAG', 'STATE', 'SESSIONS', 'LUNS', 'PORTALS'],
      p.ports.map((x) => [String(x.portNumber), x.target, String(x.tag), x.state, String(x.sessions), x.luns.map((l) => `${l.lun}:${l.ctlLun}`).join(',') || '-', x.portals.join(',') || '-']),
    )
  );
}

function fmtReload(r: ReloadReport): string {
  const problems = r.problems ?? [];
  const lines = [r.changed ? `${r.source}: reloaded (${r.actions.length} change(s))` : `${r.source}: no changes${problems.length > 0 ? `, but ${problems.length} problem(s):` : ''}`, ...r.actions.map((a) => `  ${a}`)];
  for (const d of r.deferred) lines.push(`  deferred: ${d}`);
  for (const e of r.errors) lines.push(`  error: ${e}`);
  for (const p of problems) lines.push(`  problem: ${p}`);
  return lines.join('\n') + '\n';
}

function sizeOf(text: string): number {
  const n = parseSize(text);
  if (n === null || n <= 0) throw new UsageError(`invalid size "${text}" (bytes, or like 64M, 10G)`);
  return n;
}

function intOf(text: string, what: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`invalid ${what} "${text}"`);
  return Number(text);
}

interface StatSnapshot {
  time: number;
  /** Monotonic daemon clock in milliseconds (fractional). */
  uptimeMs: number;
  luns: Array<{ name: string; ctlLun: number; stats: LunIoStats }>;
}

async function runStat(client: AdminClient, count: number | null, waitS: number, json: boolean, io: CtlIo): Promise<void> {
  let prev = (await client.request(AdminCommand.Stat)) as StatSnapshot;
  for (let i = 0; count === null || i < count; i++) {
    await io.sleep(waitS * 1000);
    const cur = (await client.request(AdminCommand.Stat)) as StatSnapshot;
    const secs = (cur.uptimeMs - prev.uptimeMs) / 1000;
    const rows = cur.luns.map((l) => {
      const before = prev.luns.find((p) => p.name === l.name && p.ctlLun === l.ctlLun)?.stats ?? { ...l.stats, reads: 0, writes: 0, others: 0, bytesRead: 0, bytesWritten: 0, readNs: 0, writeNs: 0, otherNs: 0 };
      return { name: l.name, ctlLun: l.ctlLun, inFlight: l.stats.inFlight, ...rates(before, l.stats, secs) };
    });
    if (json) {
      io.out(`${JSON.stringify({ time: cur.time, interval: secs, luns: rows })}\n`);
    } else {
      // ANSI: cursor home + clear screen, then the interval's table with a title line.
      if (io.tty === true) io.out(`\x1b[H\x1b[2J${new Date(cur.time).toISOString()}  interval ${secs.toFixed(2)} s\n`);
      io.out(
        table(
          ['CTL', 'NAME', 'R/S', 'W/S', 'MB/S-R', 'MB/S-W', 'MS-R', 'MS-W', 'QD'],
          rows.map((r) => [String(r.ctlLun), r.name, r.readOps.toFixed(0), r.writeOps.toFixed(0), r.readMBps.toFixed(2), r.writeMBps.toFixed(2), r.readMs.toFixed(3), r.writeMs.toFixed(3), String(r.inFlight)]),
        ),
      );
    }
    prev = cur;
  }
}

/** Runs `iscsi-target-ctl`; resolves with the exit status. */
export async function runCtl(argv: readonly string[], io: CtlIo = defaultIo, cwd = process.cwd()): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        socket: { type: 'string', short: 's' },
        'data-dir': { type: 'string', short: 'd' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        backend: { type: 'string' },
        size: { type: 'string' },
        path: { type: 'string' },
        name: { type: 'string' },
        blocksize: { type: 'string' },
        'ctl-lun': { type: 'string' },
        target: { type: 'string' },
        lun: { type: 'string' },
        readonly: { type: 'boolean' },
        removable: { type: 'boolean' },
        force: { type: 'boolean' },
        count: { type: 'string', short: 'n' },
        wait: { type: 'string', short: 'w' },
      },
    });
  } catch (e) {
    io.err(`iscsi-target-ctl: ${(e as Error).message}\n\n${CTL_USAGE}`);
    return 2;
  }
  const { values: v, positionals: pos } = parsed;
  if (v.help === true) {
    io.out(CTL_USAGE);
    return 0;
  }
  const json = v.json === true;
  const socket = v.socket !== undefined ? resolve(cwd, v.socket) : resolve(cwd, v['data-dir'] ?? 'data', ADMIN_SOCKET_NAME);
  const [noun, verb, ...rest] = pos;
  const key = verb === undefined ? (noun ?? '') : `${noun} ${verb}`;

  let plan: (c: AdminClient) => Promise<void>;
  const show = (result: unknown, human: (r: never) => string): void => io.out(json ? `${JSON.stringify(result, null, 2)}\n` : human(result as never));
  try {
    const want = (n: number): void => {
      if (rest.length !== n) throw new UsageError(`"${key}" takes ${n} argument(s)`);
    };
    switch (key) {
      case 'lun list':
        want(0);
        plan = async (c) => show(await c.request(AdminCommand.LunList), fmtLuns);
        break;
      case 'lun create': {
        want(0);
        if (v.backend === undefined) throw new UsageError('lun create needs --backend ramdisk|file');
        const args: Record<string, unknown> = { backend: v.backend };
        if (v.size !== undefined) args['size'] = sizeOf(v.size);
        if (v.path !== undefined) args['path'] = resolve(cwd, v.path);
        if (v.name !== undefined) args['name'] = v.name;
        if (v.blocksize !== undefined) args['blockSize'] = intOf(v.blocksize, 'block size');
        if (v['ctl-lun'] !== undefined) args['ctlLun'] = intOf(v['ctl-lun'], 'CTL LUN id');
        if (v.target !== undefined) args['target'] = v.target;
        if (v.lun !== undefined) args['lun'] = intOf(v.lun, 'LUN number');
        if (v.readonly === true) args['readOnly'] = true;
        if (v.removable === true) args['removable'] = true;
        plan = async (c) => show(await c.request(AdminCommand.LunCreate, args), (l: AdminLunInfo) => `created lun "${l.name}" (CTL LUN ${l.ctlLun}, ${formatSize(l.size)})\n`);
        break;
      }
      case 'lun remove':
        want(1);
        plan = async (c) => show(await c.request(AdminCommand.LunRemove, { lun: rest[0] }), () => `removed lun "${rest[0]}"\n`);
        break;
      case 'lun resize': {
        want(2);
        const size = sizeOf(rest[1]!);
        const args: Record<string, unknown> = { lun: rest[0], size };
        if (v.force === true) args['force'] = true;
        plan = async (c) => show(await c.request(AdminCommand.LunResize, args), (l: AdminLunInfo) => `lun "${l.name}" is now ${formatSize(l.size)}\n`);
        break;
      }
      case 'session list':
        want(0);
        plan = async (c) => show(await c.request(AdminCommand.SessionList), fmtSessions);
        break;
      case 'session kill': {
        want(1);
        const id = intOf(rest[0]!, 'session id');
        plan = async (c) => show(await c.request(AdminCommand.SessionKill, { id }), () => `session ${id} terminated\n`);
        break;
      }
      case 'port list':
        want(0);
        plan = async (c) => show(await c.request(AdminCommand.PortList), fmtPorts);
        break;
      case 'stat': {
        if (verb !== undefined) throw new UsageError('"stat" takes no argument (use -n COUNT -w SECONDS)');
        const count = v.count === undefined ? null : intOf(v.count, 'count');
        const wait = v.wait === undefined ? 1 : Number(v.wait);
        if (!Number.isFinite(wait) || wait <= 0) throw new UsageError(`invalid interval "${v.wait}"`);
        plan = (c) => runStat(c, count, wait, json, io);
        break;
      }
      case 'reload':
        plan = async (c) => show(await c.request(AdminCommand.Reload), fmtReload);
        break;
      case 'version':
        plan = async (c) => show(await c.request(AdminCommand.Version), (r: { version: string; pid: number; config: string }) => `iscsi-target ${r.version} (pid ${r.pid}, ${r.config})\n`);
        break;
      default:
        throw new UsageError(key === '' ? 'no command given' : `unknown command "${key}"`);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`iscsi-target-ctl: ${e.message}\n\n${CTL_USAGE}`);
    return 2;
  }

  let client: AdminClient;
  try {
    client = await AdminClient.connect(socket);
  } catch (e) {
    io.err(`iscsi-target-ctl: ${(e as Error).message}\n`);
    return 1;
  }
  try {
    await plan(client);
    return 0;
  } catch (e) {
    io.err(`iscsi-target-ctl: ${(e as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

/** Entry point of the bin. */
export function ctlCli(): void {
  runCtl(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`iscsi-target-ctl: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
