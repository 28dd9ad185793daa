// A pooled-buffer model for tests (the block backend's `beio` buffers,
// DESIGN.md §3.1): a buffer goes back to the pool when its reference count
// reaches zero, and is poisoned at once — as if the pool reused it — so any
// transport still reading it would put garbage on the wire.
import type { BufRef } from '@iscsi-target/icl-core';

export class PooledBuffer implements BufRef {
  readonly buf: Buffer;
  readonly #pool: TestBufferPool;
  count = 1;

  constructor(pool: TestBufferPool, buf: Buffer) {
    this.#pool = pool;
    this.buf = buf;
  }

  retain(): void {
    if (this.count === 0) throw new Error('retain of a buffer already back in the pool');
    this.count++;
  }

  release(): void {
    if (this.count === 0) {
      this.#pool.overReleases++;
      throw new Error('release of a buffer already back in the pool');
    }
    if (--this.count === 0) this.#pool.giveBack(this);
  }
}

export class TestBufferPool {
  readonly free: Buffer[] = [];
  readonly bufferSize: number;
  outstanding = 0;
  overReleases = 0;

  constructor(count: number, bufferSize: number) {
    this.bufferSize = bufferSize;
    for (let i = 0; i < count; i++) this.free.push(Buffer.alloc(bufferSize));
  }

  /** A buffer with one reference held by the caller (the owner's). */
  acquire(): PooledBuffer {
    const buf = this.free.pop();
    if (buf === undefined) throw new Error('pool exhausted');
    this.outstanding++;
    return new PooledBuffer(this, buf);
  }

  giveBack(p: PooledBuffer): void {
    p.buf.fill(0xdd);
    this.free.push(p.buf);
    this.outstanding--;
  }
}
