/**
 * `TargetDaemon`: the lifecycle and the wiring of a running target (FreeBSD
 * ctld's main loop plus what `conf_apply()` does to the kernel), in one
 * process. Its parts live along their seams:
 * - `plug-points.ts`: the ICL drivers, NIC drivers and backends a
 *   configuration may name;
 * - `inventory.ts`: the LUN maps (name → CTL LUN, configuration, backend;
 *   admin-mapped LUNs);
 * - `portal-accept.ts`: accepted connections → login → frontend or discovery;
 * - `reload/apply.ts`: applying a reloaded configuration;
 * - `admin/operations.ts`: what the admin socket asks for.
 * They see the daemon through `DaemonHost` (`daemon-host.ts`).
 *
 * What it does:
 * - `start()`: opens every LUN the targets use (`lun-factory.ts`, each with
 *   the backend its `backend NAME` names) and adds it to a `Ctl`; creates
 *   the `IscsiFrontend` and registers one CTL port per (target, portal
 *   group); listens on every portal of every portal group that serves a
 *   target, with the portal group's NIC driver; writes the pidfile. On any
 *   failure it undoes what it did and throws (`StartError`, `LunOpenError`,
 *   `ConfigError`...).
 * - answers SendTargets in normal sessions through the frontend's
 *   `onTextRequest` hook.
 * - `stop()`: stops accepting, cancels logins in progress, closes discovery
 *   sessions, shuts the frontend down (sessions are asked to log out, then
 *   terminated), removes the LUNs (backends flush and close), removes the
 *   pidfile. Idempotent.
 * - `reload(config)` (serialized) and the administration methods
 *   (`lunList`, `createLun`, `destroyLun`, `resizeLun`, `sessionList`,
 *   `killSession`, `portList`, `lunStats`) delegate to their modules. Every
 *   backend is wrapped by `lun-stats.ts` for per-LUN I/O counters.
 *
 * What it does not do: no metrics, no socket for the admin CLI
 * (`admin/admin-server.ts`), no signal handling or process exit (`main.ts`),
 * no login or authentication (`login/`, `auth/`).
 */
import { portAluaOf } from './alua-config.js';
import { Ctl } from '@iscsi-target/ctl-core';
import { IscsiFrontend, type IscsiSession, type SessionInfo } from '@iscsi-target/ctl-frontend-iscsi';
import type { IclDriver, IclRegistry, NicDriver, NicListener } from '@iscsi-target/icl-core';
import { PlugPoints } from './plug-points.js';
import { PortalAcceptor } from './portal-accept.js';
import { formatPos } from './config/errors.js';
import { formatHostPort } from './config/listen-address.js';
import type { DaemonConfig, LunConfig, PortalGroupConfig } from './config/model.js';
import { formatSize } from './config/size.js';
import { answerOtherKey } from './discovery.js';
import { nullLogger, type Logger } from './logger.js';
import { backingLockUnavailable } from '@iscsi-target/ctl-block';
import { duplicateBacking } from './backing-identity.js';
import { ctlLunOptions, prStoreFor } from './lun-factory.js';
import { KnownStores } from './known-stores.js';
import { MissingBackingError, openServedLun } from './served-lun.js';
import { checkServedStores } from './store-watch.js';
import { DAEMON_DEFAULTS, type DaemonOptions } from './options.js';
import { acquirePidfile, type Pidfile } from './pidfile.js';
import { DiscoveryCatalog, sendTargets } from './send-targets.js';
import { FaultLog } from './fault-log.js';
import { sysErrorText } from './sys-error.js';
import type { LunIoStats, MeteredLun } from './lun-stats.js';
import { type ReloadReport } from './reload/report.js';
import { applyReload } from './reload/apply.js';
import { AdminOperations, type AdminLunInfo, type AdminLunSpec, type AdminPortInfo } from './admin/operations.js';
import { addrKey, type BoundPortal, type DaemonHost, type DaemonState, type ListenerEntry } from './daemon-host.js';
import { LunInventory } from './inventory.js';
export { AdminError, type AdminLunInfo, type AdminLunSpec, type AdminPortInfo } from './admin/operations.js';
export type { BoundPortal } from './daemon-host.js';
import type { ListenAddress } from './config/listen-address.js';

export class StartError extends Error {
  override readonly name = 'StartError';
  readonly code = 'TARGET_ERR_START';
}

export interface TargetDaemonOptions extends DaemonOptions {
  logger?: Logger;
  /**
   * The ICL drivers, NIC drivers and backends configurations may name
   * (default: `PlugPoints.create()`: the built-ins and whatever the process
   * registered).
   */
  plugPoints?: PlugPoints;
  /** NIC driver (registered name) of every portal group without `nic NAME` (`--nic`; default: the highest-priority available one). */
  defaultNic?: string;
  /** A NIC driver instance for every portal group without `nic NAME`, bypassing the registry (tests, embedders). */
  nicDriver?: NicDriver;
  /** Extra ICL drivers (offload), registered next to the soft driver. */
  iclDrivers?: readonly IclDriver[];
}



export class TargetDaemon {
  #config: DaemonConfig;
  readonly #log: Logger;
  /** NIC drivers whose fallback was logged (once each). */
  readonly #nicFallbackLogged = new Set<string>();
  readonly #opts: Required<Pick<DaemonOptions, 'noCopy' | 'maxLoginTextLength' | 'maxQueuedLogins' | 'stopGraceMs' | 'authFailureDelayMs' | 'storeCheckIntervalMs'>> & TargetDaemonOptions;
  readonly #plug: PlugPoints;
  readonly #registry: IclRegistry;
  /** NIC drivers created so far, by lower-cased registered name. */
  readonly #nicDrivers = new Map<string, NicDriver>();
  #catalog: DiscoveryCatalog;
  /** Portal group tag → portal group. */
  readonly #pgByTag = new Map<number, PortalGroupConfig>();

  #ctl: Ctl | null = null;
  #frontend: IscsiFrontend | null = null;
  readonly #listeners: ListenerEntry[] = [];
  readonly #inv: LunInventory;
  #reloading: Promise<unknown> = Promise.resolve();
  #pidfile: Pidfile | null = null;
  #storeTimer: NodeJS.Timeout | null = null;

  readonly #acceptor: PortalAcceptor;
  readonly #host: DaemonHost;
  readonly #admin: AdminOperations;
  #state: DaemonState = 'new';
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  constructor(config: DaemonConfig, options: TargetDaemonOptions = {}) {
    this.#config = config;
    this.#log = options.logger ?? nullLogger;
    const faults = new FaultLog(this.#log);
    this.#inv = new LunInventory((lun, f) => faults.report(lun, f));
    this.#opts = { ...DAEMON_DEFAULTS, ...options };
    this.#plug = options.plugPoints ?? PlugPoints.create();
    this.#registry = this.#plug.icl;
    this.#catalog = new DiscoveryCatalog(config);
    for (const pg of config.portalGroups.values()) this.#pgByTag.set(pg.tag, pg);
    for (const d of options.iclDrivers ?? []) this.#registry.register(d);
    if (options.stateDir !== undefined) this.#inv.stores = KnownStores.load(options.stateDir);
    this.#host = {
      log: this.#log,
      opts: this.#opts,
      plug: this.#plug,
      inventory: this.#inv,
      listeners: this.#listeners,
      pgByTag: this.#pgByTag,
      state: () => this.#state,
      config: () => this.#config,
      setConfig: (next) => {
        this.#config = next;
      },
      ctl: () => {
        if (this.#ctl === null) throw new Error('the daemon has not started');
        return this.#ctl;
      },
      ctlOrNull: () => this.#ctl,
      frontend: () => {
        if (this.#frontend === null) throw new Error('the daemon has not started');
        return this.#frontend;
      },
      frontendOrNull: () => this.#frontend,
      refreshCatalog: () => {
        this.#catalog = new DiscoveryCatalog(this.#withBoundPorts());
      },
      openPortal: (pg, addr) => this.#openPortal(pg, addr),
      checkNic: (pg) => {
        this.#nicFor(pg);
      },
      nicNameOf: (pg) => this.nicNameOf(pg),
      portals: () => this.portals(),
    };
    this.#admin = new AdminOperations(this.#host);
    this.#acceptor = new PortalAcceptor({
      log: this.#log,
      registry: this.#registry,
      opts: this.#opts,
      accepting: () => this.#state === 'running' || this.#state === 'starting',
      config: () => this.#config,
      catalog: () => this.#catalog,
      frontend: () => this.#frontend,
    });
  }

  /** The configuration being served (replaced by a successful `reload`). */
  get config(): DaemonConfig {
    return this.#config;
  }

  get frontend(): IscsiFrontend | null {
    return this.#frontend;
  }

  get ctl(): Ctl | null {
    return this.#ctl;
  }

  get registry(): IclRegistry {
    return this.#registry;
  }

  /** The registries this daemon chooses ICL drivers, NIC drivers and backends from. */
  get plugPoints(): PlugPoints {
    return this.#plug;
  }

  /**
   * The NIC driver of `pg`: its `nic NAME`, else `defaultNic`/`nicDriver`,
   * else the highest-priority available one. Throws `Error` (with the
   * portal group's position) when the named driver is unknown or unavailable.
   */
  #nicFor(pg: PortalGroupConfig): NicDriver {
    if (pg.nic === null && this.#opts.nicDriver !== undefined) return this.#opts.nicDriver;
    const name = pg.nic ?? this.#opts.defaultNic;
    let d;
    try {
      d = this.#plug.nic.find(name);
    } catch (e) {
      throw new Error(`${formatPos(pg.pos)}: portal-group "${pg.name}": ${(e as Error).message}`, { cause: e });
    }
    const why = d.available();
    if (why !== null && d.fallback !== undefined) {
      const fb = this.#plug.nic.find(d.fallback);
      if (fb.available() === null) {
        if (!this.#nicFallbackLogged.has(d.name)) {
          this.#nicFallbackLogged.add(d.name);
          this.#log.warn({ nic: d.name, fallback: fb.name, reason: why }, `NIC driver ${d.name} is unavailable (${why}): using ${fb.name}`);
        }
        d = fb;
      }
    }
    const why2 = d.available();
    if (why2 !== null) throw new Error(`${formatPos(pg.pos)}: portal-group "${pg.name}": NIC driver "${d.name}" is not available: ${why2}`);
    const key = d.name.toLowerCase();
    let drv = this.#nicDrivers.get(key);
    if (drv === undefined) {
      drv = d.create();
      this.#nicDrivers.set(key, drv);
    }
    return drv;
  }

  /** The registered name of `pg`'s NIC driver (for logs and the admin CLI). */
  nicNameOf(pg: PortalGroupConfig): string {
    if (pg.nic === null && this.#opts.nicDriver !== undefined) return this.#opts.nicDriver.name;
    try {
      const d = this.#plug.nic.find(pg.nic ?? this.#opts.defaultNic);
      return d.fallback !== undefined && d.available() !== null ? d.fallback : d.name;
    } catch {
      return pg.nic ?? this.#opts.defaultNic ?? '?';
    }
  }

  /** Logins and discovery sessions in progress (bounded by `maxproc`). */
  get activeLogins(): number {
    return this.#acceptor.activeLogins;
  }

  /** Portals being listened on. */
  portals(): BoundPortal[] {
    return this.#listeners.map((l) => ({ portalGroup: l.pg.name, tag: l.pg.tag, host: l.host, port: l.listener.port }));
  }

  /** Opens LUNs, registers targets, listens. Throws (after undoing) on failure. */
  start(): Promise<void> {
    if (this.#state !== 'new') return Promise.reject(new StartError('start() may be called once'));
    this.#state = 'starting';
    this.#starting = (async () => {
      try {
        await this.#start();
        this.#state = 'running';
        const every = this.#opts.storeCheckIntervalMs;
        if (every > 0) {
          this.#storeTimer = setInterval(() => void checkServedStores(this.#host), every);
          this.#storeTimer.unref();
        }
      } catch (e) {
        this.#state = 'stopping';
        await this.#teardown();
        this.#state = 'stopped';
        throw e;
      }
    })();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const config = this.config;
    for (const w of config.warnings) this.#log.warn({}, w);
    if (config.pidfile !== null) this.#pidfile = await acquirePidfile(config.pidfile);

    // ICL drivers named by portal groups must exist (ctld fails the same way at kernel_limits()).
    for (const pg of config.portalGroups.values()) {
      if (pg.listen.length === 0) continue;
      try {
        this.#registry.find(pg.offload);
      } catch {
        throw new StartError(`${formatPos(pg.pos)}: portal-group "${pg.name}": ICL driver "${pg.offload}" is not available (known: ${this.#registry.names().join(', ')})`);
      }
      try {
        this.#nicFor(pg);
      } catch (e) {
        throw new StartError((e as Error).message, { cause: e });
      }
    }

    const ctl = new Ctl();
    this.#ctl = ctl;
    const used = new Map<string, LunConfig>();
    for (const t of config.targets) for (const l of t.luns.values()) used.set(l.name, l);
    // One backing store, one LUN (device and inode, after resolving links; the file only compared paths).
    const dup = duplicateBacking(used.values());
    if (dup !== null) throw new StartError(dup);
    const noLocks = backingLockUnavailable();
    if (noLocks !== null && [...used.values()].some((l) => l.backend === 'block')) this.#log.warn({ locks: false }, `${noLocks}: another daemon could serve the same file`);
    if (this.#inv.stores?.loadProblem) this.#log.warn({}, this.#inv.stores.loadProblem);
    for (const lun of used.values()) {
      let be: MeteredLun;
      try {
        be = await openServedLun(lun, { backends: this.#plug.backends, copyMode: !this.#opts.noCopy, log: this.#log, stores: this.#inv.stores });
      } catch (e) {
        // The disk's data is gone: this LUN is not served (the others are), and no empty disk takes its identity.
        if (e instanceof MissingBackingError) {
          this.#inv.unserved.set(lun.name, e.message);
          this.#log.error({ lun: lun.name, path: lun.path ?? undefined, missing: true }, `${e.message}; the LUN is not served`);
          continue;
        }
        // Storage that is out of reach (a Ceph cluster down, an RBD image missing:
        // the backend marks the error `storageUnavailable`) fails only this LUN;
        // the other LUNs serve. Any other open error still refuses the start.
        if (isStorageUnavailable(e)) {
          this.#inv.unserved.set(lun.name, (e as Error).message);
          this.#log.error({ lun: lun.name, backend: lun.backend, path: lun.path ?? undefined, err: e }, `LUN not served: ${(e as Error).message}`);
          continue;
        }
        throw e;
      }
      let id: number;
      try {
        const prStore = prStoreFor(lun);
        id = ctl.addLun(be, lun.ctlLun ?? undefined, { ...ctlLunOptions(lun), ...(prStore ? { prStore } : {}) });
      } catch (e) {
        await be.shutdown();
        throw new StartError(`lun "${lun.name}": ${(e as Error).message}`);
      }
      this.#inv.add(lun.name, id, lun, be);
      this.#log.info(
        {
          lun: lun.name,
          ctlLun: id,
          backend: lun.backend,
          path: lun.path ?? undefined,
          size: be.numBlocks * be.blockSize,
          blockSize: be.blockSize,
          readOnly: be.readOnly,
          serial: be.serialNumber,
          // Thin provisioning: how UNMAP is carried out (ctl-block: hole punching, or the zero-fill fallback).
          unmap:
            !be.thinProvisioned || be.provisioning?.unmap !== true
              ? 'off'
              : (be as { deallocates?: boolean }).deallocates === false
                ? 'zero-fill'
                : 'deallocate',
        },
        `LUN ${lun.path ?? lun.backend}: ${formatSize(be.numBlocks * be.blockSize)}, ${be.blockSize}-byte blocks${be.readOnly ? ', read-only' : ''}`,
      );
    }

    const frontend = new IscsiFrontend(ctl, {
      logger: this.#log,
      noCopy: this.#opts.noCopy,
      logoutGraceMs: this.#opts.stopGraceMs,
      onTextRequest: (session, keys) => this.#answerSessionText(session, keys),
      ...(this.#opts.commandObserver !== undefined ? { commandObserver: this.#opts.commandObserver } : {}),
    });
    this.#frontend = frontend;
    for (const t of config.targets) {
      const lunMap = new Map<number, number>();
      for (const [n, l] of t.luns) {
        const id = this.#inv.ctlLuns.get(l.name);
        if (id !== undefined) lunMap.set(n, id);
      }
      for (const ref of t.portalGroups) {
        const pg = config.portalGroups.get(ref.portalGroup)!;
        const tc: Parameters<IscsiFrontend['addTarget']>[0] = { name: t.name, portalGroupTag: pg.tag, lunMap, alua: portAluaOf(t, pg) };
        if (t.alias !== null) tc.alias = t.alias;
        frontend.addTarget(tc);
      }
      this.#log.info(
        {
          target: t.name,
          alias: t.alias ?? undefined,
          auth: t.auth,
          portalGroups: t.portalGroups.map((r) => r.portalGroup),
          luns: Object.fromEntries([...t.luns].map(([n, l]) => [n, l.path ?? l.name])),
        },
        `target ${t.name}`,
      );
    }

    for (const pg of config.portalGroups.values()) {
      for (const addr of pg.listen) {
        let listener: NicListener;
        try {
          listener = await this.#listen(pg, addr);
        } catch (e) {
          throw new StartError(`${formatPos(pg.pos)}: portal-group "${pg.name}": cannot listen on ${formatHostPort(addr.host, addr.port)}: ${sysErrorText(e, formatHostPort(addr.host, addr.port))}`, { cause: e });
        }
        this.#log.info(
          { portalGroup: pg.name, tag: pg.tag, address: formatHostPort(addr.host, listener.port), offload: pg.offload, nic: this.nicNameOf(pg), discovery: pg.discoveryAuth === 'none' },
          `listening on ${formatHostPort(addr.host, listener.port)} (portal group ${pg.name}, tag ${pg.tag}, NIC driver ${this.nicNameOf(pg)})`,
        );
      }
    }
    if (this.#listeners.length === 0) this.#log.warn({}, 'no portal listens: nothing can connect');
    // Discovery answers name the bound ports (they differ where the configuration said 0).
    this.#catalog = new DiscoveryCatalog(this.#withBoundPorts());
  }

  // ---- connections --------------------------------------------------------

  /** The configuration with each portal's port replaced by the bound one. */
  #withBoundPorts(): DaemonConfig {
    const portalGroups = new Map<string, PortalGroupConfig>();
    for (const [name, pg] of this.config.portalGroups) {
      const listen = pg.listen.map((addr) => {
        const bound = this.#listeners.find((l) => l.pg.name === pg.name && addrKey(l.addr) === addrKey(addr));
        return bound === undefined ? addr : { ...addr, port: bound.listener.port };
      });
      portalGroups.set(name, { ...pg, listen });
    }
    return { ...this.config, portalGroups };
  }

  /** Full-feature Text Requests of normal sessions (RFC 7143 Appendix C). */
  #answerSessionText(session: IscsiSession, keys: Array<[string, string]>): Array<[string, string]> {
    const pg = this.#pgByTag.get(session.target.portalGroupTag);
    const out: Array<[string, string]> = [];
    for (const [key, value] of keys) {
      if (key === 'SendTargets' && pg !== undefined) {
        for (const kv of sendTargets(value, {
          catalog: this.#catalog,
          portalGroup: pg.name,
          session: { type: 'Normal', targetName: session.target.targetName },
          localAddress: session.conn.localAddress,
        })) {
          out.push(kv);
        }
      } else if (key !== 'SendTargets') {
        out.push([key, answerOtherKey(key)]);
      }
    }
    return out;
  }

  // ---- shutdown -----------------------------------------------------------

  /** Graceful stop (see module comment). Idempotent. */
  stop(): Promise<void> {
    if (this.#stopping === null) {
      this.#stopping = (async () => {
        if (this.#state === 'new') {
          this.#state = 'stopped';
          return;
        }
        // A start in progress finishes (or fails and undoes itself) first.
        if (this.#starting !== null) await this.#starting.catch(() => {});
        if (this.#state === 'stopped') return;
        this.#state = 'stopping';
        this.#log.info({}, 'stopping');
        await this.#teardown();
        this.#state = 'stopped';
        this.#log.info({}, 'stopped');
      })();
    }
    return this.#stopping;
  }

  async #teardown(): Promise<void> {
    const log = this.#log;
    if (this.#storeTimer !== null) clearInterval(this.#storeTimer);
    this.#storeTimer = null;
    await Promise.all(this.#listeners.splice(0).map((l) => l.listener.close().catch((e: unknown) => log.warn({ err: e }, 'closing a listener failed'))));
    this.#acceptor.shutdown();
    if (this.#frontend !== null) {
      const grace = new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.#opts.stopGraceMs + 1000);
        t.unref();
      });
      await Promise.race([this.#frontend.shutdown().catch((e: unknown) => log.error({ err: e }, 'frontend shutdown failed')), grace]);
    }
    if (this.#ctl !== null) {
      const ctl = this.#ctl;
      for (const id of this.#inv.ctlLuns.values()) {
        try {
          await ctl.removeLun(id);
        } catch (e) {
          log.error({ ctlLun: id, err: e }, 'closing a LUN failed');
        }
      }
    }
    this.#inv.ctlLuns.clear();
    if (this.#pidfile !== null) {
      await this.#pidfile.release();
      this.#pidfile = null;
    }
  }

  // ---- portals --------------------------------------------------------------

  /** Listens on `addr` for `pg`; the entry's `pg` is what accepted connections use. */
  async #openPortal(pg: PortalGroupConfig, addr: ListenAddress): Promise<ListenerEntry> {
    const entry: { pg: PortalGroupConfig; host: string; addr: ListenAddress; listener: NicListener | null; nic: string } = { pg, host: addr.host, addr, listener: null, nic: this.nicNameOf(pg) };
    entry.listener = await this.#nicFor(pg).listen({ host: addr.host, port: addr.port }, (nic) => this.#acceptor.accept(entry.pg, nic));
    return entry as ListenerEntry;
  }

  async #listen(pg: PortalGroupConfig, addr: ListenAddress): Promise<NicListener> {
    const entry = await this.#openPortal(pg, addr);
    this.#listeners.push(entry);
    return entry.listener;
  }


  // ---- live reload (SIGHUP, admin CLI): reload/apply.ts --------------------

  /**
   * Applies a new configuration (already parsed and checked) by changing
   * only what differs from the running one (`reload/config-diff.ts`,
   * FreeBSD `conf_apply()`):
   * 1. prepare — everything that can fail: ICL drivers of new/changed
   *    portal groups exist, fixed `ctl-lun` ids are free, new and replaced
   *    LUNs open, new portals listen. On any failure what was prepared is
   *    closed again and `ReloadError` is thrown: the running configuration
   *    is untouched.
   * 2. commit — new LUNs are added (REPORTED LUNS DATA HAS CHANGED, by
   *    CTL), resized LUNs resized (CAPACITY DATA HAS CHANGED), LUNs whose
   *    other settings changed are removed and added again (logged so);
   *    targets/ports are added, updated in place (LUN map, alias: their
   *    sessions keep running) or removed (Async Message "target requests
   *    logout", RFC 7143 §11.9.1, then dropped after the grace period);
   *    discovery answers follow; portals no longer configured close; LUNs
   *    no target uses any more are removed once the sessions of removed
   *    targets are gone (their outstanding I/O drains first).
   * Sessions of unchanged targets are not touched. Reloads are serialized.
   */
  reload(next: DaemonConfig): Promise<ReloadReport> {
    const run = this.#reloading.then(() => applyReload(this.#host, next));
    this.#reloading = run.catch(() => {});
    return run;
  }

  // ---- administration (the admin socket): admin/operations.ts --------------

  /** The LUNs, by CTL id. */
  lunList(): AdminLunInfo[] {
    return this.#admin.lunList();
  }

  /** Cumulative I/O counters per LUN (the admin CLI's `stat` computes rates). */
  lunStats(): Array<{ name: string; ctlLun: number; stats: LunIoStats }> {
    return this.#admin.lunStats();
  }

  /** Creates a LUN at run time (ctladm create); see `AdminOperations.createLun`. */
  createLun(spec: AdminLunSpec): Promise<AdminLunInfo> {
    return this.#admin.createLun(spec);
  }

  /** Removes a LUN created with `createLun`. */
  destroyLun(ref: string): Promise<void> {
    return this.#admin.destroyLun(ref);
  }

  /** Resizes a LUN (any origin) and raises CAPACITY DATA HAS CHANGED. */
  resizeLun(ref: string, size: number, force = false): Promise<AdminLunInfo> {
    return this.#admin.resizeLun(ref, size, force);
  }

  /** Live sessions. */
  sessionList(): SessionInfo[] {
    return this.#admin.sessionList();
  }

  /** Drops a session. False for an unknown id. */
  killSession(id: number): Promise<boolean> {
    return this.#admin.killSession(id);
  }

  /** CTL ports with their portals. */
  portList(): AdminPortInfo[] {
    return this.#admin.portList();
  }
}

/** Whether `e` (or an error in its cause chain) says the LUN's storage is out of reach (`storageUnavailable: true`). */
function isStorageUnavailable(e: unknown): boolean {
  for (let c: unknown = e, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) {
    if ((c as { storageUnavailable?: unknown }).storageUnavailable === true) return true;
  }
  return false;
}
