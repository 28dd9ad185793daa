/**
 * Parser for the subset of FreeBSD's `ctl.conf(5)` block syntax this daemon
 * implements (the analog of ctld's `parse.y` plus `conf_verify()`).
 *
 * What it does: reads the tokens of `lexer.ts` into drafts (`drafts.ts`),
 * checking each statement's form and value and refusing duplicates, then
 * hands them to `resolve.ts` for the cross-checks. Statements:
 * - globals `debug`, `timeout`, `maxproc`, `pidfile` (and, beyond ctld,
 *   `metrics-listen ADDR:PORT` and `nocopy on|off`); `isns-server`,
 *   `isns-period`, `isns-timeout` are read and ignored with a warning (no
 *   iSNS client);
 * - `auth-group NAME { auth-type; chap; chap-mutual; initiator-name;
 *   initiator-portal }`;
 * - `portal-group NAME { listen; discovery-auth-group; discovery-filter;
 *   nic; offload; option; redirect; tag; target-port-group;
 *   relative-target-port }` (`nic NAME` is this daemon's: the NIC driver
 *   below the ICL driver; ctld has no such key; nor has it the two ALUA keys);
 * - `target IQN { alias; auth-group; auth-type; chap; chap-mutual;
 *   initiator-name; initiator-portal; portal-group NAME [AG]; redirect;
 *   peer-port-group GROUP RELPORT (ours: another gateway's ALUA port);
 *   lun N NAME | lun N { ... } }`;
 * - `lun NAME { backend; path; size; blocksize; serial; device-id; ctl-lun;
 *   device-type; option }`.
 * Keywords ctld has but this daemon does not implement (iSER, foreign
 * portal groups, DSCP/PCP, physical ports, NVMe) are refused with a "not
 * supported" error rather than ignored, so nothing runs with less
 * protection or other behaviour than the file asks for. Like ctld's lexer, ctl.conf keywords
 * are reserved words: a value spelled like one must be quoted.
 *
 * What it does not do: no cross-references or defaults (`resolve.ts`), no
 * file I/O (`config.ts` reads the file), no opening of LUN files or
 * sockets (`daemon.ts`), no UCL syntax.
 */
import { checkIscsiName, normalizeIscsiName } from '../iscsi-name.js';
import { parseInitiatorPortal } from '../auth/acl.js';
import type { AuthGroupDraft, ConfigDrafts, Draft, LunDraft, PortalGroupDraft, TargetDraft } from './drafts.js';
import { checkChapSecret } from './auth-groups.js';
import { ConfigError, ConfigErrorCode, formatPos, type SourcePos } from './errors.js';
import { tokenize, TokenType, type Token } from './lexer.js';
import { formatHostPort, listenKey, parseListenAddress } from './listen-address.js';
import type { AuthPolicy, DaemonConfig, DiscoveryFilter } from './model.js';
import { resolveConfig } from './resolve.js';
import { detectUcl } from './ucl-detect.js';
import type { PlugPointNames } from '../plug-points.js';
import { parseCount, parseSize } from './size.js';
import { parseMetricsAddress } from '../metrics/metrics-server.js';

/** Every keyword of ctld's lexer (token.l), reserved as in ctld. */
const RESERVED = new Set([
  'alias', 'auth-group', 'auth-type', 'backend', 'blocksize', 'chap', 'chap-mutual', 'ctl-lun', 'debug',
  'device-id', 'device-type', 'discovery-auth-group', 'discovery-filter', 'dscp', 'foreign', 'initiator-name',
  'initiator-portal', 'isns-period', 'isns-server', 'isns-timeout', 'listen', 'listen-iser', 'lun', 'maxproc',
  'nic' /* ours */, 'offload', 'peer-port-group' /* ours */, 'relative-target-port' /* ours */, 'target-port-group' /* ours */, 'option', 'path', 'pcp', 'pidfile', 'port', 'portal-group', 'redirect', 'serial', 'size', 'tag',
  'target', 'timeout',
]);

/** Keywords of ctl.conf that are a later issue; refused with a clear message. */
const UNSUPPORTED: Record<string, string> = {
  'listen-iser': 'iSER is not supported',
  foreign: 'foreign portal groups are not supported yet',
  dscp: 'DSCP marking is not supported yet',
  pcp: 'PCP marking is not supported yet',
  port: 'exporting a target through a physical CTL port is not supported',
  'transport-group': 'NVMe over Fabrics is not supported',
  controller: 'NVMe over Fabrics is not supported',
};

const AUTH_TYPES = new Set<AuthPolicy>(['none', 'deny', 'chap', 'chap-mutual']);

const DISCOVERY_FILTERS = new Set<DiscoveryFilter>(['none', 'portal', 'portal-name', 'portal-name-auth']);

/** ctld's MAX_LUNS: LUN numbers inside a target are 0..1023. */
export const MAX_TARGET_LUNS = 1024;
/** Largest alias / option value we accept (RFC 7143 §6.1 text value limit). */
const MAX_TEXT_VALUE_BYTES = 255;


function err(code: ConfigErrorCode, pos: SourcePos | null, message: string): ConfigError {
  return new ConfigError(code, pos, message);
}

function describe(tok: Token | undefined): string {
  if (tok === undefined) return 'end of file';
  return tok.type === TokenType.String ? `"${tok.value}" (quoted)` : `"${tok.value}"`;
}

class Parser implements ConfigDrafts {
  readonly #tokens: Token[];
  readonly file: string;
  #i = 0;

  debug: Draft<number> | null = null;
  timeout: Draft<number> | null = null;
  maxproc: Draft<number> | null = null;
  pidfile: Draft<string> | null = null;
  metricsListen: Draft<string> | null = null;
  nocopy: Draft<boolean> | null = null;
  readonly portalGroups = new Map<string, PortalGroupDraft>();
  readonly targets: TargetDraft[] = [];
  readonly luns = new Map<string, LunDraft>();
  readonly authGroups = new Map<string, AuthGroupDraft>();
  readonly parseWarnings: string[] = [];
  /** Where each auth group set `auth-type` explicitly. */
  readonly #explicitType = new WeakMap<AuthGroupDraft, SourcePos>();

  constructor(text: string, file: string) {
    this.file = file;
    this.#tokens = tokenize(text, file);
  }

  #eofPos(): SourcePos {
    const last = this.#tokens[this.#tokens.length - 1];
    return last?.pos ?? { file: this.file, line: 1, col: 1 };
  }

  #peek(): Token | undefined {
    return this.#tokens[this.#i];
  }

  #next(): Token | undefined {
    return this.#tokens[this.#i++];
  }

  /** A value token (word or quoted string) after keyword `kw`. */
  #value(kw: Token, what: string): Token {
    const tok = this.#peek();
    if (tok === undefined || (tok.type !== TokenType.Word && tok.type !== TokenType.String)) {
      throw err(ConfigErrorCode.Syntax, tok?.pos ?? kw.pos, `"${kw.value}" needs ${what}, found ${describe(tok)}`);
    }
    if (tok.type === TokenType.Word && RESERVED.has(tok.value)) {
      throw err(
        ConfigErrorCode.Syntax,
        tok.pos,
        `"${kw.value}" needs ${what}, found the keyword "${tok.value}" (quote it to use it as a value)`,
      );
    }
    this.#i++;
    return tok;
  }

  /** Like `#value`, but a reserved word is accepted too (for `auth-type chap`). */
  #word(kw: Token, what: string): Token {
    const tok = this.#peek();
    if (tok?.type === TokenType.Word && RESERVED.has(tok.value)) {
      this.#i++;
      return tok;
    }
    return this.#value(kw, what);
  }

  /** An optional value: taken if the next token is a string or a non-keyword word. */
  #optionalValue(): Token | null {
    const tok = this.#peek();
    if (tok === undefined) return null;
    if (tok.type === TokenType.String || (tok.type === TokenType.Word && !RESERVED.has(tok.value))) {
      this.#i++;
      return tok;
    }
    return null;
  }

  #open(kw: Token, name: string): void {
    const tok = this.#next();
    if (tok?.type !== TokenType.Open) {
      throw err(ConfigErrorCode.Syntax, tok?.pos ?? this.#eofPos(), `expected "{" after ${kw.value} "${name}", found ${describe(tok)}`);
    }
  }

  /**
   * Runs `entry` for each statement of a `{ ... }` block until its `}`.
   * `opened` is the keyword that opened the block, for the error message.
   */
  #block(opened: Token, name: string, entry: (kw: Token) => void): void {
    for (;;) {
      const tok = this.#next();
      if (tok === undefined) {
        throw err(
          ConfigErrorCode.Syntax,
          this.#eofPos(),
          `missing "}" to close ${opened.value} "${name}" opened at line ${opened.pos.line}`,
        );
      }
      if (tok.type === TokenType.Close) return;
      if (tok.type === TokenType.Semicolon) continue;
      if (tok.type !== TokenType.Word) {
        throw err(ConfigErrorCode.Syntax, tok.pos, `expected a keyword, found ${describe(tok)}`);
      }
      entry(tok);
    }
  }

  #unsupportedOrUnknown(kw: Token, where: string): never {
    const why = UNSUPPORTED[kw.value];
    if (why !== undefined) throw err(ConfigErrorCode.Unsupported, kw.pos, `"${kw.value}": ${why}`);
    throw err(ConfigErrorCode.UnknownKeyword, kw.pos, `unknown keyword "${kw.value}" ${where}`);
  }

  #once<T>(slot: Draft<T> | null, kw: Token): void {
    if (slot !== null) {
      throw err(ConfigErrorCode.Duplicate, kw.pos, `duplicate "${kw.value}" (already set at line ${slot.pos.line})`);
    }
  }

  #count(kw: Token, what: string, min: number, max: number): Draft<number> {
    const tok = this.#value(kw, what);
    const n = parseCount(tok.value);
    if (n === null || n < min || n > max) {
      throw err(ConfigErrorCode.BadValue, tok.pos, `invalid ${kw.value} "${tok.value}": expected an integer from ${min} to ${max}`);
    }
    return { value: n, pos: tok.pos };
  }

  /** A reference to an auth group by name (resolved in `resolve.ts`). */
  #authGroupName(tok: Token): Draft<string> {
    return { value: tok.value, pos: tok.pos };
  }

  /** Sets or checks the type of auth group `ag` (ctld `auth_group_set_type`, `auth_new_chap`). */
  #setAuthType(ag: AuthGroupDraft, type: AuthPolicy, tok: Token, what: string, where: string): void {
    if (ag.type !== null && ag.type.value !== type) {
      throw err(
        ConfigErrorCode.BadValue,
        tok.pos,
        `${what}: cannot mix auth-type "${type}" with "${ag.type.value}" (set at line ${ag.type.pos.line}) in ${where}`,
      );
    }
    if (ag.type === null) ag.type = { value: type, pos: tok.pos };
  }

  /**
   * One auth statement (auth-type, chap, chap-mutual, initiator-name,
   * initiator-portal) into `ag`. Returns false for any other keyword.
   */
  #authEntry(k: Token, ag: AuthGroupDraft, where: string): boolean {
    switch (k.value) {
      case 'auth-type': {
        const tok = this.#word(k, 'an authentication type');
        if (!AUTH_TYPES.has(tok.value as AuthPolicy)) {
          throw err(ConfigErrorCode.BadValue, tok.pos, `invalid auth-type "${tok.value}": expected none, deny, chap or chap-mutual`);
        }
        const prev = this.#explicitType.get(ag);
        if (prev !== undefined) throw err(ConfigErrorCode.Duplicate, k.pos, `duplicate "auth-type" (already set at line ${prev.line})`);
        this.#explicitType.set(ag, tok.pos);
        this.#setAuthType(ag, tok.value as AuthPolicy, tok, `auth-type "${tok.value}"`, where);
        return true;
      }
      case 'chap':
      case 'chap-mutual': {
        const mutual = k.value === 'chap-mutual';
        const user = this.#value(k, 'a user name');
        const secret = this.#value(k, 'a secret');
        const muser = mutual ? this.#value(k, 'a mutual user name') : null;
        const msecret = mutual ? this.#value(k, 'a mutual secret') : null;
        this.#setAuthType(ag, mutual ? 'chap-mutual' : 'chap', k, `"${k.value}"`, where);
        for (const t of [user, muser]) {
          if (t !== null && (t.value === '' || Buffer.byteLength(t.value) > MAX_TEXT_VALUE_BYTES)) {
            throw err(ConfigErrorCode.BadValue, t.pos, `${k.value}: user name must be 1 to ${MAX_TEXT_VALUE_BYTES} bytes`);
          }
        }
        const dup = ag.chap.find((c) => c.value.user === user.value);
        if (dup !== undefined) {
          throw err(ConfigErrorCode.Duplicate, user.pos, `duplicate CHAP user "${user.value}" in ${where} (already at line ${dup.pos.line})`);
        }
        for (const [t, label] of [[secret, 'secret'], [msecret, 'mutual secret']] as const) {
          if (t === null) continue;
          const check = checkChapSecret(t.value, `${k.value} "${user.value}": ${label}`);
          if (check.error !== undefined) throw err(ConfigErrorCode.BadValue, t.pos, check.error);
          if (check.warning !== undefined) this.parseWarnings.push(`${formatPos(t.pos)}: ${check.warning}`);
        }
        // RFC 7143 §12.1.3: a secret used to authenticate initiators MUST NOT also authenticate
        // targets (and vice versa): otherwise a reflected challenge reveals it.
        if (msecret !== null && msecret.value === secret.value) {
          throw err(ConfigErrorCode.BadValue, msecret.pos, `chap-mutual "${user.value}": the mutual secret must differ from the initiator's secret (RFC 7143 §12.1.3)`);
        }
        ag.chap.push({
          value: { user: user.value, secret: secret.value, mutualUser: muser?.value ?? null, mutualSecret: msecret?.value ?? null },
          pos: user.pos,
        });
        return true;
      }
      case 'initiator-name': {
        const tok = this.#value(k, 'an initiator name');
        const check = checkIscsiName(tok.value);
        if (check.error !== null) throw err(ConfigErrorCode.BadValue, tok.pos, `invalid initiator-name "${tok.value}": ${check.error}`);
        const n = normalizeIscsiName(tok.value);
        const dup = ag.initiatorNames.find((d) => normalizeIscsiName(d.value) === n);
        if (dup !== undefined) throw err(ConfigErrorCode.Duplicate, tok.pos, `duplicate initiator-name "${tok.value}" (already at line ${dup.pos.line})`);
        ag.initiatorNames.push({ value: tok.value, pos: tok.pos });
        return true;
      }
      case 'initiator-portal': {
        const tok = this.#value(k, 'an initiator address');
        const portal = parseInitiatorPortal(tok.value);
        if (typeof portal === 'string') throw err(ConfigErrorCode.BadValue, tok.pos, portal);
        ag.initiatorPortals.push({ value: portal, pos: tok.pos });
        return true;
      }
      default:
        return false;
    }
  }

  #authGroup(kw: Token): void {
    const name = this.#value(kw, 'an auth group name');
    const prev = this.authGroups.get(name.value);
    if (prev !== undefined) {
      throw err(ConfigErrorCode.Duplicate, name.pos, `duplicate auth-group "${name.value}" (first defined at line ${prev.pos.line})`);
    }
    if (name.value === 'no-authentication' || name.value === 'no-access') {
      throw err(ConfigErrorCode.Duplicate, name.pos, `auth-group "${name.value}" is predefined and cannot be redefined`);
    }
    const ag: AuthGroupDraft = { name: name.value, pos: kw.pos, type: null, chap: [], initiatorNames: [], initiatorPortals: [] };
    this.authGroups.set(name.value, ag);
    this.#open(kw, name.value);
    this.#block(kw, name.value, (k) => {
      if (!this.#authEntry(k, ag, `auth-group "${ag.name}"`)) this.#unsupportedOrUnknown(k, `in auth-group "${ag.name}"`);
    });
  }

  /** `redirect ADDR[:PORT]` → the TargetAddress value (RFC 7143 §13.8). */
  #redirect(k: Token): Draft<string> {
    const tok = this.#value(k, 'an address');
    const addr = parseListenAddress(tok.value);
    if (typeof addr === 'string') throw err(ConfigErrorCode.BadValue, tok.pos, `redirect: ${addr}`);
    if (addr.wildcard || addr.port === 0) throw err(ConfigErrorCode.BadValue, tok.pos, `redirect: "${tok.value}" is not an address an initiator can connect to`);
    return { value: formatHostPort(addr.host, addr.port), pos: tok.pos };
  }

  #option(kw: Token, options: Map<string, Draft<string>>): void {
    const name = this.#value(kw, 'an option name');
    const value = this.#value(kw, `a value for option "${name.value}"`);
    const prev = options.get(name.value);
    if (prev !== undefined) {
      throw err(ConfigErrorCode.Duplicate, name.pos, `duplicate option "${name.value}" (already set at line ${prev.pos.line})`);
    }
    if (Buffer.byteLength(value.value) > MAX_TEXT_VALUE_BYTES) {
      throw err(ConfigErrorCode.BadValue, value.pos, `option "${name.value}": value longer than ${MAX_TEXT_VALUE_BYTES} bytes`);
    }
    options.set(name.value, { value: value.value, pos: name.pos });
  }

  parse(): void {
    for (;;) {
      const kw = this.#next();
      if (kw === undefined) return;
      if (kw.type === TokenType.Semicolon) continue;
      if (kw.type !== TokenType.Word) {
        throw err(ConfigErrorCode.Syntax, kw.pos, `expected a keyword, found ${describe(kw)}`);
      }
      switch (kw.value) {
        case 'debug':
          this.#once(this.debug, kw);
          this.debug = this.#count(kw, 'a level', 0, 100);
          break;
        case 'timeout':
          this.#once(this.timeout, kw);
          this.timeout = this.#count(kw, 'a number of seconds', 0, 86_400);
          break;
        case 'maxproc':
          this.#once(this.maxproc, kw);
          this.maxproc = this.#count(kw, 'a number of concurrent logins', 1, 100_000);
          break;
        case 'pidfile': {
          this.#once(this.pidfile, kw);
          const tok = this.#value(kw, 'a path');
          this.pidfile = { value: tok.value, pos: tok.pos };
          break;
        }
        case 'metrics-listen': {
          // Not a ctld key: where the Prometheus endpoint listens (off when absent).
          this.#once(this.metricsListen, kw);
          const tok = this.#value(kw, 'an ADDR:PORT');
          const a = parseMetricsAddress(tok.value);
          if (typeof a === 'string') throw err(ConfigErrorCode.BadValue, tok.pos, `metrics-listen: ${a}`);
          this.metricsListen = { value: tok.value, pos: tok.pos };
          break;
        }
        case 'nocopy': {
          // Not a ctld key: the zero-copy data path (on, the default) or copy mode (off).
          this.#once(this.nocopy, kw);
          const tok = this.#value(kw, 'on or off');
          if (tok.value !== 'on' && tok.value !== 'off') {
            throw err(ConfigErrorCode.BadValue, tok.pos, `invalid nocopy "${tok.value}": expected on or off`);
          }
          this.nocopy = { value: tok.value === 'on', pos: tok.pos };
          break;
        }
        case 'portal-group':
          this.#portalGroup(kw);
          break;
        case 'auth-group':
          this.#authGroup(kw);
          break;
        case 'isns-server':
        case 'isns-period':
        case 'isns-timeout': {
          const tok = this.#value(kw, 'a value');
          this.parseWarnings.push(`${formatPos(kw.pos)}: "${kw.value} ${tok.value}" is ignored: this daemon has no iSNS client`);
          break;
        }
        case 'target':
          this.#target(kw);
          break;
        case 'lun': {
          const name = this.#value(kw, 'a LUN name');
          const prev = this.luns.get(name.value);
          if (prev !== undefined) {
            throw err(ConfigErrorCode.Duplicate, name.pos, `duplicate lun "${name.value}" (first defined at line ${prev.pos.line})`);
          }
          this.luns.set(name.value, this.#lunBody(kw, name.value, kw.pos));
          break;
        }
        default:
          this.#unsupportedOrUnknown(kw, 'at top level');
      }
    }
  }

  #portalGroup(kw: Token): void {
    const name = this.#value(kw, 'a portal group name');
    const prev = this.portalGroups.get(name.value);
    if (prev !== undefined) {
      throw err(ConfigErrorCode.Duplicate, name.pos, `duplicate portal-group "${name.value}" (first defined at line ${prev.pos.line})`);
    }
    const pg: PortalGroupDraft = {
      name: name.value,
      pos: kw.pos,
      tag: null,
      listen: [],
      discoveryAuth: null,
      redirect: null,
      discoveryFilter: null,
      offload: null,
      nic: null,
      options: new Map(),
      implicit: false,
    };
    this.portalGroups.set(name.value, pg);
    this.#open(kw, name.value);
    this.#block(kw, name.value, (k) => {
      switch (k.value) {
        case 'listen': {
          const tok = this.#value(k, 'an address');
          const addr = parseListenAddress(tok.value);
          if (typeof addr === 'string') throw err(ConfigErrorCode.BadValue, tok.pos, addr);
          const dup = pg.listen.find((l) => listenKey(l.value) === listenKey(addr));
          if (dup !== undefined) {
            throw err(ConfigErrorCode.Duplicate, tok.pos, `duplicate listen "${tok.value}" (already at line ${dup.pos.line})`);
          }
          pg.listen.push({ value: addr, pos: tok.pos });
          break;
        }
        case 'discovery-auth-group': {
          this.#once(pg.discoveryAuth, k);
          const tok = this.#value(k, 'an auth-group name');
          pg.discoveryAuth = this.#authGroupName(tok);
          break;
        }
        case 'discovery-filter': {
          this.#once(pg.discoveryFilter, k);
          const tok = this.#value(k, 'a filter');
          if (!DISCOVERY_FILTERS.has(tok.value as DiscoveryFilter)) {
            throw err(
              ConfigErrorCode.BadValue,
              tok.pos,
              `invalid discovery-filter "${tok.value}": expected none, portal, portal-name or portal-name-auth`,
            );
          }
          pg.discoveryFilter = { value: tok.value as DiscoveryFilter, pos: tok.pos };
          break;
        }
        case 'offload': {
          this.#once(pg.offload, k);
          const tok = this.#value(k, 'an ICL driver name');
          pg.offload = { value: tok.value, pos: tok.pos };
          break;
        }
        case 'nic': {
          this.#once(pg.nic, k);
          const tok = this.#value(k, 'a NIC driver name');
          pg.nic = { value: tok.value, pos: tok.pos };
          break;
        }
        case 'option':
          this.#option(k, pg.options);
          break;
        case 'redirect':
          this.#once(pg.redirect, k);
          pg.redirect = this.#redirect(k);
          break;
        case 'tag':
          this.#once(pg.tag, k);
          pg.tag = this.#count(k, 'a portal group tag', 0, 0xffff);
          break;
        case 'target-port-group':
          this.#once(pg.targetPortGroup ?? null, k);
          pg.targetPortGroup = this.#count(k, 'a target port group id', 1, 0xffff);
          break;
        case 'relative-target-port':
          this.#once(pg.relativeTargetPort ?? null, k);
          pg.relativeTargetPort = this.#count(k, 'a relative target port identifier', 1, 0xffff);
          break;
        default:
          this.#unsupportedOrUnknown(k, `in portal-group "${pg.name}"`);
      }
    });
  }

  #target(kw: Token): void {
    const name = this.#value(kw, 'a target name');
    const check = checkIscsiName(name.value);
    if (check.error !== null) throw err(ConfigErrorCode.BadValue, name.pos, `invalid target name "${name.value}": ${check.error}`);
    const norm = normalizeIscsiName(name.value);
    const prev = this.targets.find((t) => normalizeIscsiName(t.name) === norm);
    if (prev !== undefined) {
      throw err(ConfigErrorCode.Duplicate, name.pos, `duplicate target "${name.value}" (first defined at line ${prev.pos.line})`);
    }
    const t: TargetDraft = {
      name: name.value,
      pos: name.pos,
      alias: null,
      authGroup: null,
      authType: null,
      inlineAuth: null,
      redirect: null,
      portalGroups: [],
      luns: new Map(),
    };
    this.targets.push(t);
    this.#open(kw, name.value);
    this.#block(kw, name.value, (k) => {
      switch (k.value) {
        case 'alias': {
          this.#once(t.alias, k);
          const tok = this.#value(k, 'an alias');
          if (Buffer.byteLength(tok.value) > MAX_TEXT_VALUE_BYTES) {
            throw err(ConfigErrorCode.BadValue, tok.pos, `alias longer than ${MAX_TEXT_VALUE_BYTES} bytes`);
          }
          t.alias = { value: tok.value, pos: tok.pos };
          break;
        }
        case 'auth-group': {
          this.#once(t.authGroup, k);
          if (t.inlineAuth !== null) {
            throw err(ConfigErrorCode.Duplicate, k.pos, `cannot use both auth-group and inline auth settings (auth-type, chap, initiator-name...) in target "${t.name}" (line ${t.inlineAuth.pos.line})`);
          }
          const tok = this.#value(k, 'an auth-group name');
          t.authGroup = this.#authGroupName(tok);
          break;
        }
        case 'auth-type':
        case 'chap':
        case 'chap-mutual':
        case 'initiator-name':
        case 'initiator-portal': {
          if (t.authGroup !== null) {
            throw err(ConfigErrorCode.Duplicate, k.pos, `cannot use both auth-group and ${k.value} in target "${t.name}" (auth-group at line ${t.authGroup.pos.line})`);
          }
          if (k.value === 'auth-type') this.#once(t.authType, k);
          t.inlineAuth ??= { name: `target ${t.name}`, pos: k.pos, type: null, chap: [], initiatorNames: [], initiatorPortals: [] };
          this.#authEntry(k, t.inlineAuth, `target "${t.name}"`);
          if (k.value === 'auth-type') t.authType = t.inlineAuth.type;
          break;
        }
        case 'redirect':
          this.#once(t.redirect, k);
          t.redirect = this.#redirect(k);
          break;
        case 'peer-port-group': {
          const group = this.#count(k, 'a target port group id', 1, 0xffff);
          const port = this.#count(k, 'a relative target port identifier', 1, 0xffff);
          (t.peerPorts ??= []).push({ value: { group: group.value, port: port.value }, pos: group.pos });
          break;
        }
        case 'portal-group': {
          const pgName = this.#value(k, 'a portal group name');
          const agTok = this.#optionalValue();
          const auth = agTok === null ? null : this.#authGroupName(agTok);
          const dup = t.portalGroups.find((p) => p.value.name === pgName.value);
          if (dup !== undefined) {
            throw err(ConfigErrorCode.Duplicate, pgName.pos, `duplicate portal-group "${pgName.value}" (already at line ${dup.pos.line})`);
          }
          t.portalGroups.push({ value: { name: pgName.value, auth }, pos: pgName.pos });
          break;
        }
        case 'lun': {
          const numTok = this.#value(k, 'a LUN number');
          const n = parseCount(numTok.value);
          if (n === null || n >= MAX_TARGET_LUNS) {
            throw err(ConfigErrorCode.BadValue, numTok.pos, `invalid LUN number "${numTok.value}": expected 0 to ${MAX_TARGET_LUNS - 1}`);
          }
          const dup = t.luns.get(n);
          if (dup !== undefined) {
            throw err(ConfigErrorCode.Duplicate, numTok.pos, `duplicate lun ${n} (already at line ${dup.pos.line})`);
          }
          if (this.#peek()?.type === TokenType.Open) {
            t.luns.set(n, { value: this.#lunBody(k, `${t.name},lun,${n}`, numTok.pos), pos: numTok.pos });
          } else {
            const ref = this.#value(k, 'a LUN name or "{"');
            t.luns.set(n, { value: ref.value, pos: ref.pos });
          }
          break;
        }
        default:
          this.#unsupportedOrUnknown(k, `in target "${t.name}"`);
      }
    });
  }

  /** Parses `{ ... }` of a LUN (the name was already read). */
  #lunBody(kw: Token, name: string, pos: SourcePos): LunDraft {
    const lun: LunDraft = {
      name,
      pos,
      backend: null,
      path: null,
      size: null,
      blockSize: null,
      serial: null,
      deviceId: null,
      ctlLun: null,
      options: new Map(),
    };
    this.#open(kw, name);
    this.#block(kw, name, (k) => {
      switch (k.value) {
        case 'backend': {
          this.#once(lun.backend, k);
          const tok = this.#value(k, 'a backend name');
          // Checked against the registered backends in resolve.ts.
          lun.backend = { value: tok.value, pos: tok.pos };
          break;
        }
        case 'path': {
          this.#once(lun.path, k);
          const tok = this.#value(k, 'a path');
          if (tok.value === '') throw err(ConfigErrorCode.BadValue, tok.pos, 'empty path');
          lun.path = { value: tok.value, pos: tok.pos };
          break;
        }
        case 'size': {
          this.#once(lun.size, k);
          const tok = this.#value(k, 'a size');
          const size = parseSize(tok.value);
          if (size === null || size === 0) {
            throw err(ConfigErrorCode.BadValue, tok.pos, `invalid size "${tok.value}": expected a positive number of bytes with an optional K, M, G, T, P or E suffix`);
          }
          lun.size = { value: size, pos: tok.pos };
          break;
        }
        case 'blocksize': {
          this.#once(lun.blockSize, k);
          const tok = this.#value(k, 'a block size');
          const bs = parseSize(tok.value);
          if (bs === null || bs < 512 || bs > 65536 || (bs & (bs - 1)) !== 0) {
            throw err(ConfigErrorCode.BadValue, tok.pos, `invalid blocksize "${tok.value}": expected a power of two from 512 to 65536`);
          }
          lun.blockSize = { value: bs, pos: tok.pos };
          break;
        }
        case 'serial': {
          this.#once(lun.serial, k);
          const tok = this.#value(k, 'a serial number');
          if (!/^[\x21-\x7e]{1,64}$/.test(tok.value)) {
            throw err(ConfigErrorCode.BadValue, tok.pos, `invalid serial "${tok.value}": expected 1-64 printable ASCII characters without blanks`);
          }
          lun.serial = { value: tok.value, pos: tok.pos };
          break;
        }
        case 'device-id': {
          this.#once(lun.deviceId, k);
          const tok = this.#value(k, 'a device id');
          if (!/^[\x20-\x7e]{1,64}$/.test(tok.value)) {
            throw err(ConfigErrorCode.BadValue, tok.pos, `invalid device-id "${tok.value}": expected 1-64 printable ASCII characters`);
          }
          lun.deviceId = { value: tok.value, pos: tok.pos };
          break;
        }
        case 'ctl-lun':
          this.#once(lun.ctlLun, k);
          lun.ctlLun = this.#count(k, 'a CTL LUN id', 0, MAX_TARGET_LUNS - 1);
          break;
        case 'device-type': {
          const tok = this.#value(k, 'a device type');
          if (!['disk', 'direct', '0'].includes(tok.value)) {
            throw err(ConfigErrorCode.Unsupported, tok.pos, `device-type "${tok.value}": only disk (0) is supported`);
          }
          break;
        }
        case 'option':
          this.#option(k, lun.options);
          break;
        default:
          this.#unsupportedOrUnknown(k, `in lun "${name}"`);
      }
    });
    return lun;
  }
}

/**
 * Parses and checks a whole configuration. `file` is used in messages.
 * Throws `ConfigError` on the first problem.
 */
export function parseConfig(text: string, file: string, plugPoints?: PlugPointNames): DaemonConfig {
  // A UTF-8 byte order mark (editors on Windows write one) is not part of the text.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let p: Parser;
  try {
    p = new Parser(body, file);
    p.parse();
  } catch (e) {
    // A UCL file (ctld -u) fails somewhere in its first lines; say what it is.
    const ucl = e instanceof ConfigError ? detectUcl(body, file) : null;
    if (ucl !== null) {
      throw new ConfigError(
        ConfigErrorCode.Syntax,
        ucl.pos,
        `this looks like a UCL configuration (the syntax of "ctld -u"; here ${ucl.reason}), which is not supported: write it in the ctl.conf(5) block syntax (see docs/ctl.conf.example)`,
        { cause: e },
      );
    }
    throw e;
  }
  return resolveConfig(p, plugPoints);
}
