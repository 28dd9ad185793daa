/**
 * Configuration errors.
 *
 * What it does: one error class for everything wrong with a configuration
 * file — syntax, unknown keywords, bad values, broken references — carrying
 * the position so the message reads `file:line:col: message` (the shape
 * compilers use, so editors can jump to it).
 *
 * What it does not do: no logging, no exit codes (`main.ts` maps a
 * `ConfigError` to exit status 1).
 */

/** Where something was written in a configuration file (1-based). */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/**
 * `file:line:col`; just `file` for positions without a line (line 0: the
 * embedded default configuration, which has no text to point into).
 */
export function formatPos(pos: SourcePos): string {
  if (pos.line === 0) return pos.file;
  return `${pos.file}:${pos.line}:${pos.col}`;
}

/** Stable codes, one per class of configuration problem. */
export const ConfigErrorCode = {
  /** Lexical or grammatical error (unbalanced braces, missing value...). */
  Syntax: 'CONF_ERR_SYNTAX',
  /** A keyword that ctl.conf does not have in this position. */
  UnknownKeyword: 'CONF_ERR_UNKNOWN_KEYWORD',
  /** A ctl.conf keyword this daemon does not implement yet. */
  Unsupported: 'CONF_ERR_UNSUPPORTED',
  /** A value of the wrong form or out of range. */
  BadValue: 'CONF_ERR_BAD_VALUE',
  /** Something defined or set twice. */
  Duplicate: 'CONF_ERR_DUPLICATE',
  /** A reference to a portal group, LUN or auth group that does not exist. */
  UnknownReference: 'CONF_ERR_UNKNOWN_REFERENCE',
  /** A required statement is missing. */
  Missing: 'CONF_ERR_MISSING',
  /** The file could not be read. */
  Io: 'CONF_ERR_IO',
} as const;
export type ConfigErrorCode = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: ConfigErrorCode;
  readonly pos: SourcePos | null;
  /** The message without the position prefix. */
  readonly detail: string;

  constructor(code: ConfigErrorCode, pos: SourcePos | null, detail: string, options?: { cause?: unknown }) {
    super(pos === null ? detail : `${formatPos(pos)}: ${detail}`, options);
    this.code = code;
    this.pos = pos;
    this.detail = detail;
  }
}
