/**
 * The login phase on one connection (RFC 7143 §6, §11.12-11.13; FreeBSD
 * ctld `login.c`): from the first Login Request to the Login Final-Response
 * that enters full feature phase, or to a Login reject.
 *
 * What it does:
 * - receives Login Requests through `conn.onReceive` and answers each with
 *   a Login Response: ISID and ITT echoed, StatSN starting at a random value
 *   and advancing per response, ExpCmdSN = MaxCmdSN = the request's CmdSN
 *   (login requests are immediate);
 * - checks the request header: versions (Version-min above 0 →
 *   unsupported version 0x0205), TSIH (non-zero: we never add connections
 *   to a session, so "session does not exist" 0x020a for one we do not
 *   know and "too many connections" 0x0206 for one we know), ISID/TSIH/CID
 *   constant during the login, CmdSN not decreasing, ExpStatSN = our next
 *   StatSN, T and C not both set, legal CSG/NSG transitions (security →
 *   operational → full feature, never backwards), a non-Login PDU during
 *   login → "invalid during login" 0x020b — and a non-Login first PDU drops
 *   the connection without a response (RFC 7143 §6.3);
 * - reassembles key text sent with the Continue bit, acknowledging each
 *   partial request with an empty response, up to a cap;
 * - takes the leading keys of the first complete request: a portal group
 *   with `redirect` → "moved temporarily" 0x0101 with TargetAddress (before
 *   authentication, as ctld); unknown target → "not found" 0x0203; the auth
 *   group (per-portal-group override, else the target's; for discovery the
 *   portal group's discovery-auth-group): `deny` → "authentication
 *   failure" 0x0201, an initiator name or address not on the group's
 *   initiator-name/initiator-portal lists → "authorization failure" 0x0202
 *   (RFC 7143 §11.13.5; ctld's order); declares TargetAlias and
 *   TargetPortalGroupTag in the first response;
 * - CHAP (`auth/chap.ts`) when the group is `chap`/`chap-mutual`:
 *   AuthMethod must include CHAP (else 0x0201), skipping the security stage
 *   is refused (0x0201), CHAP_* keys go to the `ChapExchange`, and the
 *   target never answers with T=1 before the initiator is authenticated;
 * - a target with `redirect` → 0x0101 with TargetAddress once the
 *   initiator is authenticated (at the first operational request, or before
 *   a direct security → full feature transition), as RFC 7143 §11.13.5 and
 *   ctld place it;
 * - authentication and authorization failures (0x0201, 0x0202) are sent
 *   only after `authFailureDelayMs`, holding the connection (and its login
 *   slot) meanwhile, to slow down guessing;
 * - lets `Negotiator` answer every key, proposes keys whose defaults
 *   exceed our limits before accepting full feature phase, and sends the
 *   final response with a new, non-zero, unique TSIH;
 * - on success sets the negotiated digests and data segment lengths on the
 *   connection, then calls `onSuccess` synchronously, so the caller installs
 *   its own `onReceive` before any full-feature PDU can arrive;
 * - on failure sends the reject (if any), closes and frees the connection
 *   once the reject was sent (or after `closeTimeoutMs`), and calls
 *   `onFailure`;
 * - drops the connection when the login takes longer than `timeoutMs`
 *   (ctld's `timeout`, default 60 s).
 *
 * What it does not do: no session table (the caller's `tsih` callbacks), no
 * full feature phase (the iSCSI frontend or `discovery.ts` take the
 * connection over), no authentication methods other than CHAP (SRP, Kerberos
 * and SPKM are answered Reject through AuthMethod).
 */
import { randomInt } from 'node:crypto';
import {
  decodeLoginRequest,
  encodeTextKeys,
  InitiatorOpcode,
  IclProtocolError,
  LoginStage,
  parseTextKeys,
  TextReassembler,
  type IclConn,
  type LoginRequestDecoded,
  type Pdu,
  type TextKeyList,
} from '@iscsi-target/icl-core';
import { nameAllowed, portalAllowed } from '../auth/acl.js';
import { ChapExchange, isChapKey, type ChapRandom } from '../auth/chap.js';
import { plainAuthGroup } from '../config/auth-groups.js';
import type { AuthGroupConfig, AuthPolicy } from '../config/model.js';
import type { Logger } from '../logger.js';
import { snLt } from '@iscsi-target/ctl-frontend-iscsi';
import { LoginAbortedError, LoginRejectError, type LoginStatusName } from './errors.js';
import { newLoginResponse } from './login-pdu.js';
import {
  Negotiator,
  parseLeadingKeys,
  type LeadingKeys,
  type LoginStageName,
  type NegotiatedParams,
  type NegotiationPolicy,
} from './negotiate.js';

/** A target as login sees it, resolved for the connection's portal group. */
export interface LoginTarget {
  /** The configured name (the initiator may have used another case). */
  readonly name: string;
  readonly alias: string | null;
  /** The target's authentication, after any per-portal-group override. */
  readonly auth: AuthPolicy;
  /** The whole auth group behind `auth` (CHAP users, ACLs); default: `auth` with no users or lists. */
  readonly authGroup?: AuthGroupConfig;
  /** Target redirection (`redirect`), as a TargetAddress value. */
  readonly redirect?: string | null;
}

/** What the login needs from the daemon for one connection. */
export interface LoginContext {
  /** Tag of the portal group the connection arrived on. */
  readonly portalGroupTag: number;
  /** Authentication of discovery sessions on this portal group. */
  readonly discoveryAuth: AuthPolicy;
  /** The discovery auth group behind `discoveryAuth`; default: `discoveryAuth` with no users or lists. */
  readonly discoveryAuthGroup?: AuthGroupConfig;
  /** Portal group redirection (`redirect`), as a TargetAddress value. */
  readonly portalRedirect?: string | null;
  /** The initiator's IP address, for initiator-portal lists (no address: such lists refuse). */
  readonly initiatorAddress?: string;
  /** Delay before an authentication/authorization failure is sent (default 0). */
  readonly authFailureDelayMs?: number;
  /** CHAP identifier/challenge source (tests); default: crypto random. */
  readonly chapRandom?: ChapRandom;
  /** A target exported through this portal group, by name (case-insensitive), or null. */
  findTarget(name: string): LoginTarget | null;
  /** What we offer, capped by the connection's driver limits. */
  readonly policy: NegotiationPolicy;
  /** A new non-zero TSIH, unique among live sessions. */
  allocateTsih(): number;
  /** Whether `tsih` belongs to a live session. */
  tsihInUse(tsih: number): boolean;
  /** Login timeout in ms; 0 disables it. */
  readonly timeoutMs: number;
  /** Cap on key text reassembled from Continue-bit PDUs. */
  readonly maxTextLength: number;
  /** After a reject was queued, the longest wait for it to be sent before closing anyway. */
  readonly closeTimeoutMs?: number;
  readonly logger: Logger;
  /** First StatSN (tests); default: random. */
  readonly initialStatSn?: number;
}

/** What a successful login hands on (to the frontend or to discovery). */
export interface LoginResult {
  readonly leading: LeadingKeys;
  readonly params: NegotiatedParams;
  /** The target of a Normal session; for Discovery, the one named, if any. */
  readonly target: LoginTarget | null;
  /** A copy of the initiator's ISID. */
  readonly isid: Buffer;
  readonly tsih: number;
  readonly cid: number;
  /** CmdSN of the last login request: the first full-feature command carries it. */
  readonly cmdSn: number;
  /** The next StatSN to send. */
  readonly statSn: number;
  /** The auth group the login was checked against. */
  readonly authGroup: AuthGroupConfig;
  /** The completed CHAP exchange, or null without CHAP (discovery filtering uses it). */
  readonly chap: ChapExchange | null;
}

export type LoginSuccess = (result: LoginResult) => void;
export type LoginFailure = (error: LoginRejectError | LoginAbortedError) => void;

type State = 'start' | LoginStageName | 'done' | 'failed';

const DEFAULT_CLOSE_TIMEOUT_MS = 5000;

/** RFC 7143 §11.12.4: the versions this target speaks (only 0x00). */
const VERSION = 0x00;

/**
 * Runs the login on `conn` (already handed a transport): installs
 * `onReceive`/`onError` and a timeout. Exactly one of `onSuccess` and
 * `onFailure` is called, once. On failure the connection is closed and
 * freed by the login.
 */
export class LoginSession {
  readonly #conn: IclConn;
  readonly #ctx: LoginContext;
  readonly #onSuccess: LoginSuccess;
  readonly #onFailure: LoginFailure;
  readonly #log: Logger;
  readonly #text: TextReassembler;
  #state: State = 'start';
  #timer: NodeJS.Timeout | null = null;

  #isid = Buffer.alloc(6);
  #tsih = 0;
  #cid = 0;
  #cmdSn = 0;
  #statSn: number;
  /** CSG of the Continue-bit sequence in progress, or -1. */
  #continuedCsg = -1;
  #firstKeysSeen = false;
  #leading: LeadingKeys | null = null;
  #target: LoginTarget | null = null;
  #negotiator: Negotiator | null = null;
  #authGroup: AuthGroupConfig | null = null;
  #chap: ChapExchange | null = null;
  /** A delayed authentication failure waiting to be sent. */
  #delayed: { timer: NodeJS.Timeout; err: LoginRejectError } | null = null;
  #targetRedirectChecked = false;

  constructor(conn: IclConn, ctx: LoginContext, onSuccess: LoginSuccess, onFailure: LoginFailure) {
    this.#conn = conn;
    this.#ctx = ctx;
    this.#onSuccess = onSuccess;
    this.#onFailure = onFailure;
    this.#log = ctx.logger;
    this.#text = new TextReassembler(ctx.maxTextLength);
    this.#statSn = ctx.initialStatSn ?? randomInt(0, 0x100000000);
  }

  /** Starts listening for the first Login Request and arms the timeout. */
  start(): void {
    this.#conn.onReceive = (pdu) => this.#receive(pdu);
    this.#conn.onError = (_c, err) => this.#abort(new LoginAbortedError('LOGIN_ERR_TRANSPORT', `connection error during login: ${err.message}`, { cause: err }));
    if (this.#ctx.timeoutMs > 0) {
      this.#timer = setTimeout(() => {
        this.#abort(new LoginAbortedError('LOGIN_ERR_TIMEOUT', `login not completed within ${this.#ctx.timeoutMs} ms`));
      }, this.#ctx.timeoutMs);
      this.#timer.unref();
    }
  }

  /** Abandons the login (daemon shutdown): closes the connection. */
  cancel(): void {
    if (this.#delayed !== null) {
      const { timer, err } = this.#delayed;
      clearTimeout(timer);
      this.#delayed = null;
      this.#closeAndFree();
      this.#onFailure(err);
      return;
    }
    this.#abort(new LoginAbortedError('LOGIN_ERR_SHUTDOWN', 'login cancelled: the target is shutting down'));
  }

  get state(): State {
    return this.#state;
  }

  #receive(pdu: Pdu): void {
    try {
      this.#handle(pdu);
    } catch (e) {
      if (e instanceof LoginRejectError) this.#reject(pdu, e);
      else if (e instanceof LoginAbortedError) this.#abort(e);
      else {
        this.#log.error({ err: e }, 'internal error during login');
        this.#reject(pdu, new LoginRejectError('TargetError', `internal error: ${e instanceof Error ? e.message : String(e)}`));
      }
    } finally {
      this.#conn.pduFree(pdu);
    }
  }

  #handle(pdu: Pdu): void {
    if (this.#state === 'failed') return;
    if (this.#state === 'done') {
      // Nobody took the connection over. RFC 7143 §6.3: a Login Request in full feature
      // phase is a protocol error, and at ERL 0 a protocol error drops the connection.
      this.#log.warn({ opcode: pdu.opcode }, 'PDU received by the login code after the login ended; dropping the connection');
      this.#state = 'failed';
      this.#closeAndFree();
      return;
    }
    if (pdu.opcode !== InitiatorOpcode.LoginRequest) {
      if (this.#state === 'start') {
        // RFC 7143 §6.3: "A target receiving any PDU except a Login request before the Login
        // Phase is started MUST immediately terminate the connection on which the PDU was received."
        throw new LoginAbortedError('LOGIN_ERR_PROTOCOL', `first PDU has opcode 0x${pdu.opcode.toString(16)}, not Login Request`);
      }
      // RFC 7143 §11.13.5: 0x020b "Invalid request type during login".
      throw new LoginRejectError('InvalidDuringLogin', `PDU opcode 0x${pdu.opcode.toString(16)} during login`);
    }
    const req = decodeLoginRequest(pdu.bhs);
    const first = this.#state === 'start';
    this.#checkHeader(req, first);

    const data = this.#data(pdu);
    let whole: Buffer | null;
    try {
      whole = this.#text.push(data, req.continue);
    } catch (e) {
      if (e instanceof IclProtocolError) throw new LoginRejectError('InitiatorError', e.message);
      throw e;
    }
    if (this.#state === 'start') this.#state = req.csg === LoginStage.SecurityNegotiation ? 'security' : 'operational';
    if (whole === null) {
      // RFC 7143 §11.12.2 / §6.2: a partial key text is acknowledged with an empty response.
      this.#continuedCsg = req.csg;
      this.#send(req, { transit: false, nsg: 0, keys: [] });
      return;
    }
    this.#continuedCsg = -1;
    let keys: TextKeyList;
    try {
      keys = parseTextKeys(whole);
    } catch (e) {
      if (e instanceof IclProtocolError) throw new LoginRejectError('InitiatorError', e.message);
      throw e;
    }
    this.#process(req, keys);
  }

  /** Header checks common to every Login Request (see module comment). */
  #checkHeader(req: LoginRequestDecoded, first: boolean): void {
    // RFC 7143 §11.12.4: Version-min is the lowest version the initiator supports.
    if (req.versionMin > VERSION || req.versionMax < req.versionMin) {
      throw new LoginRejectError('UnsupportedVersion', `unsupported version range ${req.versionMin}..${req.versionMax}`);
    }
    if (first) {
      req.isid.copy(this.#isid);
      this.#tsih = req.tsih;
      this.#cid = req.cid;
      this.#cmdSn = req.cmdSn;
      if (req.tsih !== 0) {
        // RFC 7143 §6.3.1: a non-zero TSIH adds a connection to (or reinstates one of) an
        // existing session; we support one connection per session (MaxConnections=1).
        if (this.#ctx.tsihInUse(req.tsih)) {
          throw new LoginRejectError('TooManyConnections', `TSIH 0x${req.tsih.toString(16)}: only one connection per session`);
        }
        throw new LoginRejectError('SessionDoesNotExist', `TSIH 0x${req.tsih.toString(16)} is not a session of this target`);
      }
    } else {
      // RFC 7143 §6.3: one login is one task: ISID, TSIH and CID do not change.
      if (!req.isid.equals(this.#isid) || req.tsih !== this.#tsih || req.cid !== this.#cid) {
        throw new LoginRejectError('InitiatorError', 'ISID, TSIH or CID changed during login');
      }
      // Login requests are immediate: CmdSN does not advance, and must not go back.
      if (snLt(req.cmdSn, this.#cmdSn)) {
        throw new LoginRejectError('InitiatorError', `CmdSN went back from ${this.#cmdSn} to ${req.cmdSn}`);
      }
      this.#cmdSn = req.cmdSn;
      // RFC 7143 §11.12.8: ExpStatSN acknowledges our login responses.
      if (req.expStatSn >>> 0 !== this.#statSn >>> 0) {
        throw new LoginRejectError('InitiatorError', `ExpStatSN ${req.expStatSn} should be ${this.#statSn >>> 0}`);
      }
    }
    // RFC 7143 §11.12.2: "A Login Request with the C bit set to 1 MUST have the T bit set to 0."
    if (req.transit && req.continue) throw new LoginRejectError('InitiatorError', 'T and C bits both set');
    if (req.csg !== LoginStage.SecurityNegotiation && req.csg !== LoginStage.LoginOperationalNegotiation) {
      throw new LoginRejectError('InitiatorError', `invalid CSG ${req.csg}`);
    }
    if (this.#continuedCsg !== -1 && req.csg !== this.#continuedCsg) {
      throw new LoginRejectError('InitiatorError', 'stage changed in the middle of a continued key text');
    }
    if (!first) {
      const expected = this.#state === 'security' ? LoginStage.SecurityNegotiation : LoginStage.LoginOperationalNegotiation;
      // RFC 7143 §6.3: stages change only through an accepted transition, never backwards.
      if (req.csg !== expected) throw new LoginRejectError('InitiatorError', `CSG ${req.csg} in the ${this.#state} stage`);
    }
    if (req.transit) {
      // RFC 7143 §6.3 transition table: security → operational | full feature, operational → full feature.
      const ok = req.nsg === LoginStage.FullFeaturePhase || (req.csg === LoginStage.SecurityNegotiation && req.nsg === LoginStage.LoginOperationalNegotiation);
      if (!ok) throw new LoginRejectError('InitiatorError', `invalid transition from stage ${req.csg} to ${req.nsg}`);
    }
  }

  /** The data segment as one Buffer (views; a copy only if the segment came in pieces). */
  #data(pdu: Pdu): Buffer {
    const len = pdu.dataLength;
    if (len === 0) return Buffer.alloc(0);
    const views = this.#conn.pduDataViews(pdu, 0, len);
    return views.length === 1 ? views[0]! : Buffer.concat(views, len);
  }

  /** Handles one complete key set. */
  #process(req: LoginRequestDecoded, keys: TextKeyList): void {
    const stage: LoginStageName = req.csg === LoginStage.SecurityNegotiation ? 'security' : 'operational';
    const extra: TextKeyList = [];
    let leadingSet = false;
    if (!this.#firstKeysSeen) {
      this.#firstKeysSeen = true;
      leadingSet = true;
      this.#leading = parseLeadingKeys(keys);
      this.#admit(this.#leading, stage);
      const l = this.#leading;
      // RFC 7143 §6.3 / §13.9: TargetPortalGroupTag in the first response when TargetName is given.
      if (l.sessionType === 'Normal' && this.#target?.alias != null) extra.push(['TargetAlias', this.#target.alias]);
      if (l.targetName !== null) extra.push(['TargetPortalGroupTag', String(this.#ctx.portalGroupTag)]);
    }
    if (stage === 'operational') this.#redirectTarget();
    const negotiator = this.#negotiator!;
    const chap = this.#chap;
    const chapKeys = chap !== null && stage === 'security' ? keys.filter(([k]) => isChapKey(k)) : [];
    const otherKeys = chapKeys.length > 0 ? keys.filter(([k]) => !isChapKey(k)) : keys;
    const answers = [...extra, ...negotiator.respond(otherKeys, stage, leadingSet)];
    let authenticated = chap === null || chap.state === 'done';
    if (chap !== null && stage === 'security') {
      if (negotiator.authMethodRejected) {
        // ctld answers AuthMethod=Reject and drops the connection; the status says why.
        throw new LoginRejectError('AuthenticationFailure', 'CHAP is required, but the initiator does not offer AuthMethod CHAP');
      }
      if (!negotiator.authMethodAgreed) {
        if (chap.state === 'wait-a' && !keys.some(([k]) => k === 'AuthMethod')) {
          // RFC 7143 §6.2: the target may offer the key the initiator left out (ctld does).
          answers.push(['AuthMethod', 'CHAP']);
        }
        if (chapKeys.length > 0) throw new LoginRejectError('InitiatorError', 'CHAP keys before AuthMethod=CHAP was agreed');
      }
      const step = chap.step(chapKeys);
      answers.push(...step.answer);
      authenticated = step.done;
    }
    this.#log.debug({ peer: this.#conn.name, csg: req.csg, nsg: req.nsg, transit: req.transit, request: keys, answer: answers }, 'login exchange');
    if (negotiator.authMethodRejected && stage === 'security') {
      this.#log.warn({ keys: keys.filter(([k]) => k === 'AuthMethod') }, 'initiator offers no authentication method we accept');
    }

    // RFC 7143 §6.3: the target answers T=0 until it is ready to leave the stage — in the
    // security stage, until the initiator is authenticated.
    if (!req.transit || !authenticated) {
      this.#send(req, { transit: false, nsg: 0, keys: answers });
      return;
    }
    if (stage === 'security') {
      if (req.nsg === LoginStage.FullFeaturePhase && !negotiator.needsOperationalStage()) {
        this.#redirectTarget();
        this.#finish(req, answers);
        return;
      }
      // RFC 7143 §6.3: the target may select a next stage lower than asked.
      this.#send(req, { transit: true, nsg: LoginStage.LoginOperationalNegotiation, keys: answers });
      this.#state = 'operational';
      return;
    }
    const proposals = negotiator.takeProposals();
    if (proposals.length > 0) {
      // RFC 7143 §6.3: "Targets MUST NOT submit parameters that require an additional
      // initiator Login Request in a Login Response with the T bit set to 1."
      this.#send(req, { transit: false, nsg: 0, keys: [...answers, ...proposals] });
      return;
    }
    this.#finish(req, answers);
  }

  /** Decides whether the initiator may log in to what it asked for. */
  #admit(l: LeadingKeys, stage: LoginStageName): void {
    if (l.nameWarning !== null) this.#log.warn({ initiator: l.initiatorName }, `initiator name: ${l.nameWarning}`);
    const redirect = this.#ctx.portalRedirect ?? null;
    if (redirect !== null) {
      // ctld login_portal_redirect(): portal-group redirection happens before authentication.
      throw new LoginRejectError('TargetMovedTemporarily', `portal group redirects to ${redirect}`, [['TargetAddress', redirect]]);
    }
    let group: AuthGroupConfig;
    if (l.sessionType === 'Normal') {
      const target = this.#ctx.findTarget(l.targetName!);
      // RFC 7143 §11.13.5: 0x0203 "Not found".
      if (target === null) throw new LoginRejectError('NotFound', `target "${l.targetName}" not found on this portal group`);
      this.#target = target;
      group = target.authGroup ?? plainAuthGroup(target.auth);
    } else {
      this.#target = l.targetName === null ? null : this.#ctx.findTarget(l.targetName);
      group = this.#ctx.discoveryAuthGroup ?? plainAuthGroup(this.#ctx.discoveryAuth);
    }
    this.#authGroup = group;
    const what = l.sessionType === 'Normal' ? `target "${this.#target!.name}"` : 'discovery on this portal group';
    if (group.type === 'deny') {
      // ctld: auth-type deny (or the predefined auth-group "default") → authentication failure.
      throw new LoginRejectError(
        'AuthenticationFailure',
        l.sessionType === 'Normal' ? `target "${this.#target!.name}" denies access` : 'discovery is not allowed on this portal group',
      );
    }
    // RFC 7143 §11.13.5 0x0202 "Authorization failure": the initiator is not allowed access.
    if (!nameAllowed(group, l.initiatorName)) {
      throw new LoginRejectError('AuthorizationFailure', `initiator "${l.initiatorName}" is not on the initiator-name list of ${what} (auth-group "${group.name}")`);
    }
    const address = this.#ctx.initiatorAddress ?? '';
    if (!portalAllowed(group, address)) {
      throw new LoginRejectError('AuthorizationFailure', `initiator address ${address || '(unknown)'} is not on the initiator-portal list of ${what} (auth-group "${group.name}")`);
    }
    const chap = group.type === 'chap' || group.type === 'chap-mutual';
    if (chap) {
      // ctld: "initiator skipped the authentication, but authentication is required".
      if (stage !== 'security') throw new LoginRejectError('AuthenticationFailure', `${what} requires CHAP, but the initiator skipped the security stage`);
      this.#chap = new ChapExchange(group, this.#ctx.chapRandom);
    }
    this.#negotiator = new Negotiator(l.sessionType, this.#ctx.policy, chap ? 'CHAP' : 'None');
  }

  /** Target redirection, once the initiator is authenticated (ctld login_target_redirect()). */
  #redirectTarget(): void {
    if (this.#targetRedirectChecked) return;
    this.#targetRedirectChecked = true;
    const to = this.#target?.redirect ?? null;
    if (to !== null && this.#leading?.sessionType === 'Normal') {
      throw new LoginRejectError('TargetMovedTemporarily', `target "${this.#target!.name}" redirects to ${to}`, [['TargetAddress', to]]);
    }
  }

  #finish(req: LoginRequestDecoded, answers: TextKeyList): void {
    const params = this.#negotiator!.finish();
    const tsih = this.#ctx.allocateTsih();
    this.#send(req, { transit: true, nsg: LoginStage.FullFeaturePhase, keys: answers, tsih });
    this.#state = 'done';
    this.#clearTimer();
    // The final response is queued; digests and lengths apply from the next PDU on.
    const conn = this.#conn;
    conn.headerDigest = params.headerDigest;
    conn.dataDigest = params.dataDigest;
    conn.maxRecvDataSegmentLength = params.maxRecvDataSegmentLength;
    conn.maxSendDataSegmentLength = params.maxSendDataSegmentLength;
    this.#onSuccess({
      leading: this.#leading!,
      params,
      target: this.#target,
      isid: Buffer.from(this.#isid),
      tsih,
      cid: this.#cid,
      cmdSn: this.#cmdSn,
      statSn: this.#statSn >>> 0,
      authGroup: this.#authGroup!,
      chap: this.#chap,
    });
  }

  /** Sends a success-status Login Response in the request's stage. */
  #send(req: LoginRequestDecoded, r: { transit: boolean; nsg: number; keys: TextKeyList; tsih?: number }): void {
    const pdu = newLoginResponse(this.#conn, {
      transit: r.transit,
      cont: false,
      csg: req.csg,
      nsg: r.nsg,
      isid: this.#isid,
      // RFC 7143 §11.13.4: the new TSIH only in the final response; otherwise the initiator's.
      tsih: r.tsih ?? this.#tsih,
      initiatorTaskTag: req.initiatorTaskTag,
      statSn: this.#statSn,
      expCmdSn: this.#cmdSn,
      maxCmdSn: this.#cmdSn,
      statusClass: 0,
      statusDetail: 0,
      keys: r.keys.length > 0 ? encodeTextKeys(r.keys) : null,
    });
    this.#statSn = (this.#statSn + 1) >>> 0;
    this.#conn.pduQueue(pdu);
  }

  /** Sends a Login reject for `pdu`, then closes the connection (RFC 7143 §6.3). */
  #reject(pdu: Pdu, err: LoginRejectError): void {
    if (this.#state === 'done' || this.#state === 'failed') return;
    this.#state = 'failed';
    this.#clearTimer();
    const isLogin = pdu.opcode === InitiatorOpcode.LoginRequest;
    const req = isLogin ? decodeLoginRequest(pdu.bhs) : null;
    const itt = pdu.initiatorTaskTag;
    const delay = this.#ctx.authFailureDelayMs ?? 0;
    const log = { peer: this.#conn.name, address: this.#ctx.initiatorAddress, status: statusHex(err.status, err.statusClass, err.statusDetail), initiator: this.#leading?.initiatorName, target: this.#target?.name };
    if ((err.status === 'AuthenticationFailure' || err.status === 'AuthorizationFailure') && delay > 0) {
      // Against guessing: the answer (and the freed login slot) come only after a delay.
      this.#log.info(log, `login failed: ${err.message} (answering in ${delay} ms)`);
      const timer = setTimeout(() => {
        this.#delayed = null;
        this.#sendReject(req, itt, err);
      }, delay);
      timer.unref();
      this.#delayed = { timer, err };
      return;
    }
    this.#log.info(log, err.statusClass === 1 ? `login redirected: ${err.message}` : `login rejected: ${err.message}`);
    this.#sendReject(req, itt, err);
  }

  #sendReject(req: LoginRequestDecoded | null, initiatorTaskTag: number, err: LoginRejectError): void {
    const response = newLoginResponse(this.#conn, {
      transit: false,
      cont: false,
      csg: 0,
      nsg: 0,
      isid: req?.isid ?? this.#isid,
      tsih: req?.tsih ?? this.#tsih,
      initiatorTaskTag,
      statSn: this.#statSn,
      expCmdSn: this.#cmdSn,
      maxCmdSn: this.#cmdSn,
      statusClass: err.statusClass,
      statusDetail: err.statusDetail,
      keys: err.keys.length > 0 ? encodeTextKeys(err.keys) : null,
    });
    this.#statSn = (this.#statSn + 1) >>> 0;
    let closed = false;
    const closeOnce = (): void => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      this.#closeAndFree();
    };
    const timer = setTimeout(closeOnce, this.#ctx.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS);
    timer.unref();
    this.#conn.pduQueueCb(response, () => closeOnce());
    this.#onFailure(err);
  }

  /** Drops the connection without a response. */
  #abort(err: LoginAbortedError): void {
    if (this.#state === 'done' || this.#state === 'failed') return;
    this.#state = 'failed';
    this.#clearTimer();
    this.#log.info({ peer: this.#conn.name, code: err.code, initiator: this.#leading?.initiatorName }, `login aborted: ${err.message}`);
    this.#closeAndFree();
    this.#onFailure(err);
  }

  #closeAndFree(): void {
    const conn = this.#conn;
    conn.onReceive = (p) => conn.pduFree(p);
    conn.onError = () => {};
    conn.close();
    conn.free();
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}

function statusHex(name: LoginStatusName, cls: number, detail: number): string {
  return `${name} (0x${cls.toString(16).padStart(2, '0')}${detail.toString(16).padStart(2, '0')})`;
}

/** Promise form of `LoginSession` (tests, simple embedders). */
export function runLogin(conn: IclConn, ctx: LoginContext): Promise<LoginResult> {
  return new Promise((resolve, reject) => {
    new LoginSession(conn, ctx, resolve, reject).start();
  });
}
