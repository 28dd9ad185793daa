/**
 * ctld's predefined auth groups and the CHAP secret rules, shared by the
 * parser, the resolver and the embedded default.
 *
 * What it does: `PREDEFINED_AUTH_GROUPS` — `no-authentication` (type
 * `none`), `no-access` and `default` (type `deny`), as ctld's `conf_new()`
 * defines them; `checkChapSecret` — the length rules for CHAP secrets:
 * empty or longer than `MAX_CHAP_SECRET_BYTES` is an error; outside 12..16
 * bytes is a warning, as in ctld (RFC 7143 §12.1.3 asks for secrets of at
 * least 96 bits when CHAP runs without IPsec; Microsoft's initiator refuses
 * secrets outside 12..16 characters).
 *
 * What it does not do: no parsing, no authentication (`auth/chap.ts`).
 */
import type { SourcePos } from './errors.js';
import type { AuthGroupConfig, AuthPolicy } from './model.js';

const PREDEFINED_POS: SourcePos = { file: '<predefined>', line: 0, col: 0 };

function predefined(name: string, type: AuthPolicy): AuthGroupConfig {
  return { name, type, chap: [], initiatorNames: [], initiatorPortals: [], pos: PREDEFINED_POS };
}

/** ctld's predefined auth groups (parse.y / conf.cc `conf_new`). */
export const PREDEFINED_AUTH_GROUPS: ReadonlyMap<string, AuthGroupConfig> = new Map([
  ['no-authentication', predefined('no-authentication', 'none')],
  ['no-access', predefined('no-access', 'deny')],
  ['default', predefined('default', 'deny')],
]);

export const NO_AUTHENTICATION: AuthGroupConfig = PREDEFINED_AUTH_GROUPS.get('no-authentication')!;
export const DENY_ALL: AuthGroupConfig = PREDEFINED_AUTH_GROUPS.get('default')!;

/** An auth group of type `type` with no users or lists (predefined semantics). */
export function plainAuthGroup(type: AuthPolicy): AuthGroupConfig {
  return type === 'none' ? NO_AUTHENTICATION : type === 'deny' ? DENY_ALL : predefined(`<${type}>`, type);
}

/** Longest CHAP secret accepted; RFC 1994 puts no limit, this bounds what a login hashes. */
export const MAX_CHAP_SECRET_BYTES = 255;
/** ctld's recommended secret lengths (warnings outside). */
export const CHAP_SECRET_MIN_RECOMMENDED = 12;
export const CHAP_SECRET_MAX_RECOMMENDED = 16;

/**
 * Checks one secret: returns `{ error }` for an unusable secret,
 * `{ warning }` for one outside the recommended length, or `{}`.
 */
export function checkChapSecret(secret: string, what: string): { error?: string; warning?: string } {
  const len = Buffer.byteLength(secret, 'utf8');
  if (len === 0) return { error: `${what} is empty` };
  if (len > MAX_CHAP_SECRET_BYTES) return { error: `${what} is longer than ${MAX_CHAP_SECRET_BYTES} bytes` };
  if (len < CHAP_SECRET_MIN_RECOMMENDED) return { warning: `${what} is too short (${len} bytes); it should be at least ${CHAP_SECRET_MIN_RECOMMENDED} characters long` };
  if (len > CHAP_SECRET_MAX_RECOMMENDED) return { warning: `${what} is too long (${len} bytes); some initiators accept at most ${CHAP_SECRET_MAX_RECOMMENDED} characters` };
  return {};
}
