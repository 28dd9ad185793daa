/**
 * 32-bit serial number arithmetic (RFC 1982), as RFC 7143 §4.2.2.1 requires
 * for CmdSN and StatSN comparisons.
 *
 * What it does: `serialLt(a, b)` — is `a` before `b` on the 2^32 circle.
 * What it does not do: no window logic (the frontend owns the CmdSN window).
 */
export function serialLt(a: number, b: number): boolean {
  const x = a >>> 0;
  const y = b >>> 0;
  return x !== y && ((x < y && y - x < 0x80000000) || (x > y && x - y > 0x80000000));
}
