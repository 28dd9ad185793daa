/**
 * iSCSI text keys (`key=value\0...`) for the raw test client. RFC 7143 §6.1.
 *
 * What this module does: encodes a list of pairs — or verbatim strings, so a
 * test can send malformed text such as a key without '=' — and decodes the
 * target's answer into an ordered map.
 * What it does not do: no negotiation logic and no validation: the point is to
 * be able to send anything.
 */

/** One entry of a text data segment: `[key, value]`, or a verbatim string sent as is (plus the NUL). */
export type TextEntry = string | readonly [string, string];

/** Encodes entries as NUL-terminated UTF-8 strings. */
export function encodeText(entries: readonly TextEntry[]): Buffer {
  const parts = entries.map((e) => (typeof e === 'string' ? e : `${e[0]}=${e[1]}`) + '\0');
  return Buffer.from(parts.join(''), 'utf8');
}

/**
 * Decodes a text data segment. Later duplicates overwrite earlier ones; a
 * string without '=' is kept under its own name with an empty value so tests
 * can see it.
 */
export function decodeText(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of data.toString('utf8').split('\0')) {
    if (s === '') continue;
    const eq = s.indexOf('=');
    if (eq === -1) out.set(s, '');
    else out.set(s.slice(0, eq), s.slice(eq + 1));
  }
  return out;
}

/** Key name of an entry. */
export function entryKey(e: TextEntry): string {
  if (typeof e !== 'string') return e[0];
  const eq = e.indexOf('=');
  return eq === -1 ? e : e.slice(0, eq);
}
