/**
 * Accepting connections on the portals and logging them in (the part of
 * ctld's main loop that forks a child per connection): per accepted NIC
 * connection, the portal group's ICL driver's limits on this connection
 * (`registry.limits(offload, nic)`, FreeBSD `kernel_limits()`), a new ICL
 * connection guarded against escaping exceptions (`session-guard.ts`), the
 * login (`login/login.ts`); then a Normal session goes to the frontend
 * (`frontend.handoff(conn, HandoffParams)`) and a Discovery session is
 * served here (`discovery.ts`). At most `maxproc` logins and discovery
 * sessions run at once; more connections wait in a bounded queue (beyond it,
 * and past the login timeout, they are closed). TSIHs are unique among live
 * sessions and released when a session ends.
 *
 * What it does not do: no listening (the daemon opens the portals with the
 * portal group's NIC driver and calls `accept`), no authentication logic
 * (`login/`, `auth/`), no full-feature phase (the frontend).
 */
import type { IscsiFrontend, HandoffParams, IscsiSession } from '@iscsi-target/ctl-frontend-iscsi';
import type { IclConn, IclRegistry, NicConn } from '@iscsi-target/icl-core';
import { formatHostPort } from './config/listen-address.js';
import type { DaemonConfig, PortalGroupConfig } from './config/model.js';
import { DiscoverySession } from './discovery.js';
import type { Logger } from './logger.js';
import { LoginSession, type LoginResult, type LoginTarget } from './login/login.js';
import type { NegotiationPolicy } from './login/negotiate.js';
import { negotiationPolicy, type DaemonOptions } from './options.js';
import type { DiscoveryCatalog } from './send-targets.js';
import { guardConnection } from './session-guard.js';
import { TsihTable } from './tsih-table.js';

/** What the acceptor needs from the daemon (read at each use: reload replaces the configuration and catalog). */
export interface PortalAcceptorContext {
  readonly log: Logger;
  readonly registry: IclRegistry;
  readonly opts: Required<Pick<DaemonOptions, 'maxQueuedLogins' | 'authFailureDelayMs' | 'maxLoginTextLength'>> & Pick<DaemonOptions, 'negotiation'>;
  /** The daemon is starting or running (otherwise new connections are closed). */
  accepting(): boolean;
  config(): DaemonConfig;
  catalog(): DiscoveryCatalog;
  frontend(): IscsiFrontend | null;
}

/** A connection waiting for a login slot. */
interface QueuedConn {
  readonly pg: PortalGroupConfig;
  readonly nic: NicConn;
  timer: NodeJS.Timeout | null;
}

export class PortalAcceptor {
  readonly #ctx: PortalAcceptorContext;
  readonly #tsih = new TsihTable();
  readonly #logins = new Set<LoginSession>();
  readonly #discoveries = new Set<DiscoverySession>();
  readonly #queue: QueuedConn[] = [];

  constructor(ctx: PortalAcceptorContext) {
    this.#ctx = ctx;
  }

  /** Logins and discovery sessions in progress (bounded by `maxproc`). */
  get activeLogins(): number {
    return this.#logins.size + this.#discoveries.size;
  }

  /** Closes queued connections, cancels logins in progress, closes discovery sessions. */
  shutdown(): void {
    for (const q of this.#queue.splice(0)) {
      if (q.timer !== null) clearTimeout(q.timer);
      q.nic.destroy();
    }
    for (const l of [...this.#logins]) l.cancel();
    for (const d of [...this.#discoveries]) d.close();
  }

  /** A new connection on a portal of `pg`: log in now, queue it for a slot, or close it. */
  accept(pg: PortalGroupConfig, nic: NicConn): void {
    const peer = formatHostPort(nic.remoteAddress, nic.remotePort);
    // 'starting': the first portals may accept while later ones are still being opened.
    if (!this.#ctx.accepting()) {
      nic.destroy();
      return;
    }
    if (this.activeLogins < this.#ctx.config().maxproc) {
      this.#startLogin(pg, nic);
      return;
    }
    if (this.#queue.length >= this.#ctx.opts.maxQueuedLogins) {
      this.#ctx.log.warn({ peer, maxproc: this.#ctx.config().maxproc }, 'too many logins in progress; closing the connection');
      nic.destroy();
      return;
    }
    // The login timeout also bounds the time spent waiting for a slot.
    const queued: QueuedConn = { pg, nic, timer: null };
    if (this.#ctx.config().timeout > 0) {
      queued.timer = setTimeout(() => {
        const i = this.#queue.indexOf(queued);
        if (i !== -1) this.#queue.splice(i, 1);
        this.#ctx.log.info({ peer }, 'connection waited too long for a login slot; closing');
        nic.destroy();
      }, this.#ctx.config().timeout * 1000);
      queued.timer.unref();
    }
    this.#queue.push(queued);
    this.#ctx.log.debug({ peer, queued: this.#queue.length }, 'connection queued for a login slot');
  }

  /** Starts the next queued login if a slot is free. */
  #dequeue(): void {
    while (this.#ctx.accepting() && this.activeLogins < this.#ctx.config().maxproc && this.#queue.length > 0) {
      const q = this.#queue.shift()!;
      if (q.timer !== null) clearTimeout(q.timer);
      this.#startLogin(q.pg, q.nic);
    }
  }

  #startLogin(pg: PortalGroupConfig, nic: NicConn): void {
    const peer = formatHostPort(nic.remoteAddress, nic.remotePort);
    const log = this.#ctx.log;
    let conn: IclConn;
    let policy: NegotiationPolicy;
    try {
      const limits = this.#ctx.registry.limits(pg.offload, nic);
      policy = negotiationPolicy(limits, this.#ctx.opts.negotiation);
      conn = this.#ctx.registry.newConn(pg.offload, { name: peer });
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
        authFailureDelayMs: this.#ctx.opts.authFailureDelayMs,
        findTarget: (name) => this.#findTarget(pg, name),
        policy,
        allocateTsih: () => this.#tsih.allocate(),
        tsihInUse: (t) => this.#tsih.has(t),
        timeoutMs: this.#ctx.config().timeout * 1000,
        maxTextLength: this.#ctx.opts.maxLoginTextLength,
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

  #findTarget(pg: PortalGroupConfig, name: string): LoginTarget | null {
    const t = this.#ctx.catalog().find(pg.name, name);
    if (t === null) return null;
    return { name: t.name, alias: t.alias, auth: t.authByPortalGroup.get(pg.name)!, authGroup: t.authGroupByPortalGroup.get(pg.name)!, redirect: t.redirect };
  }

  /** The login succeeded: hand the connection on (synchronously). */
  #loggedIn(pg: PortalGroupConfig, conn: IclConn, r: LoginResult, peer: string): void {
    const log = this.#ctx.log;
    const who = { peer, initiator: r.leading.initiatorName, tsih: r.tsih };
    if (r.params.sessionType === 'Discovery') {
      log.info(who, `discovery session from ${r.leading.initiatorName} (${peer})`);
      const d = new DiscoverySession(
        conn,
        {
          catalog: this.#ctx.catalog(),
          portalGroup: pg.name,
          statSn: r.statSn,
          cmdSn: r.cmdSn,
          maxSendDataSegmentLength: r.params.maxSendDataSegmentLength,
          maxTextLength: this.#ctx.opts.maxLoginTextLength,
          idleTimeoutMs: this.#ctx.config().timeout * 1000,
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
      session = this.#ctx.frontend()!.handoff(conn, params);
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
}
