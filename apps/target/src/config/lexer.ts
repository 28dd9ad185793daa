/**
 * Tokenizer for FreeBSD's `ctl.conf` block syntax (the analog of ctld's
 * `token.l`).
 *
 * What it does: turns the text into words, quoted strings, `{`, `}` and `;`
 * tokens with their line and column. `#` starts a comment that runs to the
 * end of the line (outside quotes). Quoted strings run to the next `"` and
 * have no escapes, as in ctld; they may span no newline. Any other run of
 * characters that are not blanks or one of `{ } ; " #` is a word.
 *
 * What it does not do: no keywords — whether a word is a keyword is the
 * parser's business (`target` may also be a LUN path) — and no UCL syntax.
 */
import { ConfigError, ConfigErrorCode, type SourcePos } from './errors.js';

export const TokenType = {
  Word: 'word',
  String: 'string',
  Open: '{',
  Close: '}',
  Semicolon: ';',
} as const;
export type TokenType = (typeof TokenType)[keyof typeof TokenType];

export interface Token {
  readonly type: TokenType;
  /** The word or the string without its quotes; the character otherwise. */
  readonly value: string;
  readonly pos: SourcePos;
}

function isBlank(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\f' || c === '\v';
}

function endsWord(c: string): boolean {
  return isBlank(c) || c === '{' || c === '}' || c === ';' || c === '"' || c === '#';
}

/** Splits `text` (the contents of `file`) into tokens. Throws `ConfigError`. */
export function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (isBlank(c)) {
      i++;
      continue;
    }
    const pos: SourcePos = { file, line, col: i - lineStart + 1 };
    if (c === '#') {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? n : nl;
      continue;
    }
    if (c === '{' || c === '}' || c === ';') {
      tokens.push({ type: c, value: c, pos });
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"' && text[j] !== '\n') j++;
      if (j >= n || text[j] !== '"') {
        throw new ConfigError(ConfigErrorCode.Syntax, pos, 'unterminated quoted string');
      }
      tokens.push({ type: TokenType.String, value: text.slice(i + 1, j), pos });
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < n && !endsWord(text[j]!)) j++;
    tokens.push({ type: TokenType.Word, value: text.slice(i, j), pos });
    i = j;
  }
  return tokens;
}
