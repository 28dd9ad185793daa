/**
 * Byte-level helpers for the data-integrity commands of the block backends
 * (the compare / OR halves of FreeBSD `ctl_backend_block.c`'s
 * `ctl_be_block_cw_dispatch` and `ctl_be_block_compare`): find the first
 * differing byte of two scatter lists, compare one block against every block
 * of a range, and OR received data into a copy of the medium.
 *
 * Pure functions over Buffer lists: no storage, no SCSI, no datamove. The
 * inputs are only read; `sgOr` returns a freshly allocated Buffer owned by
 * the caller (ORWRITE must not modify the medium's views in place: RAM disk
 * pages may still be referenced by a Data-In in flight).
 */
import { sgLength } from './sg-list.js';

/**
 * Offset of the first byte where `a` and `b` differ, comparing the first
 * `min(len(a), len(b))` bytes; -1 if those are equal. The lists may be
 * chunked differently.
 */
export function sgFirstDifference(a: readonly Buffer[], b: readonly Buffer[]): number {
  let ia = 0;
  let ib = 0;
  let oa = 0;
  let ob = 0;
  let pos = 0;
  while (ia < a.length && ib < b.length) {
    const ca = a[ia] as Buffer;
    const cb = b[ib] as Buffer;
    const n = Math.min(ca.length - oa, cb.length - ob);
    if (n > 0) {
      const va = ca.subarray(oa, oa + n);
      const vb = cb.subarray(ob, ob + n);
      if (!va.equals(vb)) {
        for (let i = 0; i < n; i++) if (va[i] !== vb[i]) return pos + i;
      }
    }
    pos += n;
    oa += n;
    ob += n;
    if (oa === ca.length) {
      ia++;
      oa = 0;
    }
    if (ob === cb.length) {
      ib++;
      ob = 0;
    }
  }
  return -1;
}

/**
 * Compares `block` (one logical block, possibly chunked) with every
 * `block`-sized slice of `range`; returns the offset within `range` of the
 * first differing byte, or -1 (SBC-3 VERIFY with BYTCHK = 11b).
 */
export function sgFirstDifferenceRepeated(range: readonly Buffer[], block: readonly Buffer[]): number {
  const blockSize = sgLength(block);
  if (blockSize === 0) return -1;
  const flat = block.length === 1 ? (block[0] as Buffer) : Buffer.concat(block);
  let pos = 0;
  for (const chunk of range) {
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] !== flat[(pos + i) % blockSize]) return pos + i;
    }
    pos += chunk.length;
  }
  return -1;
}

/**
 * Returns a new Buffer holding `medium[i] | data[i]` for the first
 * `length` bytes (SBC-3 ORWRITE with ORPROTECT = 000b: a plain OR).
 */
export function sgOr(medium: readonly Buffer[], data: readonly Buffer[], length: number): Buffer {
  const out = Buffer.alloc(length);
  let at = 0;
  for (const chunk of medium) {
    if (at >= length) break;
    const n = Math.min(chunk.length, length - at);
    chunk.copy(out, at, 0, n);
    at += n;
  }
  at = 0;
  for (const chunk of data) {
    if (at >= length) break;
    const n = Math.min(chunk.length, length - at);
    for (let i = 0; i < n; i++) out[at + i] = (out[at + i] as number) | (chunk[i] as number);
    at += n;
  }
  return out;
}
