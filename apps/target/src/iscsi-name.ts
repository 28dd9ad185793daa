/**
 * iSCSI names (RFC 7143 §4.2.7, RFC 3722): checking and comparing the
 * `iqn.`, `eui.` and `naa.` names of initiators and targets.
 *
 * What it does: `checkIscsiName` separates hard errors (empty, longer than
 * 223 bytes, control characters or blanks — a name we cannot even log
 * safely) from format warnings (unknown prefix, characters outside
 * `[a-z0-9.:-]`, wrong EUI/NAA length), like ctld's `valid_iscsi_name()`,
 * which only warns about the latter so odd but working initiators still log
 * in. `normalizeIscsiName` lower-cases ASCII, which is what the stringprep
 * profile of RFC 3722 does for the names real initiators send, so names
 * compare case-insensitively.
 *
 * What it does not do: no full stringprep/Unicode normalisation.
 */

/** RFC 7143 §4.2.7.1: "iSCSI names ... up to 223 bytes". */
export const MAX_ISCSI_NAME_BYTES = 223;

export interface NameCheck {
  /** Set when the name must be refused. */
  readonly error: string | null;
  /** Set when the name is usable but not well-formed. */
  readonly warning: string | null;
}

export function checkIscsiName(name: string): NameCheck {
  if (name.length === 0) return { error: 'empty iSCSI name', warning: null };
  if (Buffer.byteLength(name, 'utf8') > MAX_ISCSI_NAME_BYTES) {
    return { error: `iSCSI name longer than ${MAX_ISCSI_NAME_BYTES} bytes`, warning: null };
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]/.test(name)) {
    return { error: 'iSCSI name contains blanks or control characters', warning: null };
  }
  const lower = name.toLowerCase();
  if (lower.startsWith('iqn.')) {
    if (!/^iqn\.\d{4}-\d{2}\.[^:]+/.test(lower)) {
      return { error: null, warning: `"${name}" is not of the form iqn.YYYY-MM.reversed.domain[:id]` };
    }
    if (!/^[a-z0-9.:-]+$/.test(lower)) {
      return { error: null, warning: `"${name}" has characters other than letters, digits, ".", "-" and ":"` };
    }
    return { error: null, warning: null };
  }
  if (lower.startsWith('eui.')) {
    if (!/^eui\.[0-9a-f]{16}$/.test(lower)) {
      return { error: null, warning: `"${name}" is not of the form eui. followed by 16 hex digits` };
    }
    return { error: null, warning: null };
  }
  if (lower.startsWith('naa.')) {
    if (!/^naa\.(?:[0-9a-f]{16}|[0-9a-f]{32})$/.test(lower)) {
      return { error: null, warning: `"${name}" is not of the form naa. followed by 16 or 32 hex digits` };
    }
    return { error: null, warning: null };
  }
  return { error: null, warning: `"${name}" should start with "iqn.", "eui." or "naa."` };
}

/** The comparison form of an iSCSI name (ASCII lower case). */
export function normalizeIscsiName(name: string): string {
  return name.toLowerCase();
}
