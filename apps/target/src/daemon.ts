/**
 * `TargetDaemon`: the wiring of a running target (FreeBSD ctld's main loop
 * plus what `conf_apply()` does to the kernel), in one process.
 *
 * What it does:
 * - `start()`: opens every LUN the targets use (`lun-factory.ts`) and adds
 *   it to a `Ctl` (each LUN's backend from the plug points' backend registry, `plug-points.ts`); creates the `IscsiFrontend` and registers one CTL port
 *   per (target, portal group); registers the soft ICL driver in a private
 *   `IclRegistry` (plus any driver the embedder passes); listens on every
 *   portal of every portal group that serves a target with the NIC driver
 *   (`tcp` by default); writes the pidfile. On any failure it undoes what
 *   it did and throws (`StartError`, `LunOpenError`, `ConfigError`...).
 * - per accepted connection: `portal-accept.ts` (`PortalAcceptor`) asks the
 *   portal group's ICL driver for its limits, runs the login within the
 *   `maxproc` bound, and hands a Normal session to the frontend or serves a
 *   Discovery session; the daemon owns the listeners and passes connections on.
 * - answers SendTargets in normal sessions through the frontend's
 *   `onTextRequest` hook.
 * - `stop()`: stops accepting, cancels logins in progress, closes discovery
 *   sessions, shuts the frontend down (sessions are asked to log out, then
 *   terminated), removes the LUNs (backends flush and close), removes the
 *   pidfile. Idempotent.
 *
 * Authentication, authorization and redirection happen in the login
 * (`login/login.ts`, `auth/`); the daemon passes each connection's portal
 * group settings and the initiator's address.
 *
 * - `reload(config)`: applies a new configuration live, only what differs
 *   (see the method); the administration methods (`lunList`, `createLun`,
 *   `destroyLun`, `resizeLun`, `sessionList`, `killSession`, `portList`,
 *   `lunStats`) serve the admin socket (`admin/`). Every backend is wrapped
 *   by `lun-stats.ts` for per-LUN I/O counters.
 *
 * What it does not do: no metrics, no socket for the admin CLI
 * (`admin/admin-server.ts`), no signal handling or process exit (`main.ts`).
 */
import { Ctl } from '@iscsi-target/ctl-core';
import { IscsiFrontend, TargetState, type IscsiSession, type SessionInfo } from '@iscsi-target/ctl-frontend-iscsi';
import type { IclDriver, IclRegistry, NicDriver, NicListener } from '@iscsi-target/icl-core';
import { PlugPoints } from './plug-points.js';
import { PortalAcceptor } from './portal-accept.js';
import { formatPos } from './config/errors.js';
import { formatHostPort } from './config/listen-address.js';
import type { DaemonConfig, LunConfig, PortalGroupConfig } from './config/model.js';
import { formatSize } from './config/size.js';
import { answerOtherKey } from './discovery.js';
import { nullLogger, type Logger } from './logger.js';
import { ctlLunOptions, openLun, prStoreFor } from './lun-factory.js';
import { DAEMON_DEFAULTS, type DaemonOptions } from './options.js';
import { acquirePidfile, type Pidfile } from './pidfile.js';
import { DiscoveryCatalog, sendTargets } from './send-targets.js';
import { meterBackend, type LunIoStats, type MeteredLun } from './lun-stats.js';
import { describeGlobalChange, differingKeys, diffConfig, isEmptyDiff, targetShape, usedLuns, type ConfigDiff } from './reload/config-diff.js';
import { ReloadError, type ReloadReport } from './reload/report.js';
import type { ListenAddress } from './config/listen-address.js';
import type { TargetConfig } from './config/model.js';

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

/** A portal the daemon listens on. */
export interface BoundPortal {
  readonly portalGroup: string;
  readonly tag: number;
  /** As configured. */
  readonly host: string;
  /** The bound port (differs from the configured one when that was 0). */
  readonly port: number;
}

/** A listening portal: the portal group is replaced in place when a reload changes it. */
interface ListenerEntry {
  pg: PortalGroupConfig;
  readonly host: string;
  /** The address as configured (port 0 = ephemeral). */
  readonly addr: ListenAddress;
  readonly listener: NicListener;
  /** The registered name of the NIC driver that listens. */
  readonly nic: string;
}

function addrKey(a: ListenAddress): string {
  return formatHostPort(a.host, a.port);
}

export class TargetDaemon {
  #config: DaemonConfig;
  readonly #log: Logger;
  readonly #opts: Required<Pick<DaemonOptions, 'noCopy' | 'maxLoginTextLength' | 'maxQueuedLogins' | 'stopGraceMs' | 'authFailureDelayMs'>> & TargetDaemonOptions;
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
  readonly #ctlLuns = new Map<string, number>();
  /** LUN name → its configuration and (metered) backend; see the reload/admin section. */
  readonly #lunState = new Map<string, { config: LunConfig; be: MeteredLun }>();
  /** LUNs mapped to targets by the admin CLI (target name folded → LUN number → LUN name). */
  readonly #adminMaps = new Map<string, Map<number, string>>();
  #reloading: Promise<unknown> = Promise.resolve();
  #pidfile: Pidfile | null = null;

  readonly #acceptor: PortalAcceptor;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  constructor(config: DaemonConfig, options: TargetDaemonOptions = {}) {
    this.#config = config;
    this.#log = options.logger ?? nullLogger;
    this.#opts = { ...DAEMON_DEFAULTS, ...options };
    this.#plug = options.plugPoints ?? PlugPoints.create();
    this.#registry = this.#plug.icl;
    this.#catalog = new DiscoveryCatalog(config);
    for (const pg of config.portalGroups.values()) this.#pgByTag.set(pg.tag, pg);
    for (const d of options.iclDrivers ?? []) this.#registry.register(d);
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
    if (why !== null) throw new Error(`${formatPos(pg.pos)}: portal-group "${pg.name}": NIC driver "${d.name}" is not available: ${why}`);
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
      return this.#plug.nic.find(pg.nic ?? this.#opts.defaultNic).name;
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
    for (const lun of used.values()) {
      const be = meterBackend(await openLun(lun, { copyMode: !this.#opts.noCopy, backends: this.#plug.backends }));
      let id: number;
      try {
        const prStore = prStoreFor(lun);
        id = ctl.addLun(be, lun.ctlLun ?? undefined, { ...ctlLunOptions(lun), ...(prStore ? { prStore } : {}) });
      } catch (e) {
        await be.shutdown();
        throw new StartError(`lun "${lun.name}": ${(e as Error).message}`);
      }
      this.#ctlLuns.set(lun.name, id);
      this.#lunState.set(lun.name, { config: lun, be });
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
      for (const [n, l] of t.luns) lunMap.set(n, this.#ctlLuns.get(l.name)!);
      for (const ref of t.portalGroups) {
        const pg = config.portalGroups.get(ref.portalGroup)!;
        const tc: Parameters<IscsiFrontend['addTarget']>[0] = { name: t.name, portalGroupTag: pg.tag, lunMap };
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
          throw new StartError(`${formatPos(pg.pos)}: portal-group "${pg.name}": cannot listen on ${formatHostPort(addr.host, addr.port)}: ${(e as Error).message}`, { cause: e });
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
      for (const id of this.#ctlLuns.values()) {
        try {
          await ctl.removeLun(id);
        } catch (e) {
          log.error({ ctlLun: id, err: e }, 'closing a LUN failed');
        }
      }
    }
    this.#ctlLuns.clear();
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

  // ---- live reload (SIGHUP, admin CLI) ------------------------------------

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
    const run = this.#reloading.then(() => this.#reload(next));
    this.#reloading = run.catch(() => {});
    return run;
  }

  async #reload(next: DaemonConfig): Promise<ReloadReport> {
    if (this.#state !== 'running') throw new ReloadError(`cannot reload: the daemon is ${this.#state}`);
    const diff = diffConfig(this.#config, next);
    if (isEmptyDiff(diff)) {
      // Same content (positions may differ): keep the new one for its positions.
      this.#config = next;
      this.#pgByTag.clear();
      for (const pg of next.portalGroups.values()) this.#pgByTag.set(pg.tag, pg);
      for (const e of this.#listeners) e.pg = next.portalGroups.get(e.pg.name) ?? e.pg;
      this.#catalog = new DiscoveryCatalog(this.#withBoundPorts());
      return { source: next.source, changed: false, actions: [], errors: [], deferred: [] };
    }
    const { opened, newListeners } = await this.#prepareReload(next, diff);
    return this.#commitReload(next, diff, opened, newListeners);
  }

  async #prepareReload(next: DaemonConfig, diff: ConfigDiff): Promise<{ opened: Map<string, MeteredLun>; newListeners: ListenerEntry[] }> {
    for (const pg of [...diff.portalGroups.added, ...diff.portalGroups.changed.map((c) => c.new)]) {
      if (pg.listen.length === 0) continue;
      try {
        this.#registry.find(pg.offload);
      } catch {
        throw new ReloadError(`${formatPos(pg.pos)}: portal-group "${pg.name}": ICL driver "${pg.offload}" is not available (known: ${this.#registry.names().join(', ')})`);
      }
      try {
        this.#nicFor(pg);
      } catch (e) {
        throw new ReloadError((e as Error).message, { cause: e });
      }
    }
    const replaced = diff.luns.changed.filter((c) => c.kind === 'replace');
    const toOpen = [...diff.luns.added, ...replaced.map((c) => c.new)];
    const leaving = new Set([...diff.luns.removed, ...replaced.map((c) => c.old)].map((l) => this.#ctlLuns.get(l.name)));
    const taken = new Set([...this.#ctlLuns.values()].filter((id) => !leaving.has(id)));
    for (const l of toOpen) {
      if (l.ctlLun === null) continue;
      if (taken.has(l.ctlLun)) throw new ReloadError(`${formatPos(l.pos)}: lun "${l.name}": ctl-lun ${l.ctlLun} is in use by another LUN`);
      taken.add(l.ctlLun);
    }
    const opened = new Map<string, MeteredLun>();
    const newListeners: ListenerEntry[] = [];
    try {
      for (const l of toOpen) opened.set(l.name, meterBackend(await openLun(l, { copyMode: !this.#opts.noCopy, backends: this.#plug.backends })));
      for (const pg of next.portalGroups.values()) {
        for (const addr of pg.listen) {
          if (this.#listeners.some((e) => e.pg.name === pg.name && addrKey(e.addr) === addrKey(addr))) continue;
          try {
            newListeners.push(await this.#openPortal(pg, addr));
          } catch (e) {
            throw new ReloadError(`${formatPos(pg.pos)}: portal-group "${pg.name}": cannot listen on ${addrKey(addr)}: ${(e as Error).message}`, { cause: e });
          }
        }
      }
    } catch (e) {
      await Promise.all(newListeners.map((l) => l.listener.close().catch(() => {})));
      await Promise.all([...opened.values()].map((be) => be.shutdown().catch(() => {})));
      if (e instanceof ReloadError) throw e;
      throw new ReloadError((e as Error).message, { cause: e });
    }
    return { opened, newListeners };
  }

  async #commitReload(next: DaemonConfig, diff: ConfigDiff, opened: Map<string, MeteredLun>, newListeners: ListenerEntry[]): Promise<ReloadReport> {
    const log = this.#log;
    const ctl = this.#ctl!;
    const frontend = this.#frontend!;
    const actions: string[] = [];
    const errors: string[] = [];
    const deferred: string[] = [];
    const act = (obj: Record<string, unknown>, msg: string): void => {
      actions.push(msg);
      log.info({ reload: true, ...obj }, msg);
    };
    const fail = (obj: Record<string, unknown>, msg: string): void => {
      errors.push(msg);
      log.error({ reload: true, ...obj }, msg);
    };

    for (const g of diff.globals) {
      if (g.key === 'pidfile' || g.key === 'debug') {
        deferred.push(`${g.key} ${JSON.stringify(g.old)} → ${JSON.stringify(g.new)}: takes effect at the next start`);
        log.warn({ reload: true, key: g.key }, `reload: "${g.key}" changed; it takes effect at the next start`);
      } else {
        act({ key: g.key }, describeGlobalChange(g.key, g.old, g.new));
      }
    }

    this.#config = next;
    this.#pgByTag.clear();
    for (const pg of next.portalGroups.values()) this.#pgByTag.set(pg.tag, pg);
    for (const e of this.#listeners) {
      const pg = next.portalGroups.get(e.pg.name);
      if (pg === undefined) continue;
      const nic = this.nicNameOf(pg);
      if (nic.toLowerCase() !== e.nic.toLowerCase()) {
        // The new driver cannot listen on the address while the old one does: like pidfile, at the next start.
        deferred.push(`portal-group "${pg.name}": nic ${e.nic} → ${nic} on ${formatHostPort(e.host, e.listener.port)}: takes effect at the next start`);
        log.warn({ reload: true, portalGroup: pg.name }, `reload: the NIC driver of portal group "${pg.name}" changed (${e.nic} → ${nic}); ${formatHostPort(e.host, e.listener.port)} keeps ${e.nic} until the next start`);
      }
      e.pg = pg;
    }
    for (const e of newListeners) {
      this.#listeners.push(e);
      act({ portalGroup: e.pg.name, tag: e.pg.tag, address: formatHostPort(e.host, e.listener.port) }, `listening on ${formatHostPort(e.host, e.listener.port)} (portal group ${e.pg.name}, tag ${e.pg.tag})`);
    }

    // LUNs: added, replaced (remove + add), resized.
    const retire: number[] = [];
    const addCtl = (l: LunConfig, be: MeteredLun): boolean => {
      try {
        // Inventory unit attentions go only to the ports whose map changes (below).
        const prStore = prStoreFor(l);
        const id = ctl.addLun(be, l.ctlLun ?? undefined, { ...ctlLunOptions(l), ...(prStore ? { prStore } : {}), inventoryUa: false });
        this.#ctlLuns.set(l.name, id);
        this.#lunState.set(l.name, { config: l, be });
        return true;
      } catch (e) {
        void be.shutdown().catch(() => {});
        fail({ lun: l.name }, `lun "${l.name}": cannot add: ${(e as Error).message}`);
        return false;
      }
    };
    for (const l of diff.luns.added) {
      if (addCtl(l, opened.get(l.name)!)) act({ lun: l.name, ctlLun: this.#ctlLuns.get(l.name) }, `lun "${l.name}": added (CTL LUN ${this.#ctlLuns.get(l.name)})`);
    }
    for (const c of diff.luns.changed) {
      const name = c.old.name;
      const oldId = this.#ctlLuns.get(name);
      if (c.kind === 'replace') {
        if (oldId !== undefined) {
          if (c.new.ctlLun !== null && c.new.ctlLun === oldId) {
            // The same fixed id: the old LUN must be gone (drained) first.
            await ctl.removeLun(oldId, { inventoryUa: false }).catch((e: unknown) => fail({ lun: name }, `lun "${name}": removing the old LUN failed: ${(e as Error).message}`));
          } else {
            retire.push(oldId);
          }
          this.#ctlLuns.delete(name);
          this.#lunState.delete(name);
        }
        if (addCtl(c.new, opened.get(name)!)) {
          act(
            { lun: name, fields: c.fields, ctlLun: this.#ctlLuns.get(name) },
            `lun "${name}": ${c.fields.join(', ')} changed, which cannot be applied live: removed and added again (CTL LUN ${this.#ctlLuns.get(name)})`,
          );
        }
        continue;
      }
      const st = this.#lunState.get(name);
      if (st === undefined || oldId === undefined) continue;
      try {
        await resizeBackend(st.be, c.new.size!);
        ctl.lunCapacityChanged(oldId);
        st.config = c.new;
        act({ lun: name, ctlLun: oldId, oldSize: c.old.size, size: c.new.size }, `lun "${name}": resized ${formatSize(c.old.size!)} → ${formatSize(c.new.size!)}`);
      } catch (e) {
        fail({ lun: name, err: e }, `lun "${name}": resize to ${formatSize(c.new.size!)} failed: ${(e as Error).message}`);
      }
    }
    for (const l of usedLuns(next).values()) {
      const st = this.#lunState.get(l.name);
      if (st !== undefined && opened.get(l.name) !== st.be && diff.luns.changed.every((c) => c.old.name !== l.name)) st.config = l;
    }

    // Targets (one CTL port per target and portal group tag).
    const key = (name: string, tag: number): string => `${name.toLowerCase()}\0${tag}`;
    const desired = new Map<string, { t: TargetConfig; tag: number }>();
    for (const t of next.targets) {
      for (const ref of t.portalGroups) {
        const pg = next.portalGroups.get(ref.portalGroup);
        if (pg !== undefined) desired.set(key(t.name, pg.tag), { t, tag: pg.tag });
      }
    }
    const removals: Array<Promise<void>> = [];
    const graceS = this.#opts.stopGraceMs / 1000;
    for (const port of frontend.targets()) {
      if (port.state !== TargetState.Active || desired.has(key(port.targetName, port.portalGroupTag))) continue;
      const sessions = frontend.sessions().filter((s) => s.targetName === port.targetName && s.portalGroupTag === port.portalGroupTag && s.state === 'active').length;
      act(
        { target: port.targetName, tag: port.portalGroupTag, sessions },
        `target ${port.targetName} (tag ${port.portalGroupTag}): removed; ${sessions} session(s) asked to log out within ${graceS} s`,
      );
      removals.push(
        frontend.removeTarget(port.targetName, port.portalGroupTag).catch((e: unknown) => fail({ target: port.targetName }, `target ${port.targetName}: removal failed: ${(e as Error).message}`)),
      );
    }
    for (const { t, tag } of desired.values()) {
      const lunMap = this.#lunMapOf(t);
      const port = frontend.target(t.name, tag);
      if (port === undefined || port.state !== TargetState.Active) {
        try {
          const tc: Parameters<IscsiFrontend['addTarget']>[0] = { name: t.name, portalGroupTag: tag, lunMap };
          if (t.alias !== null) tc.alias = t.alias;
          frontend.addTarget(tc);
          act({ target: t.name, tag, luns: [...lunMap.keys()] }, `target ${t.name} (tag ${tag}): added`);
        } catch (e) {
          fail({ target: t.name, tag }, `target ${t.name} (tag ${tag}): cannot add: ${(e as Error).message}`);
        }
        continue;
      }
      const changes: { alias?: string; lunMap?: ReadonlyMap<number, number> } = {};
      if (!sameLunMap(port.lunMap, lunMap)) changes.lunMap = lunMap;
      if (t.alias !== null && t.alias !== port.alias) changes.alias = t.alias;
      if (changes.lunMap !== undefined || changes.alias !== undefined) {
        frontend.updateTarget(t.name, tag, changes);
        // REPORTED LUNS DATA HAS CHANGED for this target's initiators only.
        if (changes.lunMap !== undefined) ctl.lunInventoryChanged(port.portNumber);
        act({ target: t.name, tag, luns: [...lunMap.keys()] }, `target ${t.name} (tag ${tag}): ${[changes.lunMap !== undefined ? 'LUN map' : '', changes.alias !== undefined ? 'alias' : ''].filter((x) => x !== '').join(' and ')} updated`);
      }
    }
    for (const c of diff.targets.changed) {
      // Login-time settings (auth, ...) take effect through the catalog, for new logins.
      const fields = differingKeys(targetShape(c.old), targetShape(c.new)).filter((k) => k !== 'luns' && k !== 'portalGroups' && k !== 'alias');
      if (fields.length > 0) act({ target: c.new.name, fields }, `target ${c.new.name}: ${fields.join(', ')} changed (applies to new logins; running sessions continue)`);
    }

    // Portals no longer configured stop accepting (their sessions are not affected).
    for (const e of [...this.#listeners]) {
      const pg = next.portalGroups.get(e.pg.name);
      if (pg !== undefined && pg.listen.some((a) => addrKey(a) === addrKey(e.addr))) continue;
      this.#listeners.splice(this.#listeners.indexOf(e), 1);
      await e.listener.close().catch((err: unknown) => log.warn({ err }, 'closing a listener failed'));
      act({ portalGroup: e.pg.name, address: formatHostPort(e.host, e.listener.port) }, `stopped listening on ${formatHostPort(e.host, e.listener.port)} (portal group ${e.pg.name})`);
    }
    this.#catalog = new DiscoveryCatalog(this.#withBoundPorts());

    // LUNs nobody uses any more go once the removed targets' sessions are gone.
    await Promise.all(removals);
    for (const l of diff.luns.removed) {
      const id = this.#ctlLuns.get(l.name);
      if (id === undefined) continue;
      this.#ctlLuns.delete(l.name);
      this.#lunState.delete(l.name);
      try {
        await ctl.removeLun(id, { inventoryUa: false });
        act({ lun: l.name, ctlLun: id }, `lun "${l.name}": removed (CTL LUN ${id})`);
      } catch (e) {
        fail({ lun: l.name }, `lun "${l.name}": removal failed: ${(e as Error).message}`);
      }
    }
    for (const id of retire) await ctl.removeLun(id, { inventoryUa: false }).catch((e: unknown) => fail({ ctlLun: id }, `CTL LUN ${id}: removal failed: ${(e as Error).message}`));
    for (const w of next.warnings) log.warn({ reload: true }, w);
    return { source: next.source, changed: true, actions, errors, deferred };
  }

  /** Target LUN number → CTL LUN id: the configuration's LUNs, then the admin CLI's. */
  #lunMapOf(t: TargetConfig): Map<number, number> {
    const m = new Map<number, number>();
    for (const [n, l] of t.luns) {
      const id = this.#ctlLuns.get(l.name);
      if (id !== undefined) m.set(n, id);
    }
    for (const [n, name] of this.#adminMaps.get(t.name.toLowerCase()) ?? []) {
      const id = this.#ctlLuns.get(name);
      if (id !== undefined && !m.has(n)) m.set(n, id);
    }
    return m;
  }

  // ---- administration (the admin socket, admin/*.ts) ----------------------

  /** The LUNs, by CTL id. */
  lunList(): AdminLunInfo[] {
    const out: AdminLunInfo[] = [];
    for (const [name, id] of this.#ctlLuns) {
      const st = this.#lunState.get(name);
      if (st === undefined) continue;
      const be = st.be;
      const mappings: Array<{ target: string; lun: number }> = [];
      for (const port of this.#frontend?.targets() ?? []) {
        if (port.state !== TargetState.Active) continue;
        for (const [n, cid] of port.lunMap ?? []) {
          if (cid === id && !mappings.some((m) => m.target === port.targetName && m.lun === n)) mappings.push({ target: port.targetName, lun: n });
        }
      }
      out.push({
        name,
        ctlLun: id,
        backend: st.config.backend,
        path: st.config.path,
        size: be.numBlocks * be.blockSize,
        blockSize: be.blockSize,
        readOnly: be.readOnly,
        serial: be.serialNumber,
        origin: this.#isAdminLun(name) ? 'admin' : 'config',
        mappings,
      });
    }
    return out.sort((a, b) => a.ctlLun - b.ctlLun);
  }

  /** Cumulative I/O counters per LUN (the admin CLI's `stat` computes rates). */
  lunStats(): Array<{ name: string; ctlLun: number; stats: LunIoStats }> {
    const out: Array<{ name: string; ctlLun: number; stats: LunIoStats }> = [];
    for (const [name, id] of this.#ctlLuns) {
      const st = this.#lunState.get(name);
      if (st !== undefined) out.push({ name, ctlLun: id, stats: { ...st.be.stats } });
    }
    return out.sort((a, b) => a.ctlLun - b.ctlLun);
  }

  #isAdminLun(name: string): boolean {
    return !usedLuns(this.#config).has(name);
  }

  /** The LUN named `ref`, or with CTL id `ref`. */
  #findLun(ref: string): { name: string; id: number } {
    const byName = this.#ctlLuns.get(ref);
    if (byName !== undefined) return { name: ref, id: byName };
    if (/^\d+$/.test(ref)) {
      for (const [name, id] of this.#ctlLuns) if (id === Number(ref)) return { name, id };
    }
    throw new AdminError(`no LUN "${ref}"`);
  }

  /**
   * Creates a LUN at run time (ctladm create): a RAM disk or a file (created
   * sparse if missing), optionally mapped to a target as LUN `lun`. It is not
   * written to the configuration file: a restart forgets it.
   */
  async createLun(spec: AdminLunSpec): Promise<AdminLunInfo> {
    if (this.#state !== 'running') throw new AdminError(`the daemon is ${this.#state}`);
    const ctl = this.#ctl!;
    const name = spec.name ?? `admin${this.#nextAdminLun++}`;
    if (this.#ctlLuns.has(name) || this.#config.luns.has(name)) throw new AdminError(`a LUN named "${name}" exists`);
    let desc;
    try {
      desc = this.#plug.backends.find(spec.backend);
    } catch (e) {
      throw new AdminError((e as Error).message);
    }
    if (desc.needsSize && (spec.size === undefined || spec.size <= 0)) throw new AdminError(`a ${desc.name} LUN needs a size`);
    if (desc.needsPath && (spec.path === undefined || spec.path === '')) throw new AdminError(`a ${desc.name === 'block' ? 'file' : desc.name} LUN needs a path`);
    let target: TargetConfig | undefined;
    if (spec.target !== undefined) {
      target = this.#config.targets.find((t) => t.name.toLowerCase() === spec.target!.toLowerCase());
      if (target === undefined) throw new AdminError(`no target "${spec.target}"`);
      const n = spec.lun ?? 0;
      if (!Number.isInteger(n) || n < 0 || n > 1023) throw new AdminError(`LUN number ${n} is not in 0..1023`);
      if (this.#lunMapOf(target).has(n)) throw new AdminError(`target ${target.name} already has a LUN ${n}`);
    }
    const config: LunConfig = {
      name,
      backend: desc.name,
      path: desc.needsPath ? spec.path! : null,
      pathIsFile: desc.needsPath && desc.pathIsName !== true,
      size: spec.size ?? null,
      blockSize: spec.blockSize ?? 512,
      serial: null,
      deviceId: null,
      ctlLun: spec.ctlLun ?? null,
      options: new Map([
        ...(spec.readOnly === true ? ([['readonly', 'on']] as const) : []),
        ...(spec.removable === true ? ([['removable', 'on']] as const) : []),
      ]),
      create: true,
      pos: { file: '<admin>', line: 0, col: 0 },
    };
    let be: MeteredLun;
    try {
      be = meterBackend(await openLun(config, { copyMode: !this.#opts.noCopy, backends: this.#plug.backends }));
    } catch (e) {
      throw new AdminError((e as Error).message);
    }
    let id: number;
    try {
      const prStore = prStoreFor(config);
      id = ctl.addLun(be, config.ctlLun ?? undefined, { ...ctlLunOptions(config), ...(prStore ? { prStore } : {}), inventoryUa: false });
    } catch (e) {
      await be.shutdown().catch(() => {});
      throw new AdminError(`cannot add the LUN: ${(e as Error).message}`);
    }
    this.#ctlLuns.set(name, id);
    this.#lunState.set(name, { config, be });
    if (target !== undefined) {
      const k = target.name.toLowerCase();
      const m = this.#adminMaps.get(k) ?? new Map<number, string>();
      m.set(spec.lun ?? 0, name);
      this.#adminMaps.set(k, m);
      this.#refreshLunMaps(target);
    }
    this.#log.info({ admin: true, lun: name, ctlLun: id, backend: config.backend, size: be.numBlocks * be.blockSize, target: target?.name }, `admin: lun "${name}" created (CTL LUN ${id})`);
    return this.lunList().find((l) => l.name === name)!;
  }

  /** Removes a LUN created with `createLun` (outstanding I/O drains first). */
  async destroyLun(ref: string): Promise<void> {
    const { name, id } = this.#findLun(ref);
    if (!this.#isAdminLun(name)) {
      throw new AdminError(`lun "${name}" is defined in the configuration file: remove it there and reload`);
    }
    this.#ctlLuns.delete(name);
    this.#lunState.delete(name);
    for (const [k, m] of this.#adminMaps) {
      for (const [n, lname] of m) if (lname === name) m.delete(n);
      const t = this.#config.targets.find((x) => x.name.toLowerCase() === k);
      if (t !== undefined) this.#refreshLunMaps(t);
    }
    await this.#ctl!.removeLun(id, { inventoryUa: false });
    this.#log.info({ admin: true, lun: name, ctlLun: id }, `admin: lun "${name}" removed`);
  }

  /** Resizes a LUN (any origin) and raises CAPACITY DATA HAS CHANGED. */
  async resizeLun(ref: string, size: number): Promise<AdminLunInfo> {
    const { name, id } = this.#findLun(ref);
    const st = this.#lunState.get(name)!;
    try {
      await resizeBackend(st.be, size);
    } catch (e) {
      throw new AdminError(`lun "${name}": ${(e as Error).message}`);
    }
    this.#ctl!.lunCapacityChanged(id);
    this.#log.info({ admin: true, lun: name, ctlLun: id, size }, `admin: lun "${name}" resized to ${formatSize(size)}`);
    return this.lunList().find((l) => l.name === name)!;
  }

  #refreshLunMaps(t: TargetConfig): void {
    const frontend = this.#frontend!;
    const lunMap = this.#lunMapOf(t);
    for (const port of frontend.targets()) {
      if (port.state !== TargetState.Active || port.targetName.toLowerCase() !== t.name.toLowerCase()) continue;
      if (sameLunMap(port.lunMap, lunMap)) continue;
      frontend.updateTarget(port.targetName, port.portalGroupTag, { lunMap });
      this.#ctl!.lunInventoryChanged(port.portNumber);
    }
  }

  /** Live sessions (initiator, address, target, ISID/TSIH, negotiated parameters). */
  sessionList(): SessionInfo[] {
    return this.#frontend?.sessions() ?? [];
  }

  /** Drops a session (Async Message "session will be dropped"). False for an unknown id. */
  async killSession(id: number): Promise<boolean> {
    const frontend = this.#frontend;
    if (frontend === null) return false;
    const ok = await frontend.terminateSession(id);
    if (ok) this.#log.info({ admin: true, session: id }, `admin: session ${id} terminated`);
    return ok;
  }

  /** CTL ports (one per target and portal group) with their portals. */
  portList(): AdminPortInfo[] {
    const portals = this.portals();
    return (this.#frontend?.targets() ?? []).map((p) => {
      const pg = this.#pgByTag.get(p.portalGroupTag);
      return {
        portNumber: p.portNumber,
        name: p.name,
        target: p.targetName,
        alias: p.alias ?? null,
        portalGroup: pg?.name ?? null,
        tag: p.portalGroupTag,
        state: p.state,
        portals: portals.filter((x) => x.tag === p.portalGroupTag).map((x) => formatHostPort(x.host, x.port)),
        luns: [...(p.lunMap ?? [])].map(([lun, ctlLun]) => ({ lun, ctlLun })),
        sessions: this.sessionList().filter((s) => s.targetName === p.targetName && s.portalGroupTag === p.portalGroupTag).length,
      };
    });
  }

  #nextAdminLun = 0;
}

/** Resizes a backend that can (`resize(bytes)`, ctl-block's file and RAM disk backends). */
async function resizeBackend(be: MeteredLun, size: number): Promise<void> {
  const resize = (be as unknown as { resize?: (bytes: number) => Promise<number> }).resize;
  if (typeof resize !== 'function') throw new ReloadError('this backend cannot be resized');
  await resize(size);
}

function sameLunMap(a: ReadonlyMap<number, number> | null, b: ReadonlyMap<number, number>): boolean {
  if (a === null || a.size !== b.size) return false;
  for (const [k, v] of b) if (a.get(k) !== v) return false;
  return true;
}

export class AdminError extends Error {
  override readonly name = 'AdminError';
  readonly code = 'TARGET_ERR_ADMIN';
}

/** What `createLun` takes. */
export interface AdminLunSpec {
  name?: string;
  /** A registered backend name (`block`, `ramdisk`, ...). */
  backend: string;
  path?: string;
  /** Bytes (a multiple of the block size). */
  size?: number;
  blockSize?: number;
  ctlLun?: number;
  readOnly?: boolean;
  /** A removable medium (RMB = 1; PREVENT ALLOW MEDIUM REMOVAL, eject and load). */
  removable?: boolean;
  /** Map it to this target (its every portal group) as LUN `lun` (default 0). */
  target?: string;
  lun?: number;
}

export interface AdminLunInfo {
  name: string;
  ctlLun: number;
  backend: string;
  path: string | null;
  size: number;
  blockSize: number;
  readOnly: boolean;
  serial: string;
  /** `config`: from the file; `admin`: created by the admin CLI (not persisted). */
  origin: 'config' | 'admin';
  mappings: Array<{ target: string; lun: number }>;
}

export interface AdminPortInfo {
  portNumber: number;
  name: string;
  target: string;
  alias: string | null;
  portalGroup: string | null;
  tag: number;
  state: string;
  portals: string[];
  luns: Array<{ lun: number; ctlLun: number }>;
  sessions: number;
}
