/**
 * Text-mode negotiation of the login phase (RFC 7143 §6.2, §12, §13; RFC
 * 7144 for iSCSIProtocolLevel and TaskReporting): the target's answer to
 * every key an initiator may send, and the negotiated result.
 *
 * What it does: `Negotiator` answers each key=value set of a login (one
 * call per complete set, after Continue-bit reassembly), remembers what was
 * declared so a re-declaration fails the login (RFC 7143 §6.3), proposes
 * the keys whose RFC defaults exceed this target's limits before full
 * feature phase, checks the answers to those proposals, and produces the
 * `NegotiatedParams` that become the frontend's `HandoffParams`.
 *
 * Rules, key by key (our values come from `NegotiationPolicy`):
 * - AuthMethod (list): the method the auth group requires ("None", or
 *   "CHAP") if the initiator's list has it; otherwise `Reject` — the key
 *   then keeps its default, None, and the login code decides (RFC 7143
 *   §6.2.1). CHAP_* keys reach this code only when CHAP was not selected
 *   (`login.ts` hands them to `auth/chap.ts` otherwise); they and SRP_*,
 *   KRB_* keys are answered `Irrelevant`.
 * - HeaderDigest / DataDigest (list): the first of the initiator's list
 *   that the policy allows (default CRC32C and None); none → `Reject`.
 *   Discovery sessions allow None only.
 * - InitiatorName, TargetName, SessionType: leading keys, consumed by the
 *   login state machine from the first request; any later occurrence is a
 *   re-declaration. InitiatorAlias: stored, no answer.
 * - TargetAlias, TargetAddress, TargetPortalGroupTag: target-only keys;
 *   sent by an initiator → login reject, initiator error (0x0200).
 * - SendTargets: full-feature-phase only → initiator error during login.
 * - MaxConnections (min, 1..65535): 1. InitialR2T (OR), ImmediateData
 *   (AND). MaxBurstLength, FirstBurstLength (min, 512..2^24-1; FirstBurst
 *   <= MaxBurst checked after all keys, RFC 7143 §13.14 and the pitfall of
 *   freebsd-arch §11.4.9). DefaultTime2Wait (max, 0..3600),
 *   DefaultTime2Retain (min, 0..3600; we offer 0), MaxOutstandingR2T (min,
 *   1..65535; we offer 1), DataPDUInOrder / DataSequenceInOrder (OR; we
 *   offer Yes, so the result is Yes), ErrorRecoveryLevel (min, 0..2; we
 *   offer 0).
 * - MaxRecvDataSegmentLength (declarative, 512..2^24-1): the initiator's
 *   value bounds what we send (capped by the driver); we declare ours in
 *   our first operational-stage response.
 * - OFMarker / IFMarker (obsolete, RFC 7143 §13.25): `No` (allowed there,
 *   and what RFC 3720 initiators expect). OFMarkInt / IFMarkInt: `Reject`
 *   (required there).
 * - iSCSIProtocolLevel (min, 0..31): min(initiator, 1) — we implement RFC
 *   7143, not the RFC 7144 additions that level 2 announces.
 * - TaskReporting (list): RFC3720 if offered, else `Reject`.
 * - Discovery sessions: keys irrelevant to them (RFC 7143 §13 "Irrelevant
 *   when: SessionType=Discovery") are answered `Irrelevant`.
 * - X- and X# extension keys and unknown keys: `NotUnderstood`.
 * Malformed values: a negotiated key with a value out of its range or not
 * of its type is answered `Reject` and keeps its default (RFC 7143 §6.2.2
 * "not admissible"); a malformed declaration (MaxRecvDataSegmentLength,
 * InitiatorAlias over 255 bytes) or a value over 255 bytes of a declarative
 * key fails the login with initiator error. Values `Irrelevant`, `Reject`
 * and `NotUnderstood` offered by the initiator outside an answer to our
 * proposal are ignored (ctld does the same for `Irrelevant`).
 * Keys of the wrong stage (operational keys in the security stage and the
 * other way round) are a protocol error (RFC 7143 §6.3): initiator error.
 *
 * What it does not do: no PDUs, no stage transitions (`login.ts`), no
 * CHAP exchange (`auth/chap.ts`).
 */
import type { TextKeyList } from '@iscsi-target/icl-core';
import { checkIscsiName } from '../iscsi-name.js';
import { LoginRejectError } from './errors.js';

export type SessionType = 'Normal' | 'Discovery';
export type DigestName = 'CRC32C' | 'None';
export type LoginStageName = 'security' | 'operational';

/** RFC 7143 §13 defaults: what applies to a key nobody negotiated. */
export const RFC_DEFAULTS = {
  maxConnections: 1,
  initialR2t: true,
  immediateData: true,
  maxRecvDataSegmentLength: 8192,
  maxBurstLength: 262144,
  firstBurstLength: 65536,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  maxOutstandingR2t: 1,
  dataPduInOrder: true,
  dataSequenceInOrder: true,
  errorRecoveryLevel: 0,
} as const;

/** RFC 7143 §13.12-13.14: 512 to 2^24-1. */
export const SEGMENT_MIN = 512;
export const SEGMENT_MAX = 0xffffff;
/** RFC 7143 §6.1: values are at most 255 bytes unless a key says otherwise. */
export const MAX_VALUE_BYTES = 255;

/** What this target offers and accepts; see `negotiationPolicy()` in `options.ts`. */
export interface NegotiationPolicy {
  /** What we declare as our MaxRecvDataSegmentLength (driver limit ∩ configuration). */
  readonly maxRecvDataSegmentLength: number;
  /** Cap on the data segments we send, whatever the initiator declares (driver limit). */
  readonly maxSendDataSegmentLength: number;
  readonly maxBurstLength: number;
  readonly firstBurstLength: number;
  /** Acceptable header digests, in no particular order (the initiator's order decides). */
  readonly headerDigest: readonly DigestName[];
  readonly dataDigest: readonly DigestName[];
  /** Our InitialR2T value (Yes: we always solicit the first burst; result = OR). */
  readonly initialR2t: boolean;
  /** Our ImmediateData value (result = AND). */
  readonly immediateData: boolean;
  readonly defaultTime2Wait: number;
  readonly defaultTime2Retain: number;
  readonly maxOutstandingR2t: number;
  readonly maxConnections: number;
  readonly errorRecoveryLevel: number;
  /** Highest iSCSIProtocolLevel we claim (1 = RFC 7143). */
  readonly protocolLevel: number;
}

/** The outcome of a login's negotiation. */
export interface NegotiatedParams {
  readonly sessionType: SessionType;
  readonly headerDigest: boolean;
  readonly dataDigest: boolean;
  readonly maxConnections: number;
  readonly initialR2t: boolean;
  readonly immediateData: boolean;
  /** Ours (declared, or the RFC default if the operational stage was skipped). */
  readonly maxRecvDataSegmentLength: number;
  /** The initiator's MaxRecvDataSegmentLength, capped by the driver. */
  readonly maxSendDataSegmentLength: number;
  readonly maxBurstLength: number;
  readonly firstBurstLength: number;
  readonly defaultTime2Wait: number;
  readonly defaultTime2Retain: number;
  readonly maxOutstandingR2t: number;
  readonly dataPduInOrder: boolean;
  readonly dataSequenceInOrder: boolean;
  readonly errorRecoveryLevel: number;
  /** Negotiated iSCSIProtocolLevel, or null if the initiator did not send it. */
  readonly iscsiProtocolLevel: number | null;
  readonly initiatorAlias: string | null;
}

/** The leading keys of the first Login Request (RFC 7143 §6.3, §13.5, §13.6, §13.21). */
export interface LeadingKeys {
  readonly initiatorName: string;
  readonly initiatorAlias: string | null;
  readonly sessionType: SessionType;
  /** Required for Normal sessions; may be given in Discovery sessions. */
  readonly targetName: string | null;
  /** Non-fatal remark about the initiator name's format, for the log. */
  readonly nameWarning: string | null;
}

/**
 * Extracts and checks the leading keys of the first request. Throws
 * `LoginRejectError`: missing InitiatorName, or TargetName in a Normal
 * session → MissingParameter (0x0207, RFC 7143 §6.3); unusable names or an
 * unknown SessionType → InitiatorError (0x0200).
 */
export function parseLeadingKeys(keys: TextKeyList): LeadingKeys {
  const find = (k: string): string | undefined => keys.find(([key]) => key === k)?.[1];
  const initiatorName = find('InitiatorName');
  // RFC 7143 §6.3: "The initial Login Request of any connection MUST include the InitiatorName key".
  if (initiatorName === undefined) throw new LoginRejectError('MissingParameter', 'no InitiatorName in the first Login Request');
  const check = checkIscsiName(initiatorName);
  if (check.error !== null) throw new LoginRejectError('InitiatorError', `invalid InitiatorName: ${check.error}`);
  const st = find('SessionType') ?? 'Normal';
  if (st !== 'Normal' && st !== 'Discovery') {
    throw new LoginRejectError('InitiatorError', `invalid SessionType "${st}"`);
  }
  const targetName = find('TargetName') ?? null;
  // RFC 7143 §6.3: a session not of type Discovery MUST include TargetName.
  if (st === 'Normal' && targetName === null) {
    throw new LoginRejectError('MissingParameter', 'no TargetName in the first Login Request of a Normal session');
  }
  if (targetName !== null) {
    const tcheck = checkIscsiName(targetName);
    if (tcheck.error !== null) throw new LoginRejectError('InitiatorError', `invalid TargetName: ${tcheck.error}`);
  }
  const alias = find('InitiatorAlias') ?? null;
  return { initiatorName, initiatorAlias: alias, sessionType: st, targetName, nameWarning: check.warning };
}

/** RFC 7143 §6.1 numerical-value: decimal-constant or hex-constant. Null if malformed. */
export function parseNumber(value: string): number | null {
  if (/^(?:0|[1-9][0-9]{0,15})$/.test(value)) return Number(value);
  if (/^0[xX][0-9a-fA-F]{1,13}$/.test(value)) return Number.parseInt(value.slice(2), 16);
  return null;
}

function parseBoolean(value: string): boolean | null {
  // RFC 7143 §6.1 boolean-value: "Yes" or "No", case-sensitive.
  if (value === 'Yes') return true;
  if (value === 'No') return false;
  return null;
}

const yesNo = (b: boolean): string => (b ? 'Yes' : 'No');

/** How a key behaves in a login (RFC 7143 §13 "Use", "Senders", stage). */
type KeyStage = LoginStageName | 'any';

interface NumericKey {
  readonly kind: 'min' | 'max';
  readonly min: number;
  readonly max: number;
  readonly field: NumericField;
  readonly irrelevantInDiscovery: boolean;
}

type NumericField =
  | 'maxConnections'
  | 'maxBurstLength'
  | 'firstBurstLength'
  | 'defaultTime2Wait'
  | 'defaultTime2Retain'
  | 'maxOutstandingR2t'
  | 'errorRecoveryLevel';

const NUMERIC_KEYS: Record<string, NumericKey> = {
  MaxConnections: { kind: 'min', min: 1, max: 65535, field: 'maxConnections', irrelevantInDiscovery: true },
  MaxBurstLength: { kind: 'min', min: SEGMENT_MIN, max: SEGMENT_MAX, field: 'maxBurstLength', irrelevantInDiscovery: true },
  FirstBurstLength: { kind: 'min', min: SEGMENT_MIN, max: SEGMENT_MAX, field: 'firstBurstLength', irrelevantInDiscovery: true },
  DefaultTime2Wait: { kind: 'max', min: 0, max: 3600, field: 'defaultTime2Wait', irrelevantInDiscovery: false },
  DefaultTime2Retain: { kind: 'min', min: 0, max: 3600, field: 'defaultTime2Retain', irrelevantInDiscovery: false },
  MaxOutstandingR2T: { kind: 'min', min: 1, max: 65535, field: 'maxOutstandingR2t', irrelevantInDiscovery: true },
  ErrorRecoveryLevel: { kind: 'min', min: 0, max: 2, field: 'errorRecoveryLevel', irrelevantInDiscovery: false },
};

/** Stage of each key the target understands (keys not listed are NotUnderstood). */
const KEY_STAGE: Record<string, KeyStage> = {
  AuthMethod: 'security',
  InitiatorName: 'any',
  TargetName: 'any',
  SessionType: 'any',
  InitiatorAlias: 'any',
  TargetAlias: 'any',
  TargetAddress: 'any',
  TargetPortalGroupTag: 'any',
  SendTargets: 'any',
  HeaderDigest: 'operational',
  DataDigest: 'operational',
  InitialR2T: 'operational',
  ImmediateData: 'operational',
  MaxRecvDataSegmentLength: 'operational',
  DataPDUInOrder: 'operational',
  DataSequenceInOrder: 'operational',
  OFMarker: 'operational',
  IFMarker: 'operational',
  OFMarkInt: 'operational',
  IFMarkInt: 'operational',
  iSCSIProtocolLevel: 'operational',
  TaskReporting: 'operational',
  MaxConnections: 'operational',
  MaxBurstLength: 'operational',
  FirstBurstLength: 'operational',
  DefaultTime2Wait: 'operational',
  DefaultTime2Retain: 'operational',
  MaxOutstandingR2T: 'operational',
  ErrorRecoveryLevel: 'operational',
};

/** Prefixes of the authentication-method keys (RFC 7143 §12.1-12.3). */
const AUTH_KEY_PREFIXES = ['CHAP_', 'SRP_', 'KRB_', 'SPKM_'];

const SPECIAL_VALUES = new Set(['Irrelevant', 'Reject', 'NotUnderstood']);

/** Negotiation of one login. Create once the leading keys are known. */
export class Negotiator {
  readonly sessionType: SessionType;
  readonly #policy: NegotiationPolicy;
  /** Every key the initiator sent so far (RFC 7143 §6.3: no re-declaration). */
  readonly #seen = new Set<string>();
  /** Keys we proposed and whose answer is pending → our offered value. */
  readonly #proposed = new Map<string, number>();
  /** Keys that received a result (offered by the initiator or answered). */
  readonly #negotiated = new Set<string>();
  #declaredOurMrdsl = false;
  #initiatorMrdsl: number = RFC_DEFAULTS.maxRecvDataSegmentLength;

  #headerDigest = false;
  #dataDigest = false;
  #initialR2t: boolean = RFC_DEFAULTS.initialR2t;
  #immediateData: boolean = RFC_DEFAULTS.immediateData;
  #dataPduInOrder: boolean = RFC_DEFAULTS.dataPduInOrder;
  #dataSequenceInOrder: boolean = RFC_DEFAULTS.dataSequenceInOrder;
  #protocolLevel: number | null = null;
  #initiatorAlias: string | null = null;
  readonly #numbers: Record<NumericField, number> = {
    maxConnections: RFC_DEFAULTS.maxConnections,
    maxBurstLength: RFC_DEFAULTS.maxBurstLength,
    firstBurstLength: RFC_DEFAULTS.firstBurstLength,
    defaultTime2Wait: RFC_DEFAULTS.defaultTime2Wait,
    defaultTime2Retain: RFC_DEFAULTS.defaultTime2Retain,
    maxOutstandingR2t: RFC_DEFAULTS.maxOutstandingR2t,
    errorRecoveryLevel: RFC_DEFAULTS.errorRecoveryLevel,
  };

  /** Set when AuthMethod was answered Reject (for the log). */
  authMethodRejected = false;

  /** The method this login requires: `None`, or `CHAP` when the auth group asks for it. */
  readonly #requiredAuth: 'None' | 'CHAP';
  /** Whether AuthMethod was negotiated (to `#requiredAuth`). */
  authMethodAgreed = false;

  constructor(sessionType: SessionType, policy: NegotiationPolicy, requiredAuth: 'None' | 'CHAP' = 'None') {
    this.sessionType = sessionType;
    this.#policy = policy;
    this.#requiredAuth = requiredAuth;
  }

  get #discovery(): boolean {
    return this.sessionType === 'Discovery';
  }

  /** The value of numeric field `f` we offer. */
  #ours(f: NumericField): number {
    const p = this.#policy;
    switch (f) {
      case 'maxConnections':
        return p.maxConnections;
      case 'maxBurstLength':
        return p.maxBurstLength;
      case 'firstBurstLength':
        return p.firstBurstLength;
      case 'defaultTime2Wait':
        return p.defaultTime2Wait;
      case 'defaultTime2Retain':
        return p.defaultTime2Retain;
      case 'maxOutstandingR2t':
        return p.maxOutstandingR2t;
      case 'errorRecoveryLevel':
        return p.errorRecoveryLevel;
    }
  }

  /**
   * Answers one complete key set received in `stage`. `leading` is true
   * for the first set of the login, where InitiatorName, TargetName and
   * SessionType belong (they are consumed without answer). Throws
   * `LoginRejectError`.
   */
  respond(keys: TextKeyList, stage: LoginStageName, leading: boolean): TextKeyList {
    const out: TextKeyList = [];
    for (const [key, value] of keys) {
      const answer = this.#answer(key, value, stage, leading);
      if (answer !== null) out.push([key, answer]);
    }
    if (stage === 'operational' && !this.#declaredOurMrdsl) {
      // RFC 7143 §13.12: declarative, each side declares what it receives.
      out.push(['MaxRecvDataSegmentLength', String(this.#policy.maxRecvDataSegmentLength)]);
      this.#declaredOurMrdsl = true;
    }
    return out;
  }

  #answer(key: string, value: string, stage: LoginStageName, leading: boolean): string | null {
    // An answer to one of our proposals.
    const offered = this.#proposed.get(key);
    if (offered !== undefined) {
      this.#proposed.delete(key);
      this.#seen.add(key);
      this.#acceptAnswer(key, value, offered);
      return null;
    }
    // RFC 7143 §6.3: declaring or negotiating a key twice → Login reject (initiator error).
    if (this.#seen.has(key)) {
      throw new LoginRejectError('InitiatorError', `key ${key} sent twice during login`);
    }
    this.#seen.add(key);

    // RFC 7143 §13.5.x: private (X-) and public (X#) extension keys we do not implement.
    if (key.startsWith('X-') || key.startsWith('X#')) return 'NotUnderstood';
    if (AUTH_KEY_PREFIXES.some((p) => key.startsWith(p))) {
      // RFC 7143 §6.3: security keys belong to the security stage.
      if (stage !== 'security') throw new LoginRejectError('InitiatorError', `security key ${key} in the operational stage`);
      return 'Irrelevant';
    }
    const keyStage = KEY_STAGE[key];
    // RFC 7143 §6.2: the answer for a key not understood MUST be NotUnderstood.
    if (keyStage === undefined) return 'NotUnderstood';
    // RFC 7143 §6.3: "It is considered to be a protocol error to send a key that is not allowed in the current stage."
    if (keyStage !== 'any' && keyStage !== stage) {
      throw new LoginRejectError('InitiatorError', `key ${key} is not allowed in the ${stage} stage`);
    }
    if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES && key !== 'TargetName' && key !== 'InitiatorName') {
      return this.#malformed(key, `value of ${Buffer.byteLength(value, 'utf8')} bytes`);
    }
    if (SPECIAL_VALUES.has(value) && key !== 'InitiatorAlias') return null;

    switch (key) {
      case 'InitiatorName':
      case 'TargetName':
      case 'SessionType':
        // RFC 7143 §13.5, §13.6, §13.21: sent in the first request only.
        if (!leading) throw new LoginRejectError('InitiatorError', `${key} sent after the first Login Request`);
        return null;
      case 'InitiatorAlias':
        this.#initiatorAlias = value;
        return null;
      case 'TargetAlias':
      case 'TargetAddress':
      case 'TargetPortalGroupTag':
        // RFC 7143 §13.7, §13.8, §13.9: "Senders: Target".
        throw new LoginRejectError('InitiatorError', `${key} may only be sent by a target`);
      case 'SendTargets':
        // RFC 7143 §13.3: "Use: FFPO".
        throw new LoginRejectError('InitiatorError', 'SendTargets is only allowed in full feature phase');
      case 'AuthMethod':
        return this.#authMethod(value);
      case 'HeaderDigest':
      case 'DataDigest':
        return this.#digest(key, value);
      case 'InitialR2T':
      case 'ImmediateData':
      case 'DataPDUInOrder':
      case 'DataSequenceInOrder':
        return this.#boolean(key, value);
      case 'MaxRecvDataSegmentLength':
        return this.#initiatorMaxRecv(value);
      case 'OFMarker':
      case 'IFMarker':
        // RFC 7143 §13.25: obsolete; SHOULD answer Reject, MAY answer No, MUST NOT answer NotUnderstood.
        return parseBoolean(value) === null ? 'Reject' : 'No';
      case 'OFMarkInt':
      case 'IFMarkInt':
        // RFC 7143 §13.25: MUST answer Reject.
        return 'Reject';
      case 'iSCSIProtocolLevel': {
        // RFC 7144 §2.1: 0..31, result is the minimum.
        const n = parseNumber(value);
        if (n === null || n > 31) return this.#malformed(key, `"${value}"`);
        this.#protocolLevel = Math.min(n, this.#policy.protocolLevel);
        return String(this.#protocolLevel);
      }
      case 'TaskReporting': {
        if (this.#discovery) return 'Irrelevant';
        // RFC 7144 §3.2 (list): we implement the RFC 3720 behaviour only.
        return value.split(',').includes('RFC3720') ? 'RFC3720' : 'Reject';
      }
      default: {
        const spec = NUMERIC_KEYS[key];
        if (spec === undefined) return 'NotUnderstood';
        return this.#numeric(key, value, spec);
      }
    }
  }

  /** RFC 7143 §6.2.2: a value that is not admissible is answered Reject; the key keeps its default. */
  #malformed(key: string, what: string): string {
    if (key === 'MaxRecvDataSegmentLength' || key === 'InitiatorAlias' || key === 'InitiatorName' || key === 'TargetName' || key === 'SessionType') {
      throw new LoginRejectError('InitiatorError', `invalid ${key}: ${what}`);
    }
    return 'Reject';
  }

  #authMethod(value: string): string {
    // RFC 7143 §12.1, §6.2.1: the first method of the initiator's list we support.
    for (const m of value.split(',')) {
      if (m === this.#requiredAuth) {
        this.authMethodAgreed = true;
        return m;
      }
    }
    this.authMethodRejected = true;
    return 'Reject';
  }

  #digest(key: 'HeaderDigest' | 'DataDigest', value: string): string {
    const allowed: readonly DigestName[] = this.#discovery
      ? ['None']
      : key === 'HeaderDigest'
        ? this.#policy.headerDigest
        : this.#policy.dataDigest;
    // RFC 7143 §13.1, §6.2.1: the first value of the initiator's list we accept; unknown values are ignored.
    for (const v of value.split(',')) {
      if ((v === 'CRC32C' || v === 'None') && allowed.includes(v)) {
        if (key === 'HeaderDigest') this.#headerDigest = v === 'CRC32C';
        else this.#dataDigest = v === 'CRC32C';
        this.#negotiated.add(key);
        return v;
      }
    }
    return 'Reject';
  }

  #boolean(key: 'InitialR2T' | 'ImmediateData' | 'DataPDUInOrder' | 'DataSequenceInOrder', value: string): string {
    // RFC 7143 §13.10, 13.11, 13.18, 13.19: irrelevant for discovery sessions.
    if (this.#discovery) return 'Irrelevant';
    const b = parseBoolean(value);
    if (b === null) return this.#malformed(key, `"${value}"`);
    this.#negotiated.add(key);
    switch (key) {
      case 'InitialR2T':
        // RFC 7143 §13.10: result function OR.
        this.#initialR2t = b || this.#policy.initialR2t;
        return yesNo(this.#initialR2t);
      case 'ImmediateData':
        // RFC 7143 §13.11: result function AND.
        this.#immediateData = b && this.#policy.immediateData;
        return yesNo(this.#immediateData);
      case 'DataPDUInOrder':
        // RFC 7143 §13.18: OR; we require in-order Data PDUs, so we offer Yes.
        this.#dataPduInOrder = true;
        return 'Yes';
      case 'DataSequenceInOrder':
        // RFC 7143 §13.19: OR; we offer Yes.
        this.#dataSequenceInOrder = true;
        return 'Yes';
    }
  }

  #initiatorMaxRecv(value: string): string | null {
    const n = parseNumber(value);
    // RFC 7143 §13.12: 512 to 2^24-1.
    if (n === null || n < SEGMENT_MIN || n > SEGMENT_MAX) return this.#malformed('MaxRecvDataSegmentLength', `"${value}"`);
    this.#initiatorMrdsl = n;
    // Declarative: no answer needed; ours is declared once per login by respond().
    return null;
  }

  #numeric(key: string, value: string, spec: NumericKey): string {
    if (this.#discovery && spec.irrelevantInDiscovery) return 'Irrelevant';
    const n = parseNumber(value);
    if (n === null || n < spec.min || n > spec.max) return this.#malformed(key, `"${value}"`);
    const ours = this.#ours(spec.field);
    const result = spec.kind === 'min' ? Math.min(n, ours) : Math.max(n, ours);
    this.#numbers[spec.field] = result;
    this.#negotiated.add(key);
    return String(result);
  }

  /** Checks the initiator's answer to a key we proposed (it is the acceptor there). */
  #acceptAnswer(key: string, value: string, offered: number): void {
    const spec = NUMERIC_KEYS[key];
    const n = parseNumber(value);
    // Our proposals are "min" keys: an admissible answer is within range and not above our offer.
    if (spec === undefined || n === null || n < spec.min || n > offered) {
      throw new LoginRejectError('InitiatorError', `unacceptable answer ${key}=${value} to our offer of ${offered}`);
    }
    this.#numbers[spec.field] = n;
    this.#negotiated.add(key);
  }

  /**
   * Keys we must propose before full feature phase because their RFC
   * default exceeds what this target accepts (e.g. an offload driver's
   * MaxBurstLength below 262144) and the initiator did not negotiate them.
   * Marks them proposed; the initiator must answer in its next request.
   * Empty for discovery sessions.
   */
  takeProposals(): TextKeyList {
    if (this.#discovery) return [];
    const out: TextKeyList = [];
    const check = (key: 'MaxBurstLength' | 'FirstBurstLength', field: NumericField, dflt: number): void => {
      const ours = this.#ours(field);
      if (this.#negotiated.has(key) || this.#proposed.has(key) || this.#seen.has(key) || dflt <= ours) return;
      this.#proposed.set(key, ours);
      out.push([key, String(ours)]);
    };
    check('MaxBurstLength', 'maxBurstLength', RFC_DEFAULTS.maxBurstLength);
    check('FirstBurstLength', 'firstBurstLength', RFC_DEFAULTS.firstBurstLength);
    return out;
  }

  /** True while a proposal of ours awaits the initiator's answer. */
  get awaitingAnswers(): boolean {
    return this.#proposed.size > 0;
  }

  /**
   * Whether full feature phase may not be entered straight from the
   * security stage: our receive limit is below the 8192-byte default (we
   * must declare it) or a default exceeds a limit (we must propose).
   */
  needsOperationalStage(): boolean {
    if (this.#discovery) return false;
    const p = this.#policy;
    return (
      p.maxRecvDataSegmentLength < RFC_DEFAULTS.maxRecvDataSegmentLength ||
      p.maxBurstLength < RFC_DEFAULTS.maxBurstLength ||
      p.firstBurstLength < RFC_DEFAULTS.firstBurstLength
    );
  }

  /**
   * The negotiated parameters. Throws `LoginRejectError` (initiator error)
   * if FirstBurstLength ended above MaxBurstLength (RFC 7143 §13.14) or a
   * proposal was never answered.
   */
  finish(): NegotiatedParams {
    if (this.#proposed.size > 0) {
      throw new LoginRejectError('InitiatorError', `no answer to ${[...this.#proposed.keys()].join(', ')}`);
    }
    const n = this.#numbers;
    // RFC 7143 §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength (checked after all keys: freebsd-arch §11.4.9).
    if (!this.#discovery && n.firstBurstLength > n.maxBurstLength) {
      throw new LoginRejectError(
        'InitiatorError',
        `FirstBurstLength ${n.firstBurstLength} exceeds MaxBurstLength ${n.maxBurstLength}`,
      );
    }
    // A default above our limit that could not be proposed (the initiator sent the key
    // with a special value such as Irrelevant): we cannot honour it.
    if (!this.#discovery && n.maxBurstLength > this.#policy.maxBurstLength) {
      throw new LoginRejectError('InitiatorError', `MaxBurstLength ${n.maxBurstLength} exceeds our limit ${this.#policy.maxBurstLength}`);
    }
    if (!this.#discovery && n.firstBurstLength > this.#policy.firstBurstLength) {
      throw new LoginRejectError('InitiatorError', `FirstBurstLength ${n.firstBurstLength} exceeds our limit ${this.#policy.firstBurstLength}`);
    }
    return {
      sessionType: this.sessionType,
      headerDigest: this.#headerDigest,
      dataDigest: this.#dataDigest,
      maxConnections: n.maxConnections,
      initialR2t: this.#initialR2t,
      immediateData: this.#immediateData,
      maxRecvDataSegmentLength: this.#declaredOurMrdsl
        ? this.#policy.maxRecvDataSegmentLength
        : RFC_DEFAULTS.maxRecvDataSegmentLength,
      maxSendDataSegmentLength: Math.min(this.#initiatorMrdsl, this.#policy.maxSendDataSegmentLength),
      maxBurstLength: n.maxBurstLength,
      firstBurstLength: n.firstBurstLength,
      defaultTime2Wait: n.defaultTime2Wait,
      defaultTime2Retain: n.defaultTime2Retain,
      maxOutstandingR2t: n.maxOutstandingR2t,
      dataPduInOrder: this.#dataPduInOrder,
      dataSequenceInOrder: this.#dataSequenceInOrder,
      errorRecoveryLevel: n.errorRecoveryLevel,
      iscsiProtocolLevel: this.#protocolLevel,
      initiatorAlias: this.#initiatorAlias,
    };
  }
}
