/**
 * Helpers over scatter/gather lists (`Buffer[]`, FreeBSD `ctl_sg_entry`
 * arrays): total length, sub-range views, zero-fill, sequential copy out of a
 * list, and comparison of two lists. Every helper works chunk by chunk with
 * native Buffer operations (`subarray`, `fill`, `copy`, `equals`): no
 * per-byte JavaScript loops, no concatenation.
 *
 * Ownership: views returned share memory with the input list; nothing here
 * keeps a reference after returning (except `SgReader`, which holds the list
 * it reads until dropped).
 */

/** Total bytes of a list. */
export function sgLength(list: readonly Buffer[]): number {
  let n = 0;
  for (const b of list) n += b.length;
  return n;
}

/**
 * Views covering `length` bytes of `list` starting at byte `offset` (across
 * chunk boundaries). Throws RangeError if the list is too short.
 */
export function sgView(list: readonly Buffer[], offset: number, length: number): Buffer[] {
  const out: Buffer[] = [];
  let skip = offset;
  let need = length;
  for (const b of list) {
    if (need === 0) break;
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    const take = Math.min(b.length - skip, need);
    out.push(skip === 0 && take === b.length ? b : b.subarray(skip, skip + take));
    need -= take;
    skip = 0;
  }
  if (need !== 0) throw new RangeError(`scatter list too short for ${offset}+${length}`);
  return out;
}

/** Writes `value` over every byte of `list` from byte `offset` to the end. */
export function sgFill(list: readonly Buffer[], offset: number, value = 0): void {
  let skip = offset;
  for (const b of list) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    b.fill(value, skip);
    skip = 0;
  }
}

/** Whether two lists hold the same bytes (they may be chunked differently). */
export function sgEquals(a: readonly Buffer[], b: readonly Buffer[]): boolean {
  if (sgLength(a) !== sgLength(b)) return false;
  let ia = 0;
  let ib = 0;
  let oa = 0;
  let ob = 0;
  while (ia < a.length && ib < b.length) {
    const ca = a[ia] as Buffer;
    const cb = b[ib] as Buffer;
    const n = Math.min(ca.length - oa, cb.length - ob);
    if (n > 0 && !ca.subarray(oa, oa + n).equals(cb.subarray(ob, ob + n))) return false;
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
  return true;
}

/** Sequential reader over a list: copies consecutive bytes into destinations. */
export class SgReader {
  readonly #list: readonly Buffer[];
  #index = 0;
  #offset = 0;

  constructor(list: readonly Buffer[]) {
    this.#list = list;
  }

  /** Copies the next `length` bytes into `dst` at `dstOffset`. Throws RangeError past the end. */
  copyTo(dst: Buffer, dstOffset: number, length: number): void {
    let need = length;
    let at = dstOffset;
    while (need > 0) {
      const chunk = this.#list[this.#index];
      if (chunk === undefined) throw new RangeError('scatter list exhausted');
      const n = Math.min(chunk.length - this.#offset, need);
      chunk.copy(dst, at, this.#offset, this.#offset + n);
      at += n;
      need -= n;
      this.#offset += n;
      if (this.#offset === chunk.length) {
        this.#index++;
        this.#offset = 0;
      }
    }
  }
}
