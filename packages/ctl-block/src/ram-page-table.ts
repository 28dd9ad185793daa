/**
 * Thin RAM storage for the RAM disk: fixed-size pages allocated on first
 * write, kept in a map keyed by page index (FreeBSD's ramdisk uses an
 * indirection tree; a Map is the JS equivalent). Unwritten pages read as
 * views of ONE zero page per page size, shared by every RAM disk in the
 * process, which nothing ever writes (Buffers cannot be frozen; frontends
 * treat Data-In buffers as read-only by contract).
 *
 * Reads are zero-copy: they return views of the pages and pin those pages
 * (`RamPin`, with the module-level `ramKernDataRef`). Because a frontend may
 * still be sending those views after the command completed (and the core no
 * longer orders a later write against it), a write to a page with pins does
 * COPY-ON-WRITE: it fills a fresh page (copying the old contents only when
 * the write does not cover the whole page) and swaps it into the map; the
 * pinned old page stays untouched for its readers and is collected when
 * their views are gone. A pin holds only page objects — never the table, the
 * LUN or an I/O.
 *
 * UNMAP (`deallocate`) drops every page the range covers entirely (a pinned
 * page stays intact for its readers and is collected when they let go) and
 * zeroes the covered part of the others, dropping a page that ends up all
 * zeros; a dropped page reads as the zero page again, so deallocated blocks
 * read as zeros (LBPRZ). `allocationAt` reports which pages exist.
 *
 * It does not do persistence or locking (all calls are synchronous on the
 * event loop).
 */
import { RefCountError } from './errors.js';
import { SgReader } from './sg-list.js';

/** One RAM disk page (exported for typing only). */
export interface RamPage {
  buf: Buffer;
  /** Outstanding pins (references held through `RamPin`s). */
  pins: number;
}

const zeroPages = new Map<number, Buffer>();

/** The shared, never-written zero page of a page size. */
function zeroPage(pageSize: number): Buffer {
  let page = zeroPages.get(pageSize);
  if (page === undefined) {
    page = Buffer.alloc(pageSize);
    zeroPages.set(pageSize, page);
  }
  return page;
}

let adjustPin: (pin: RamPin, diff: number) => void;

/** Pins on the pages behind one read piece; count starts at 1. */
export class RamPin {
  #pages: RamPage[];
  #refcnt = 1;

  constructor(pages: RamPage[]) {
    this.#pages = pages;
    for (const p of pages) p.pins++;
  }

  get refcnt(): number {
    return this.#refcnt;
  }

  static {
    adjustPin = (pin: RamPin, diff: number): void => {
      if (!Number.isInteger(diff)) throw new RefCountError(`kernDataRef diff must be an integer, got ${diff}`);
      if (pin.#refcnt === 0) throw new RefCountError('kernDataRef on a RAM disk piece that was already released');
      const next = pin.#refcnt + diff;
      if (next < 0) throw new RefCountError(`kernDataRef would make the count negative (${pin.#refcnt} ${diff})`);
      pin.#refcnt = next;
      if (next === 0) {
        for (const p of pin.#pages) p.pins--;
        pin.#pages = [];
      }
    };
  }
}

/** `kernDataRef` of RAM disk reads: ±1 on the `RamPin` passed as `arg`. */
export function ramKernDataRef(arg: unknown, diff: number): void {
  if (!(arg instanceof RamPin)) throw new RefCountError('kernDataRef: kernDataArg is not a RAM disk pin');
  adjustPin(arg, diff);
}

/** Error thrown when a write needs more pages than the memory limit allows (mapped to sense like ENOSPC). */
export class RamSpaceError extends Error {
  readonly code = 'ENOSPC';
  constructor(needed: number, limit: number) {
    super(`RAM disk memory limit reached: ${needed} more pages needed, limit ${limit} pages`);
    this.name = 'RamSpaceError';
  }
}

export class RamPageTable {
  readonly pageSize: number;
  /** Most pages that may hold data; writes needing more fail with `RamSpaceError`. */
  maxPages: number;
  readonly #zeroPage: Buffer;
  #pages = new Map<number, RamPage>();
  #cowCopies = 0;

  constructor(pageSize: number, maxPages: number) {
    this.pageSize = pageSize;
    this.maxPages = maxPages;
    this.#zeroPage = zeroPage(pageSize);
  }

  /** Pages holding data. */
  get allocatedPages(): number {
    return this.#pages.size;
  }

  /** Writes that had to copy a pinned page. */
  get cowCopies(): number {
    return this.#cowCopies;
  }

  /**
   * Views of `[offset, offset + length)` and a pin (one reference held by
   * the caller) that keeps later writes from modifying them. The views are
   * read-only for everyone.
   */
  read(offset: number, length: number): { sgList: Buffer[]; pin: RamPin } {
    const ps = this.pageSize;
    const sgList: Buffer[] = [];
    const pinned: RamPage[] = [];
    for (let pos = offset, end = offset + length; pos < end; ) {
      const index = Math.floor(pos / ps);
      const inPage = pos - index * ps;
      const n = Math.min(ps - inPage, end - pos);
      const page = this.#pages.get(index);
      const src = page ? page.buf : this.#zeroPage;
      if (page) pinned.push(page);
      sgList.push(n === ps ? src : src.subarray(inPage, inPage + n));
      pos += n;
    }
    return { sgList, pin: new RamPin(pinned) };
  }

  /**
   * Stores `sgList` at `offset`. Throws `RamSpaceError` (before writing
   * anything) if new pages would exceed `maxPages`. The views are not kept.
   */
  write(sgList: readonly Buffer[], offset: number): void {
    let length = 0;
    for (const b of sgList) length += b.length;
    const ps = this.pageSize;
    const first = Math.floor(offset / ps);
    const last = Math.floor((offset + length - 1) / ps);
    let needed = 0;
    for (let i = first; i <= last; i++) if (!this.#pages.has(i)) needed++;
    if (this.#pages.size + needed > this.maxPages) throw new RamSpaceError(needed, this.maxPages);

    const reader = new SgReader(sgList);
    for (let pos = offset, end = offset + length; pos < end; ) {
      const index = Math.floor(pos / ps);
      const inPage = pos - index * ps;
      const n = Math.min(ps - inPage, end - pos);
      const page = this.#writablePage(index, inPage === 0 && n === ps);
      reader.copyTo(page.buf, inPage, n);
      pos += n;
    }
  }

  /** Forgets data at and beyond byte `size` (pinned pages stay intact for their readers). */
  truncate(size: number): void {
    const ps = this.pageSize;
    const keep = Math.ceil(size / ps);
    for (const index of [...this.#pages.keys()]) if (index >= keep) this.#pages.delete(index);
    const tail = size % ps;
    if (tail !== 0 && this.#pages.has(keep - 1)) this.#writablePage(keep - 1, false).buf.fill(0, tail);
  }

  /**
   * Deallocates `[offset, offset + length)`: whole pages are dropped, the
   * covered part of partial pages is zeroed (and the page dropped if it is
   * then all zeros). Never allocates a new page; may copy a pinned partial
   * page (copy-on-write) to zero it.
   */
  deallocate(offset: number, length: number): void {
    const ps = this.pageSize;
    const end = offset + length;
    for (let pos = offset; pos < end; ) {
      const index = Math.floor(pos / ps);
      const inPage = pos - index * ps;
      const n = Math.min(ps - inPage, end - pos);
      if (this.#pages.has(index)) {
        if (n === ps) {
          this.#pages.delete(index);
        } else {
          const page = this.#writablePage(index, false);
          page.buf.fill(0, inPage, inPage + n);
          if (page.buf.equals(this.#zeroPage)) this.#pages.delete(index);
        }
      }
      pos += n;
    }
  }

  /**
   * Whether the byte at `offset` is in an allocated page, and for how many
   * bytes (at most `limit`) that stays so.
   */
  allocationAt(offset: number, limit: number): { mapped: boolean; length: number } {
    const ps = this.pageSize;
    const first = Math.floor(offset / ps);
    const mapped = this.#pages.has(first);
    let length = Math.min(limit, (first + 1) * ps - offset);
    for (let index = first + 1; length < limit && this.#pages.has(index) === mapped; index++) {
      length = Math.min(limit, length + ps);
    }
    return { mapped, length };
  }

  /** Drops every page. */
  clear(): void {
    this.#pages.clear();
  }

  /** The page at `index`, allocated or copied-on-write so it may be modified now. */
  #writablePage(index: number, overwriteWhole: boolean): RamPage {
    const page = this.#pages.get(index);
    if (page !== undefined && page.pins === 0) return page;
    let buf: Buffer;
    if (page === undefined) {
      // Fresh page: zeroed unless the write covers it entirely.
      buf = overwriteWhole ? Buffer.allocUnsafeSlow(this.pageSize) : Buffer.alloc(this.pageSize);
    } else {
      buf = Buffer.allocUnsafeSlow(this.pageSize);
      if (!overwriteWhole) page.buf.copy(buf);
      this.#cowCopies++;
    }
    const fresh: RamPage = { buf, pins: 0 };
    this.#pages.set(index, fresh);
    return fresh;
  }
}
