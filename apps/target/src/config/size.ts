/**
 * Sizes and numbers as written in `ctl.conf` (FreeBSD `expand_number(3)`).
 *
 * What it does: parses an unsigned decimal integer with an optional unit
 * letter — B, K, M, G, T, P or E, either case, powers of 1024 — into a
 * number of bytes; plain numbers for counts and tags.
 *
 * What it does not do: no fractions ("1.5G"), no "KB"/"KiB" spellings, and
 * nothing above `Number.MAX_SAFE_INTEGER` (8 PiB - 1), which is far beyond
 * any LUN this target serves.
 */

const UNITS: Record<string, number> = {
  b: 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50,
  e: 2 ** 60,
};

/** `"10G"` → 10737418240; null when not a valid size. */
export function parseSize(text: string): number | null {
  const m = /^(\d+)([bkmgtpeBKMGTPE]?)$/.exec(text);
  if (m === null) return null;
  const base = Number(m[1]);
  const unit = m[2] === '' || m[2] === undefined ? 1 : UNITS[m[2].toLowerCase()]!;
  const value = base * unit;
  if (!Number.isSafeInteger(value)) return null;
  return value;
}

/** A plain unsigned decimal (or 0x hex) integer; null when not one. */
export function parseCount(text: string): number | null {
  let value: number;
  if (/^\d+$/.test(text)) value = Number(text);
  else if (/^0[xX][0-9a-fA-F]+$/.test(text)) value = Number.parseInt(text.slice(2), 16);
  else return null;
  return Number.isSafeInteger(value) ? value : null;
}

/** Human-readable size for logs: 1073741824 → "1 GiB". */
export function formatSize(bytes: number): string {
  const names = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (i < names.length - 1 && v >= 1024 && v % 1024 === 0) {
    v /= 1024;
    i++;
  }
  if (i === 0 && bytes >= 1024) {
    // Not a whole number of KiB: show one decimal of the largest unit.
    let f = bytes;
    let k = 0;
    while (k < names.length - 1 && f >= 1024) {
      f /= 1024;
      k++;
    }
    return `${f.toFixed(1)} ${names[k]}`;
  }
  return `${v} ${names[i]}`;
}
