/**
 * The iSCSI frontend of CTL (FreeBSD cfiscsi's softc, freebsd-arch §5.1-5.3,
 * §5.11): the registry of targets (CTL ports) and sessions, and the handoff
 * of logged-in connections.
 *
 * What it does: registers a CTL port per (target name, portal group tag);
 * accepts a connection and its negotiated parameters from the daemon after
 * login (`handoff`), performing session reinstatement (RFC 7143 §6.3.5: a
 * live session of the same initiator port — name + ISID — on the same
 * target is terminated first, its tasks aborted); lists sessions; removes
 * targets gracefully (Async Message "target requests logout", then
 * termination after a grace period); shuts everything down.
 *
 * What it does not do: no sockets, no login, no discovery data, no LUNs —
 * the daemon owns those and wires a driver, CTL and backends around this.
 */
import type { CtlFrontendServices } from '@iscsi-target/ctl-core';
import type { IclConn } from '@iscsi-target/icl-core';
import {
  FrontendShutdownError,
  InvalidParameterError,
  TargetExistsError,
  TargetNotFoundError,
} from './errors.js';
import { initiatorPortName, validateHandoffParams, type HandoffParams } from './handoff.js';
import { resolveFrontendOptions, type FrontendOptions, type ResolvedFrontendOptions } from './options.js';
import { IscsiSession, SessionState, type SessionInfo, type SessionOwner } from './session.js';
import { IscsiTargetPort, TargetState, type TargetConfig } from './target-port.js';

function targetKey(name: string, portalGroupTag: number): string {
  // iSCSI names are case-insensitive (RFC 3722 stringprep folds case).
  return `${name.toLowerCase()}\0${portalGroupTag}`;
}

export class IscsiFrontend {
  readonly ctl: CtlFrontendServices;
  readonly options: ResolvedFrontendOptions;
  readonly #targets = new Map<string, IscsiTargetPort>();
  readonly #removals = new Map<IscsiTargetPort, Promise<void>>();
  readonly #sessions = new Map<number, IscsiSession>();
  #nextSessionId = 1;
  #shuttingDown = false;
  readonly #owner: SessionOwner;

  constructor(ctl: CtlFrontendServices, options?: FrontendOptions) {
    this.ctl = ctl;
    this.options = resolveFrontendOptions(options);
    this.#owner = {
      ctl,
      options: this.options,
      sessionGone: (session) => {
        if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
      },
      terminateTargetSessions: (target, reason) => {
        for (const s of this.#sessionsOf(target)) s.terminate(reason);
      },
    };
  }

  // ---- targets -------------------------------------------------------------

  /** Registers a target as a CTL port. Throws `TargetExistsError` if it exists. */
  addTarget(config: TargetConfig): IscsiTargetPort {
    if (this.#shuttingDown) throw new FrontendShutdownError();
    if (typeof config.name !== 'string' || config.name.length === 0) {
      throw new InvalidParameterError('addTarget: name is empty');
    }
    if (!Number.isInteger(config.portalGroupTag) || config.portalGroupTag < 0 || config.portalGroupTag > 0xffff) {
      throw new InvalidParameterError(`addTarget: portal group tag ${config.portalGroupTag} is not in 0..65535`);
    }
    const key = targetKey(config.name, config.portalGroupTag);
    if (this.#targets.has(key)) throw new TargetExistsError(config.name, config.portalGroupTag);
    const target = new IscsiTargetPort(config, this.ctl, this.options.logger);
    target.portNumber = this.ctl.registerPort(target);
    this.#targets.set(key, target);
    this.options.logger.info({ port: target.name, portNumber: target.portNumber }, 'target added');
    return target;
  }

  /** Changes a target's alias and/or LUN map (live; CTL reads the map per I/O). */
  updateTarget(
    name: string,
    portalGroupTag: number,
    changes: { alias?: string; lunMap?: ReadonlyMap<number, number> | null },
  ): IscsiTargetPort {
    const target = this.#targets.get(targetKey(name, portalGroupTag));
    if (target === undefined || target.state !== TargetState.Active) throw new TargetNotFoundError(name, portalGroupTag);
    if (changes.alias !== undefined) target.alias = changes.alias;
    if (changes.lunMap !== undefined) target.updateLunMap(changes.lunMap);
    return target;
  }

  target(name: string, portalGroupTag: number): IscsiTargetPort | undefined {
    return this.#targets.get(targetKey(name, portalGroupTag));
  }

  targets(): IscsiTargetPort[] {
    return [...this.#targets.values()];
  }

  /**
   * Removes a target: no new sessions; live sessions get an Async Message
   * "target requests logout" (Parameter3 = the grace period in seconds) and
   * are terminated when `logoutGraceMs` ends; resolves once they are all
   * gone and the CTL port is deregistered. Calling it again returns the same
   * promise. Throws `TargetNotFoundError` for an unknown target.
   */
  removeTarget(name: string, portalGroupTag: number): Promise<void> {
    const target = this.#targets.get(targetKey(name, portalGroupTag));
    if (target === undefined) return Promise.reject(new TargetNotFoundError(name, portalGroupTag));
    let removal = this.#removals.get(target);
    if (removal === undefined) {
      removal = this.#remove(target, this.options.logoutGraceMs);
      this.#removals.set(target, removal);
    }
    return removal;
  }

  async #remove(target: IscsiTargetPort, graceMs: number): Promise<void> {
    target.state = TargetState.Dying;
    const sessions = this.#sessionsOf(target);
    if (sessions.length > 0 && graceMs > 0) {
      let asked = 0;
      for (const s of sessions) if (s.requestLogout(graceMs / 1000)) asked++;
      if (asked > 0) await waitAll(sessions.map((s) => s.closed), graceMs);
    }
    for (const s of this.#sessionsOf(target)) s.terminate('target removed');
    await Promise.all(sessions.map((s) => s.closed));
    try {
      this.ctl.deregisterPort(target.portNumber);
    } catch (err) {
      this.options.logger.error({ port: target.name, err: String(err) }, 'deregisterPort failed');
    }
    target.state = TargetState.Removed;
    this.#targets.delete(targetKey(target.targetName, target.portalGroupTag));
    this.#removals.delete(target);
    this.options.logger.info({ port: target.name }, 'target removed');
  }

  // ---- sessions ------------------------------------------------------------

  /**
   * Takes over a logged-in connection. The frontend sets `conn.onReceive`/
   * `onError`, registers the initiator port with CTL and owns the connection
   * from now on (it closes and frees it when the session ends). Throws
   * `TargetNotFoundError`/`InvalidParameterError` without touching `conn`;
   * the caller then still owns it.
   */
  handoff(conn: IclConn, params: HandoffParams): IscsiSession {
    if (this.#shuttingDown) throw new FrontendShutdownError();
    validateHandoffParams(params);
    const target = this.#targets.get(targetKey(params.targetName, params.portalGroupTag));
    if (target === undefined || target.state !== TargetState.Active) {
      throw new TargetNotFoundError(params.targetName, params.portalGroupTag);
    }
    // RFC 7143 §6.3.5 session reinstatement: same initiator port (name +
    // ISID) on the same target ⇒ the old session is terminated and its tasks
    // aborted (synchronously: `ctl.removeInitiator` runs inside `terminate`).
    const portName = initiatorPortName(params.initiatorName, params.isid).toLowerCase();
    for (const old of this.#sessionsOf(target)) {
      if (old.initiatorPortName.toLowerCase() !== portName) continue;
      if (old.state === SessionState.Terminating || old.state === SessionState.Terminated) continue;
      if (old.initiatorAddress !== params.initiatorAddress) {
        this.options.logger.warn(
          { session: old.id, oldAddress: old.initiatorAddress, newAddress: params.initiatorAddress, initiator: params.initiatorName },
          'reinstating a session from a different address',
        );
      }
      old.terminate('reinstated by a new session');
    }
    const session = new IscsiSession(this.#owner, this.#nextSessionId++, target, conn, params);
    this.#sessions.set(session.id, session);
    try {
      session.start();
    } catch (err) {
      this.#sessions.delete(session.id);
      throw err;
    }
    return session;
  }

  /** Live and terminating sessions. */
  sessions(): SessionInfo[] {
    return [...this.#sessions.values()].map((s) => s.info());
  }

  session(id: number): IscsiSession | undefined {
    return this.#sessions.get(id);
  }

  /**
   * Admin terminate (FreeBSD `ctladm isterminate`): Async Message "session
   * will be dropped", then termination. Resolves true once gone, false for an
   * unknown id.
   */
  async terminateSession(id: number): Promise<boolean> {
    const session = this.#sessions.get(id);
    if (session === undefined) return false;
    session.drop('terminated by the administrator');
    await session.closed;
    return true;
  }

  /** Admin logout request (FreeBSD `ctladm islogout`). False for an unknown or closing session. */
  requestLogout(id: number, seconds = this.options.logoutGraceMs / 1000): boolean {
    return this.#sessions.get(id)?.requestLogout(seconds) ?? false;
  }

  /**
   * Graceful shutdown: every target is removed (logout requests, grace
   * period, termination); resolves when every session is gone.
   */
  async shutdown(): Promise<void> {
    this.#shuttingDown = true;
    await Promise.all(this.targets().map((t) => this.removeTarget(t.targetName, t.portalGroupTag)));
    await Promise.all([...this.#sessions.values()].map((s) => s.closed));
  }

  #sessionsOf(target: IscsiTargetPort): IscsiSession[] {
    const out: IscsiSession[] = [];
    for (const s of this.#sessions.values()) if (s.target === target) out.push(s);
    return out;
  }
}

/** Resolves when all promises settled or after `ms`, whichever is first. */
function waitAll(promises: Array<Promise<void>>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    void Promise.all(promises).then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
