/**
 * REPORT LUNS parameter data (SPC-4 §6.33) and the single-level LUN
 * encoding (SAM-5 LUN structure): peripheral device addressing for LUNs below 256,
 * flat space addressing for 256..16383.
 *
 * Does NOT decide which LUNs an initiator sees (the core does, from the
 * port's LUN map). The buffer returned is freshly allocated, owned by the
 * caller.
 */

/** Largest LUN encodable with flat space addressing. */
export const MAX_FLAT_LUN = 0x3fff;

/** Writes the 8-byte LUN structure of `lun` at `offset`. */
export function encodeLun(buf: Buffer, offset: number, lun: number): void {
  if (!Number.isInteger(lun) || lun < 0 || lun > MAX_FLAT_LUN) throw new RangeError(`LUN ${lun} not encodable`);
  buf.fill(0, offset, offset + 8);
  if (lun < 256) {
    // Peripheral device addressing method (00b), bus identifier 0.
    buf[offset + 1] = lun;
  } else {
    // Flat space addressing method (01b).
    buf[offset] = 0x40 | (lun >> 8);
    buf[offset + 1] = lun & 0xff;
  }
}

/** Decodes a single-level LUN structure (peripheral or flat); null otherwise. */
export function decodeLun(buf: Buffer, offset = 0): number | null {
  const b0 = buf[offset] ?? 0;
  const b1 = buf[offset + 1] ?? 0;
  for (let i = 2; i < 8; i++) if ((buf[offset + i] ?? 0) !== 0) return null;
  const method = b0 >> 6;
  if (method === 0 && (b0 & 0x3f) === 0) return b1;
  if (method === 1) return ((b0 & 0x3f) << 8) | b1;
  return null;
}

/** REPORT LUNS parameter data for `luns` (already sorted ascending). */
export function buildReportLuns(luns: readonly number[]): Buffer {
  const buf = Buffer.alloc(8 + 8 * luns.length);
  buf.writeUInt32BE(8 * luns.length, 0); // LUN LIST LENGTH
  let off = 8;
  for (const lun of luns) {
    encodeLun(buf, off, lun);
    off += 8;
  }
  return buf;
}
