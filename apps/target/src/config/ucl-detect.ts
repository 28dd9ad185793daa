/**
 * Recognizes a configuration written in UCL, the syntax `ctld -u` reads
 * (ctld(8), ctl.conf(5) "UCL"), so that it is refused with a message that
 * says so instead of a puzzling syntax error.
 *
 * What it does: `detectUcl(text, file)` returns the position and the reason
 * when the text looks like UCL: a section keyword (`auth-group`,
 * `portal-group`, `transport-group`, `target`, `lun`) starting a statement
 * and directly followed by `{` (in ctl.conf these always take a name; UCL
 * nests the names inside), or a `key = value` assignment. Returns null
 * otherwise. The parser asks only after the file failed to parse, so a valid
 * ctl.conf is never refused by this heuristic.
 *
 * What it does not do: it does not parse UCL (the daemon supports only the
 * ctl.conf block syntax).
 */
import type { SourcePos } from './errors.js';
import { tokenize, TokenType, type Token } from './lexer.js';

const SECTIONS = new Set(['auth-group', 'portal-group', 'transport-group', 'target', 'lun']);

export function detectUcl(text: string, file: string): { pos: SourcePos; reason: string } | null {
  let tokens: Token[];
  try {
    tokens = tokenize(text, file);
  } catch {
    // Not even ctl.conf tokens (UCL has multi-line strings...): look at the lines.
    const m = /^([ \t]*)(auth-group|portal-group|transport-group|target|lun)[ \t]*\{/m.exec(text);
    if (m === null) return null;
    const line = text.slice(0, m.index).split('\n').length;
    return { pos: { file, line, col: m[1]!.length + 1 }, reason: `"${m[2]!} {" without a name` };
  }
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const prev = tokens[i - 1];
    const next = tokens[i + 1];
    if (t.type !== TokenType.Word) continue;
    const statementStart = prev === undefined || prev.type === TokenType.Open || prev.type === TokenType.Close || prev.type === TokenType.Semicolon;
    if (statementStart && SECTIONS.has(t.value) && next?.type === TokenType.Open) {
      return { pos: t.pos, reason: `"${t.value} {" without a name` };
    }
    if (next?.type === TokenType.Word && next.value === '=') {
      return { pos: t.pos, reason: `the assignment "${t.value} ="` };
    }
  }
  return null;
}
