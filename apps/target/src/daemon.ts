/**
 * `TargetDaemon`: the wiring of a running target (FreeBSD ctld's main loop
 * plus what `conf_apply()` does to the kernel), in one process.
 *
 * What it does:
 * - `start()`: opens every LUN the targets use (`lun-factory.ts`) and adds
 *   it to a `Ctl`; creates the `IscsiFrontend` and registers one CTL port
 *   per (target, portal group); registers the soft ICL driver in a private
 *   `IclRegistry` (plus any driver the embedder passes); listens on every
 *   portal of every portal group that serves a target with the NIC driver
 *   (`tcp` by default); writes the pidfile. On any failure it undoes what
 *   it did and throws (`StartError`, `LunOpenError`, `ConfigError`...).
 * - per accepted connection: asks the portal group's ICL driver for its
 *   limits on this connection (`registry.limits(offload, nic)`, FreeBSD
 *   `kernel_limits()`), creates the ICL connection, guards its handlers
 *   (`session-guard.ts`), runs the login; then hands a Normal session to
 *   the frontend (`frontend.handoff(conn, HandoffParams)`) or serves a
 *   Discovery session itself (`discovery.ts`). At most `maxproc` logins
 *   and discovery sessions run at once (ctld's `maxproc`); more
 *   connections wait in a bounded queue (beyond it they are closed). TSIHs
 *   are unique among live sessions and released when a session ends.
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
 * What it does not do: no reload (SIGHUP, a later issue), no admin socket
 * or metrics, no signal handling or process exit (`main.ts`).
 */
import { Ctl, type AddLunOptions } from '@iscsi-target/ctl-core';
import { IscsiFrontend, type HandoffParams, type IscsiSession } from '@iscsi-target/ctl-frontend-iscsi';
import { IclRegistry, type IclConn, type IclDriver, type NicConn, type NicDriver, type NicListener } from '@iscsi-target/icl-core';
import { tcpNicDriver } from '@iscsi-target/icl-offload-kpi';
import { registerSoftDriver } from '@iscsi-target/icl-soft';
import { formatPos } from './config/errors.js';
import { formatHostPort } from './config/listen-address.js';
import type { DaemonConfig, LunConfig, PortalGroupConfig } from './config/model.js';
import { formatSize } from './config/size.js';
import { answerOtherKey, DiscoverySession } from './discovery.js';
import { nullLogger, type Logger } from './logger.js';
import { LoginSession, type LoginResult, type LoginTarget } from './login/login.js';
import { openLun, prStoreFor } from './lun-factory.js';
import type { NegotiationPolicy } from './login/negotiate.js';
import { DAEMON_DEFAULTS, negotiationPolicy, type DaemonOptions } from './options.js';
import { acquirePidfile, type Pidfile } from './pidfile.js';
import { DiscoveryCatalog, sendTargets } from './send-targets.js';
import { guardConnection } from './session-guard.js';
import { TsihTable } from './tsih-table.js';

export class StartError extends Error {
  override readonly name = 'StartError';
  readonly code = 'TARGET_ERR_START';
}

export interface TargetDaemonOptions extends DaemonOptions {
  logger?: Logger;
  /** NIC driver for the portals (default: `tcp`). */
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

/** A connection waiting for a login slot. */
interface QueuedConn {
  readonly pg: PortalGroupConfig;
  readonly nic: NicConn;
  timer: NodeJS.Timeout | null;
}

export class TargetDaemon {
  readonly config: DaemonConfig;
  readonly #log: Logger;
  readonly #opts: Required<Pick<DaemonOptions, 'noCopy' | 'maxLoginTextLength' | 'maxQueuedLogins' | 'stopGraceMs' | 'authFailureDelayMs'>> & DaemonOptions;
  readonly #nicDriver: NicDriver;
  readonly #registry = new IclRegistry();
  readonly #tsih = new TsihTable();
  #catalog: DiscoveryCatalog;
  /** Portal group tag → portal group. */
  readonly #pgByTag = new Map<number, PortalGroupConfig>();

  #ctl: Ctl | null = null;
  #frontend: IscsiFrontend | null = null;
  readonly #listeners: Array<{ pg: PortalGroupConfig; host: string; listener: NicListener }> = [];
  readonly #ctlLuns = new Map<string, number>();
  #pidfile: Pidfile | null = null;

  readonly #logins = new Set<LoginSession>();
  readonly #discoveries = new Set<DiscoverySession>();
  readonly #queue: QueuedConn[] = [];
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  constructor(config: DaemonConfig, options: TargetDaemonOptions = {}) {
    this.config = config;
    this.#log = options.logger ?? nullLogger;
    this.#opts = { ...DAEMON_DEFAULTS, ...options };
    this.#nicDriver = options.nicDriver ?? tcpNicDriver;
    this.#catalog = new DiscoveryCatalog(config);
    for (const pg of config.portalGroups.values()) this.#pgByTag.set(pg.tag, pg);
    registerSoftDriver(this.#registry);
    for (const d of options.iclDrivers ?? []) this.#registry.register(d);
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

  /** Logins and discovery sessions in progress (bounded by `maxproc`). */
  get activeLogins(): number {
    return this.#logins.size + this.#discoveries.size;
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
    }

    const ctl = new Ctl();
    this.#ctl = ctl;
    const used = new Map<string, LunConfig>();
    for (const t of config.targets) for (const l of t.luns.values()) used.set(l.name, l);
    for (const lun of used.values()) {
      const be = await openLun(lun, { copyMode: !this.#opts.noCopy });
      let id: number;
      try {
        const prStore = await prStoreFor(lun);
        const lunOptions: AddLunOptions = prStore ? { prStore } : {};
        // ctl.conf `option removable on` (FreeBSD CTL_LUN_REMOVABLE): a CTL LUN option.
        if (lun.options.get('removable') === 'on') lunOptions.removable = true;
        id = ctl.addLun(be, lun.ctlLun ?? undefined, lunOptions);
      } catch (e) {
        await be.shutdown();
        throw new StartError(`lun "${lun.name}": ${(e as Error).message}`);
      }
      this.#ctlLuns.set(lun.name, id);
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
        `LUN ${lun.backend === 'block' ? lun.path! : 'ramdisk'}: ${formatSize(be.numBlocks * be.blockSize)}, ${be.blockSize}-byte blocks${be.readOnly ? ', read-only' : ''}`,
      );
    }

    const frontend = new IscsiFrontend(ctl, {
      logger: this.#log,
      noCopy: this.#opts.noCopy,
      logoutGraceMs: this.#opts.stopGraceMs,
      onTextRequest: (session, keys) => this.#answerSessionText(session, keys),
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
          listener = await this.#nicDriver.listen({ host: addr.host, port: addr.port }, (nic) => this.#accept(pg, nic));
        } catch (e) {
          throw new StartError(`${formatPos(pg.pos)}: portal-group "${pg.name}": cannot listen on ${formatHostPort(addr.host, addr.port)}: ${(e as Error).message}`, { cause: e });
        }
        this.#listeners.push({ pg, host: addr.host, listener });
        this.#log.info(
          { portalGroup: pg.name, tag: pg.tag, address: formatHostPort(addr.host, listener.port), offload: pg.offload, discovery: pg.discoveryAuth === 'none' },
          `listening on ${formatHostPort(addr.host, listener.port)} (portal group ${pg.name}, tag ${pg.tag})`,
        );
      }
    }
    if (this.#listeners.length === 0) this.#log.warn({}, 'no portal listens: nothing can connect');
    // Discovery answers name the bound ports (they differ where the configuration said 0).
    this.#catalog = new DiscoveryCatalog(this.#withBoundPorts());
  }

  // ---- connections --------------------------------------------------------

  #accept(pg: PortalGroupConfig, nic: NicConn): void {
    const peer = formatHostPort(nic.remoteAddress, nic.remotePort);
    // 'starting': the first portals may accept while later ones are still being opened.
    if (this.#state !== 'running' && this.#state !== 'starting') {
      nic.destroy();
      return;
    }
    if (this.activeLogins < this.config.maxproc) {
      this.#startLogin(pg, nic);
      return;
    }
    if (this.#queue.length >= this.#opts.maxQueuedLogins) {
      this.#log.warn({ peer, maxproc: this.config.maxproc }, 'too many logins in progress; closing the connection');
      nic.destroy();
      return;
    }
    // The login timeout also bounds the time spent waiting for a slot.
    const queued: QueuedConn = { pg, nic, timer: null };
    if (this.config.timeout > 0) {
      queued.timer = setTimeout(() => {
        const i = this.#queue.indexOf(queued);
        if (i !== -1) this.#queue.splice(i, 1);
        this.#log.info({ peer }, 'connection waited too long for a login slot; closing');
        nic.destroy();
      }, this.config.timeout * 1000);
      queued.timer.unref();
    }
    this.#queue.push(queued);
    this.#log.debug({ peer, queued: this.#queue.length }, 'connection queued for a login slot');
  }

  /** Starts the next queued login if a slot is free. */
  #dequeue(): void {
    while ((this.#state === 'running' || this.#state === 'starting') && this.activeLogins < this.config.maxproc && this.#queue.length > 0) {
      const q = this.#queue.shift()!;
      if (q.timer !== null) clearTimeout(q.timer);
      this.#startLogin(q.pg, q.nic);
    }
  }

  #startLogin(pg: PortalGroupConfig, nic: NicConn): void {
    const peer = formatHostPort(nic.remoteAddress, nic.remotePort);
    const log = this.#log;
    let conn: IclConn;
    let policy: NegotiationPolicy;
    try {
      const limits = this.#registry.limits(pg.offload, nic);
      policy = negotiationPolicy(limits, this.#opts.negotiation);
      conn = this.#registry.newConn(pg.offload, { name: peer });
    } catch (e) {
      log.error({ peer, err: e }, 'cannot create an ICL connection');
      nic.destroy();
      return;
    }
    guardConnection(conn, log);
    const login = new LoginSession(
      conn,
      {
        portalGroupTag: pg.tag,
        discoveryAuth: pg.discoveryAuth,
        discoveryAuthGroup: pg.discoveryAuthGroup,
        portalRedirect: pg.redirect,
        initiatorAddress: nic.remoteAddress,
        authFailureDelayMs: this.#opts.authFailureDelayMs,
        findTarget: (name) => this.#findTarget(pg, name),
        policy,
        allocateTsih: () => this.#tsih.allocate(),
        tsihInUse: (t) => this.#tsih.has(t),
        timeoutMs: this.config.timeout * 1000,
        maxTextLength: this.#opts.maxLoginTextLength,
        logger: log,
      },
      (result) => {
        this.#logins.delete(login);
        this.#loggedIn(pg, conn, result, peer);
        this.#dequeue();
      },
      () => {
        this.#logins.delete(login);
        this.#dequeue();
      },
    );
    this.#logins.add(login);
    // Handlers first, then the transport: no PDU can arrive before onReceive is set.
    login.start();
    conn.handoff(nic);
  }

  /** The configuration with each portal's port replaced by the bound one. */
  #withBoundPorts(): DaemonConfig {
    const portalGroups = new Map<string, PortalGroupConfig>();
    for (const [name, pg] of this.config.portalGroups) {
      const listen = pg.listen.map((addr, i) => {
        const bound = this.#listeners.filter((l) => l.pg === pg)[i];
        return bound === undefined ? addr : { ...addr, port: bound.listener.port };
      });
      portalGroups.set(name, { ...pg, listen });
    }
    return { ...this.config, portalGroups };
  }

  #findTarget(pg: PortalGroupConfig, name: string): LoginTarget | null {
    const t = this.#catalog.find(pg.name, name);
    if (t === null) return null;
    return { name: t.name, alias: t.alias, auth: t.authByPortalGroup.get(pg.name)!, authGroup: t.authGroupByPortalGroup.get(pg.name)!, redirect: t.redirect };
  }

  /** The login succeeded: hand the connection on (synchronously). */
  #loggedIn(pg: PortalGroupConfig, conn: IclConn, r: LoginResult, peer: string): void {
    const log = this.#log;
    const who = { peer, initiator: r.leading.initiatorName, tsih: r.tsih };
    if (r.params.sessionType === 'Discovery') {
      log.info(who, `discovery session from ${r.leading.initiatorName} (${peer})`);
      const d = new DiscoverySession(
        conn,
        {
          catalog: this.#catalog,
          portalGroup: pg.name,
          statSn: r.statSn,
          cmdSn: r.cmdSn,
          maxSendDataSegmentLength: r.params.maxSendDataSegmentLength,
          maxTextLength: this.#opts.maxLoginTextLength,
          idleTimeoutMs: this.config.timeout * 1000,
          logger: log,
          initiator: { name: r.leading.initiatorName, address: conn.remoteAddress, chap: r.chap },
        },
        () => {
          this.#discoveries.delete(d);
          this.#tsih.release(r.tsih);
          log.debug(who, 'discovery session closed');
          this.#dequeue();
        },
      );
      this.#discoveries.add(d);
      d.start();
      return;
    }
    const p = r.params;
    const params: HandoffParams = {
      initiatorName: r.leading.initiatorName,
      initiatorAddress: peer,
      isid: r.isid,
      tsih: r.tsih,
      targetName: r.target!.name,
      portalGroupTag: pg.tag,
      cmdSn: r.cmdSn,
      statSn: r.statSn,
      maxRecvDataSegmentLength: p.maxRecvDataSegmentLength,
      maxSendDataSegmentLength: p.maxSendDataSegmentLength,
      maxBurstLength: p.maxBurstLength,
      firstBurstLength: p.firstBurstLength,
      immediateData: p.immediateData,
      initialR2t: p.initialR2t,
      maxOutstandingR2t: p.maxOutstandingR2t,
      headerDigest: p.headerDigest,
      dataDigest: p.dataDigest,
      errorRecoveryLevel: 0,
    };
    const alias = p.initiatorAlias ?? r.leading.initiatorAlias;
    if (alias !== null) params.initiatorAlias = alias;
    let session: IscsiSession;
    try {
      session = this.#frontend!.handoff(conn, params);
    } catch (e) {
      log.error({ ...who, err: e }, 'the frontend refused the session');
      this.#tsih.release(r.tsih);
      conn.close();
      conn.free();
      return;
    }
    log.info(
      { ...who, session: session.id, target: params.targetName, headerDigest: p.headerDigest, dataDigest: p.dataDigest, maxRecvDataSegmentLength: p.maxRecvDataSegmentLength, maxSendDataSegmentLength: p.maxSendDataSegmentLength, maxBurstLength: p.maxBurstLength, firstBurstLength: p.firstBurstLength, immediateData: p.immediateData },
      `session ${session.id}: ${r.leading.initiatorName} (${peer}) logged in to ${params.targetName}`,
    );
    void session.closed.then(() => {
      this.#tsih.release(r.tsih);
      log.info({ ...who, session: session.id, reason: session.terminationReason ?? undefined }, `session ${session.id} closed`);
    });
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
    for (const q of this.#queue.splice(0)) {
      if (q.timer !== null) clearTimeout(q.timer);
      q.nic.destroy();
    }
    for (const l of [...this.#logins]) l.cancel();
    for (const d of [...this.#discoveries]) d.close();
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
}
