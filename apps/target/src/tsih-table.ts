/**
 * Target Session Identifying Handles (RFC 7143 §11.12.6, §11.13.4): the
 * non-zero 16-bit handles the target assigns to new sessions.
 *
 * What it does: allocates a TSIH that no live session of this daemon uses
 * (starting at a random point, so handles differ across restarts and an
 * initiator holding a stale one is told "session does not exist"), and
 * releases it when the session ends. Unlike ctld's constant 0xbadd, each
 * live session has its own, which is what login needs to refuse a second
 * connection to a session (MaxConnections=1).
 *
 * What it does not do: no session objects; the owner calls `release`.
 */
import { randomInt } from 'node:crypto';

export class TsihExhaustedError extends Error {
  override readonly name = 'TsihExhaustedError';
  readonly code = 'TARGET_ERR_TSIH_EXHAUSTED';
  constructor() {
    super('all 65535 TSIHs are in use');
  }
}

export class TsihTable {
  readonly #live = new Set<number>();
  #next: number;

  constructor(start = randomInt(1, 0x10000)) {
    this.#next = start;
  }

  /** A new non-zero TSIH. Throws `TsihExhaustedError` if all are live. */
  allocate(): number {
    if (this.#live.size >= 0xffff) throw new TsihExhaustedError();
    for (;;) {
      const t = this.#next;
      this.#next = this.#next >= 0xffff ? 1 : this.#next + 1;
      // RFC 7143 §11.13.4: 0 is reserved.
      if (t !== 0 && !this.#live.has(t)) {
        this.#live.add(t);
        return t;
      }
    }
  }

  release(tsih: number): void {
    this.#live.delete(tsih);
  }

  has(tsih: number): boolean {
    return this.#live.has(tsih);
  }

  get size(): number {
    return this.#live.size;
  }
}
