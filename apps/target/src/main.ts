/**
 * The `iscsi-target` command line (ctld(8) analog).
 *
 * What it does: parses the options with `node:util` `parseArgs`; loads the
 * configuration (`-f FILE`, or the embedded default with `-d`/`-l`);
 * `--check` validates it — syntax, references, LUN files, ICL drivers —
 * and exits 0 or 1; otherwise starts a `TargetDaemon`, logs with pino what
 * it serves, stops gracefully on SIGINT/SIGTERM (exit 0; a second signal
 * exits at once with 1), reloads the configuration on SIGHUP and through
 * the admin socket (`admin/`, `iscsi-target-ctl`), and logs, rather than
 * dies of, exceptions escaping a session. With `--metrics ADDR:PORT` (or
 * `metrics-listen`) it serves Prometheus metrics (`metrics/start-metrics.ts`);
 * `--copy`/`--no-copy` win over `nocopy`. Sets
 * `UV_THREADPOOL_SIZE` (if unset; `threadpool.ts`) before the first
 * asynchronous file operation, since libuv sizes its threadpool on first use.
 *
 * Exit status: 0 success, 1 configuration or start-up error, 2 usage error.
 *
 * What it does not do: no daemonizing (run it under a service manager), no
 * privilege dropping.
 */
import { mkdir } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Level } from 'pino';
import { ConfigError, embeddedConfig, loadConfigFile, type DaemonConfig } from './config.js';
import { TargetDaemon } from './daemon.js';
import { IO_ENGINES, backingLockUnavailable, ioEngineFallbackReason, setDefaultIoEngine, type IoEngine } from '@iscsi-target/ctl-block';
import { duplicateBacking } from './backing-identity.js';
import { checkLun } from './lun-factory.js';
import { loadPlugin, PluginError, PlugPoints } from './plug-points.js';
import { createLogger, LOG_LEVELS } from './logger.js';
import { startAdminServer, type AdminServer } from './admin/admin-server.js';
import { adminHandler } from './admin/commands.js';
import { ADMIN_SOCKET_NAME } from './admin/protocol.js';
import type { ReloadReport } from './reload/report.js';
import { parseMetricsAddress, type MetricsServer } from './metrics/metrics-server.js';
import { planMetrics, startMetricsServer } from './metrics/start-metrics.js';
import { setDefaultUvThreadpoolSize } from './threadpool.js';
import { KnownStores } from './known-stores.js';
import { missingKnownStore } from './served-lun.js';


export const USAGE = `Usage: iscsi-target [options]

Serves disks over iSCSI. Without -f, serves the embedded default: target
iqn.2026-11.org.nodejs-iscsi:target0 with LUN 0 = <data-dir>/lun0.img
(1 GiB, created sparse), on 127.0.0.1:3260, no authentication.

Options:
  -f, --config FILE       configuration in ctl.conf(5) syntax
  -d, --data-dir DIR      directory of the embedded default's LUN file and of the
                          admin socket (default: ./data)
  -l, --listen ADDR:PORT  listen address of the embedded default (repeatable;
                          IPv6 as [ADDR]:PORT; default 127.0.0.1:3260; ignored with -f)
      --copy              copy payload between buffers (for comparison)
      --no-copy           zero-copy data path (the default; "nocopy on|off" in the file)
      --metrics ADDR:PORT Prometheus endpoint at http://ADDR:PORT/metrics (off by
                          default; "metrics-listen ADDR:PORT" in the file)
      --nic NAME          NIC driver of every portal group without "nic NAME"
                          (default: the highest-priority available one, tcp)
      --io-engine ENGINE  file LUN I/O engine of every LUN without "option io_engine":
                          threadpool (Node's fs; the default) or uring (io_uring; falls
                          back to threadpool, logged once, where io_uring is unavailable
                          or ISCSI_TARGET_NO_URING=1)
      --plugin MODULE     import MODULE (package name or path) and call its
                          register(api) to add ICL/NIC drivers or backends
                          (repeatable)
      --check             validate the configuration, list the drivers and
                          backends this build offers, and exit (0 = valid)
      --admin-socket PATH admin socket for iscsi-target-ctl (default:
                          <data-dir>/${ADMIN_SOCKET_NAME}; mode 0600)
      --no-admin-socket   do not open the admin socket
      --log-level LEVEL   fatal, error, warn, info, debug or trace
                          (default: info, or from "debug N" in the file)
      --store-check-interval MS
                          how often served LUN files are checked for deletion
                          (default 10000; 0 = only at reload)
      --auth-failure-delay MS
                          delay before a failed CHAP/ACL login is answered
                          (default 1000; 0 = none)
  -h, --help              show this help
  -V, --version           show the version
`;

export interface CliOptions {
  readonly config: string | null;
  readonly dataDir: string;
  readonly listen: readonly string[];
  readonly noCopy: boolean;
  /** --copy or --no-copy was given (then it wins over `nocopy` in the file). */
  readonly noCopyExplicit?: boolean;
  /** --metrics ADDR:PORT, or null. */
  readonly metrics?: string | null;
  readonly check: boolean;
  readonly logLevel: Level | null;
  /** `--store-check-interval MS`, or absent for the default. */
  readonly storeCheckIntervalMs?: number;
  /** `--auth-failure-delay MS`, or null for the default. */
  readonly authFailureDelayMs?: number;
  /** The admin socket path, or null for none (`--no-admin-socket`). */
  readonly adminSocket: string | null;
  /** `--nic NAME`, or null. */
  readonly nic?: string | null;
  /** `--io-engine ENGINE`, or absent for the default (ctl-block io-engine.ts). */
  readonly ioEngine?: IoEngine;
  /** `--plugin MODULE`s, in order. */
  readonly plugins?: readonly string[];
  /** Options that were given but do not apply (printed to stderr). */
  readonly warnings: readonly string[];
}

export type CliCommand =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly options: CliOptions }
  | { readonly kind: 'usage-error'; readonly message: string };

/** Parses the arguments (without `node` and the script). Pure. */
export function parseCli(argv: readonly string[], cwd = process.cwd()): CliCommand {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string', short: 'f' },
        'data-dir': { type: 'string', short: 'd' },
        listen: { type: 'string', short: 'l', multiple: true },
        copy: { type: 'boolean' },
        'no-copy': { type: 'boolean' },
        metrics: { type: 'string' },
        check: { type: 'boolean' },
        nic: { type: 'string' },
        'io-engine': { type: 'string' },
        plugin: { type: 'string', multiple: true },
        'log-level': { type: 'string' },
        'auth-failure-delay': { type: 'string' },
        'store-check-interval': { type: 'string' },
        'admin-socket': { type: 'string' },
        'no-admin-socket': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    }));
  } catch (e) {
    return { kind: 'usage-error', message: (e as Error).message };
  }
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  if (values.copy === true && values['no-copy'] === true) {
    return { kind: 'usage-error', message: '--copy and --no-copy are mutually exclusive' };
  }
  const listen = values.listen ?? [];
  const warnings: string[] = [];
  if (values.config !== undefined && listen.length > 0) {
    warnings.push('--listen applies to the embedded default only and is ignored with -f (listen addresses are in the configuration file)');
  }
  if (values['admin-socket'] !== undefined && values['no-admin-socket'] === true) {
    return { kind: 'usage-error', message: '--admin-socket and --no-admin-socket are mutually exclusive' };
  }
  const level = values['log-level'];
  if (level !== undefined && !LOG_LEVELS.includes(level as Level)) {
    return { kind: 'usage-error', message: `invalid --log-level "${level}" (expected ${LOG_LEVELS.join(', ')})` };
  }
  const delayText = values['auth-failure-delay'];
  if (delayText !== undefined && (!/^[0-9]{1,5}$/.test(delayText) || Number(delayText) > 60_000)) {
    return { kind: 'usage-error', message: `invalid --auth-failure-delay "${delayText}" (expected milliseconds, 0 to 60000)` };
  }
  const storeCheck = values['store-check-interval'];
  if (storeCheck !== undefined && (!/^[0-9]{1,7}$/.test(storeCheck) || Number(storeCheck) > 3_600_000)) {
    return { kind: 'usage-error', message: `invalid --store-check-interval "${storeCheck}" (expected milliseconds, 0 to 3600000)` };
  }
  const ioEngine = values['io-engine'];
  if (ioEngine !== undefined && !IO_ENGINES.includes(ioEngine as IoEngine)) {
    return { kind: 'usage-error', message: `invalid --io-engine "${ioEngine}" (expected ${IO_ENGINES.join(' or ')})` };
  }
  const dataDir = resolve(cwd, values['data-dir'] ?? 'data');
  const adminSocket = values['no-admin-socket'] === true ? null : resolve(cwd, values['admin-socket'] ?? resolve(dataDir, ADMIN_SOCKET_NAME));
  const metrics = values.metrics ?? null;
  if (metrics !== null) {
    const a = parseMetricsAddress(metrics);
    if (typeof a === 'string') return { kind: 'usage-error', message: `--metrics: ${a}` };
  }
  return {
    kind: 'run',
    options: {
      ...(delayText === undefined ? {} : { authFailureDelayMs: Number(delayText) }),
      ...(storeCheck === undefined ? {} : { storeCheckIntervalMs: Number(storeCheck) }),
      // Only present when given, so the options of a plain run stay as before.
      ...(values.copy === true || values['no-copy'] === true ? { noCopyExplicit: true } : {}),
      ...(metrics !== null ? { metrics } : {}),
      ...(values.nic !== undefined ? { nic: values.nic } : {}),
      ...(ioEngine !== undefined ? { ioEngine: ioEngine as IoEngine } : {}),
      ...(values.plugin !== undefined ? { plugins: values.plugin } : {}),
      config: values.config === undefined ? null : resolve(cwd, values.config),
      dataDir,
      listen: values.config === undefined ? listen : [],
      warnings,
      noCopy: values.copy !== true,
      check: values.check === true,
      logLevel: (level as Level | undefined) ?? null,
      adminSocket,
    },
  };
}

/** The package version, read from package.json next to `src/` or `dist/`. */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

/** Loads the configuration the options ask for, naming `plug`'s drivers and backends. Throws `ConfigError`. */
export async function loadConfiguration(o: CliOptions, plug?: PlugPoints): Promise<DaemonConfig> {
  const names = plug?.names();
  if (o.config !== null) return loadConfigFile(o.config, names);
  return embeddedConfig({ dataDir: o.dataDir, listen: o.listen });
}

/** The plug points of this run: the built-ins, then every `--plugin`. Throws `PluginError`. */
export async function plugPointsFor(o: CliOptions): Promise<PlugPoints> {
  const plug = PlugPoints.create();
  for (const spec of o.plugins ?? []) await loadPlugin(spec, plug);
  return plug;
}

/**
 * `--check`: problems beyond the file itself that start would meet — what
 * each LUN's backend refuses (a missing file that will not be created, an
 * unavailable backend, a missing directory, a size the file system or the
 * memory cannot take, a lock held by another process, a file served before
 * from this data directory and missing now), ICL and NIC drivers that are unknown or
 * unavailable. Returns messages.
 */
export async function checkConfiguration(
  config: DaemonConfig,
  plug: PlugPoints,
  defaultNic: string | null = null,
  stores: KnownStores | null = null,
  notes?: string[],
): Promise<string[]> {
  const problems: string[] = [];
  const used = new Set<string>();
  for (const t of config.targets) for (const l of t.luns.values()) used.add(l.name);
  const dup = duplicateBacking([...config.luns.values()].filter((l) => used.has(l.name)));
  if (dup !== null) problems.push(dup);
  for (const lun of config.luns.values()) {
    if (!used.has(lun.name)) continue;
    // Served before from the same data directory and gone now: start would not serve it (item 3 of issue 13).
    const missing = missingKnownStore(lun, stores);
    if (missing !== null) {
      problems.push(`${missing.message}; start would not serve this LUN`);
      continue;
    }
    // Start creates the data directory of the embedded default's LUN (see runCli): its absence is no problem.
    if (config.source === '<embedded default>' && lun.path !== null && !existsSync(dirname(lun.path))) continue;
    try {
      await checkLun(lun, plug.backends);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  const known = new Set(plug.icl.names().map((d) => d.toLowerCase()));
  for (const pg of config.portalGroups.values()) {
    if (pg.listen.length === 0) continue;
    const at = pg.pos.line > 0 ? `${pg.pos.file}:${pg.pos.line}:${pg.pos.col}: ` : '';
    if (!known.has(pg.offload.toLowerCase())) problems.push(`${at}portal-group "${pg.name}": ICL driver "${pg.offload}" is not available`);
    const nicName = pg.nic ?? defaultNic ?? undefined;
    try {
      const d = plug.nic.find(nicName);
      const why = d.available();
      if (why !== null && d.fallback !== undefined && plug.nic.has(d.fallback) && plug.nic.find(d.fallback).available() === null) {
        notes?.push(`${at}portal-group "${pg.name}": NIC driver "${d.name}" is not available (${why}): it will use ${d.fallback}`);
      } else if (why !== null) problems.push(`${at}portal-group "${pg.name}": NIC driver "${d.name}" is not available: ${why}`);
    } catch (e) {
      problems.push(`${at}portal-group "${pg.name}": ${(e as Error).message}`);
    }
  }
  return problems;
}

/** `--check`'s list of what this build offers, one line each. */
export function describePlugPoints(plug: PlugPoints): string[] {
  const kind = { icl: 'ICL driver', nic: 'NIC driver', backend: 'backend' } as const;
  return plug.catalog().map((e) => `${kind[e.kind]} ${e.name}: ${e.unavailable === null ? e.description : `unavailable (${e.unavailable})`}`);
}

/** Whether `--io-engine uring` or some LUN's `option io_engine uring` asks for the ring. */
function wantsUring(config: DaemonConfig, cli: IoEngine | undefined): boolean {
  if (cli === 'uring') return true;
  for (const l of config.luns.values()) if (l.backend === 'block' && l.options.get('io_engine') === 'uring') return true;
  return false;
}

/** `--check`'s line on the file LUN I/O engine: what is asked for and what runs. */
export function describeIoEngine(config: DaemonConfig, cli: IoEngine | undefined): string {
  const why = ioEngineFallbackReason();
  const ring = why === null ? 'available' : `unavailable (${why}); LUNs asking for it use threadpool`;
  const asked = wantsUring(config, cli) ? 'asked for' : 'not asked for';
  return `I/O engine uring: ${ring}; ${asked} (default ${cli ?? 'threadpool'})`;
}

function levelOf(o: CliOptions, config: DaemonConfig): Level {
  if (o.logLevel !== null) return o.logLevel;
  return config.debug >= 2 ? 'trace' : config.debug === 1 ? 'debug' : 'info';
}

/** Runs the command line; resolves with the exit status once the daemon stopped (or at once). */
export async function runCli(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  // Before any asynchronous fs call: libuv reads it when it creates the threadpool.
  setDefaultUvThreadpoolSize();
  const cmd = parseCli(argv);
  switch (cmd.kind) {
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    case 'version':
      process.stdout.write(`iscsi-target ${version()}\n`);
      return 0;
    case 'usage-error':
      process.stderr.write(`iscsi-target: ${cmd.message}\n\n${USAGE}`);
      return 2;
    case 'run':
      break;
  }
  const o = cmd.options;
  if (o.ioEngine !== undefined) setDefaultIoEngine(o.ioEngine);
  for (const w of o.warnings) process.stderr.write(`iscsi-target: warning: ${w}\n`);
  let plug: PlugPoints;
  try {
    plug = await plugPointsFor(o);
  } catch (e) {
    if (e instanceof PluginError) {
      process.stderr.write(`iscsi-target: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (o.nic != null && !plug.nic.has(o.nic)) {
    process.stderr.write(`iscsi-target: --nic ${o.nic}: unknown NIC driver (known: ${plug.nic.names().join(', ')})\n`);
    return 2;
  }
  let config: DaemonConfig;
  try {
    config = await loadConfiguration(o, plug);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`iscsi-target: ${e.message}\n`);
      return 1;
    }
    throw e;
  }

  if (o.check) {
    for (const w of config.warnings) process.stderr.write(`iscsi-target: warning: ${w}\n`);
    const noLocks = backingLockUnavailable();
    if (noLocks !== null && [...config.luns.values()].some((l) => l.backend === 'block')) process.stderr.write(`iscsi-target: warning: ${noLocks}\n`);
    const notes: string[] = [];
    const problems = await checkConfiguration(config, plug, o.nic ?? null, KnownStores.load(o.dataDir), notes);
    for (const n of notes) process.stdout.write(`iscsi-target: ${n}\n`);
    for (const line of describePlugPoints(plug)) process.stdout.write(`iscsi-target: ${line}\n`);
    process.stdout.write(`iscsi-target: ${describeIoEngine(config, o.ioEngine)}\n`);
    for (const p of problems) process.stderr.write(`iscsi-target: ${p}\n`);
    if (problems.length > 0) return 1;
    const portals = [...config.portalGroups.values()].reduce((n, pg) => n + pg.listen.length, 0);
    process.stdout.write(`iscsi-target: ${config.source}: OK (${config.targets.length} targets, ${config.luns.size} LUNs, ${portals} portals)\n`);
    return 0;
  }

  const logger = createLogger({ level: levelOf(o, config) });
  // Sessions are isolated (session-guard.ts); anything still escaping is logged, not fatal.
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception (the daemon keeps running)'));
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection (the daemon keeps running)'));
  // SIGHUP's default action ends the process: handle it from here on (a reload needs a running daemon).
  let onHangup = (): void => logger.warn({ signal: 'SIGHUP' }, 'SIGHUP while starting: ignored (nothing to reload yet)');
  process.on('SIGHUP', () => onHangup());
  // SIGINT/SIGTERM while starting (the portals may already accept connections): remembered, and
  // the daemon stops as soon as it is up, exiting 0 like any graceful stop.
  let pendingStop: NodeJS.Signals | null = null;
  let onStop = (signal: NodeJS.Signals): void => {
    if (pendingStop === null) logger.info({ signal }, `${signal} while starting: stopping once started`);
    pendingStop = signal;
  };
  process.on('SIGINT', (signal) => onStop(signal));
  process.on('SIGTERM', (signal) => onStop(signal));

  if (config.source === '<embedded default>') await mkdir(o.dataDir, { recursive: true });
  // The command line wins over `nocopy on|off` in the file; the default is no-copy.
  const noCopy = o.noCopyExplicit === true ? o.noCopy : (config.nocopy ?? o.noCopy);
  const metricsPlan = planMetrics(o.metrics ?? null, config.metricsListen);
  for (const e of plug.catalog()) {
    if (e.unavailable !== null) logger.info({ [e.kind === 'backend' ? 'backend' : 'driver']: e.name, reason: e.unavailable }, `${e.kind === 'backend' ? 'backend' : `${e.kind.toUpperCase()} driver`} ${e.name} is unavailable: ${e.unavailable}`);
  }
  const daemon = new TargetDaemon(config, {
    logger,
    noCopy,
    plugPoints: plug,
    ...(o.nic != null ? { defaultNic: o.nic } : {}),
    ...(o.authFailureDelayMs === undefined ? {} : { authFailureDelayMs: o.authFailureDelayMs }),
    ...(o.storeCheckIntervalMs === undefined ? {} : { storeCheckIntervalMs: o.storeCheckIntervalMs }),
    stateDir: o.dataDir,
    ...(metricsPlan !== null ? { commandObserver: metricsPlan.metrics } : {}),
  });
  metricsPlan?.attach(daemon);
  if (wantsUring(config, o.ioEngine)) {
    const why = ioEngineFallbackReason();
    if (why === null) logger.info({ ioEngine: 'uring' }, 'file LUN I/O through io_uring');
    else logger.warn({ ioEngine: 'threadpool', reason: why }, `io_engine uring unavailable (${why}): file LUNs use the thread pool`);
  }
  logger.info(
    { version: version(), config: config.source, noCopy, uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE, node: process.version },
    `iscsi-target ${version()} starting (${config.source})`,
  );
  // A start failure is said once, as one plain line on stderr (like --check's), not as a log record with its stack.
  const cannotStart = (what: string, e: unknown): number => {
    process.stderr.write(`iscsi-target: ${what}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  };
  try {
    await daemon.start();
  } catch (e) {
    return cannotStart('cannot start', e);
  }
  // Reload: SIGHUP and the admin socket. Parsed and checked in full before anything changes.
  const reload = async (origin: string): Promise<ReloadReport> => {
    logger.info({ origin }, `${origin}: reloading the configuration`);
    try {
      const next = await loadConfiguration(o, plug);
      const r = await daemon.reload(next);
      const summary = r.changed ? `configuration reloaded: ${r.actions.length} change(s)${r.errors.length > 0 ? `, ${r.errors.length} failed` : ''}` : 'configuration reloaded: no changes';
      const fields = { origin, config: r.source, changed: r.changed, actions: r.actions, errors: r.errors, deferred: r.deferred, problems: r.problems };
      // A LUN whose file is gone is never reported as a plain "no changes".
      if (r.problems.length > 0) logger.error(fields, `${summary}; ${r.problems.length} LUN problem(s): ${r.problems.join('; ')}`);
      else logger.info(fields, summary);
      return r;
    } catch (e) {
      logger.error({ origin, err: { type: (e as Error).name, message: (e as Error).message } }, `reload refused: ${(e as Error).message}; the running configuration is unchanged`);
      throw e;
    }
  };

  let admin: AdminServer | null = null;
  if (o.adminSocket !== null) {
    try {
      await mkdir(dirname(o.adminSocket), { recursive: true, mode: 0o700 });
      admin = await startAdminServer(o.adminSocket, adminHandler({ daemon, reload: () => reload('admin'), version: version() }), logger);
      logger.info({ adminSocket: o.adminSocket }, `admin socket ${o.adminSocket}`);
    } catch (e) {
      await daemon.stop();
      return cannotStart('cannot open the admin socket', e);
    }
  }
  let metricsServer: MetricsServer | null = null;
  if (metricsPlan !== null) {
    try {
      metricsServer = await startMetricsServer(metricsPlan, logger);
    } catch (e) {
      await admin?.close().catch(() => {});
      await daemon.stop();
      return cannotStart('cannot start the metrics endpoint', e);
    }
  }
  logger.info({ targets: config.targets.length, portals: daemon.portals().length }, 'ready');

  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        resolveExit(1);
        return;
      }
      stopping = true;
      logger.info({ signal }, `${signal}: shutting down`);
      const closeAdmin = admin === null ? Promise.resolve() : admin.close().catch((e: unknown) => logger.warn({ err: e }, 'closing the admin socket failed'));
      closeAdmin.then(() => Promise.all([daemon.stop(), metricsServer?.close()])).then(
        () => resolveExit(0),
        (e: unknown) => {
          logger.error({ err: e }, 'error while stopping');
          resolveExit(1);
        },
      );
    };
    onStop = onSignal;
    if (pendingStop !== null) onSignal(pendingStop);
    onHangup = () => {
      if (stopping) logger.warn({ signal: 'SIGHUP' }, 'SIGHUP while stopping: ignored');
      else reload('SIGHUP').catch(() => {});
    };
  });
}

/** Entry point for the `bin` and for `node dist/main.js`: runs and exits. */
export function cli(): void {
  runCli().then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`iscsi-target: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}

// `node dist/main.js ...` runs the CLI; importing the module (the bin, tests) does not.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) cli();
