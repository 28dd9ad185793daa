/**
 * The defaults `IclConnBase` gives a driver that always copies (DESIGN.md
 * §3.1 "a default for drivers that always copy"): `noCopy` data is copied
 * and counted as copied, its reference is never retained, the caller may
 * reuse its Buffer at once, and the default `pduQueueCb` completes exactly
 * once, never synchronously, with an error once the connection is closing.
 * Also `pduFree` of a borrowed, never-queued PDU releases its references.
 */
import { describe, expect, it } from 'vitest';
import { CopyCounters } from '../src/index.js';
import { IclConnBase, type NicConn, type Pdu } from '../src/kpi.js';

class CopyingConn extends IclConnBase {
  readonly offload = 'copying-test';
  readonly queued: Buffer[] = [];
  closing = false;
  readonly #borrow: boolean;

  constructor(borrow: boolean, counters: CopyCounters) {
    super({ name: 'test', counters });
    this.#borrow = borrow;
  }

  protected override get canBorrow(): boolean {
    return this.#borrow;
  }

  get disconnecting(): boolean {
    return this.closing;
  }

  /** "Transmits" by taking a snapshot of the data segment, then frees the PDU. */
  pduQueue(pdu: Pdu): void {
    this.queued.push(Buffer.concat(pdu.data.map((c) => c.buf)));
    this.pduFree(pdu);
  }

  handoff(_nic: NicConn): void {}
  close(): void {
    this.closing = true;
  }
  free(): void {}
}

/** A driver that overrides nothing optional: it must get the copying defaults. */
class PlainConn extends IclConnBase {
  readonly offload = 'plain-test';
  get disconnecting(): boolean {
    return false;
  }
  pduQueue(pdu: Pdu): void {
    this.pduFree(pdu);
  }
  handoff(_nic: NicConn): void {}
  close(): void {}
  free(): void {}
}

function countingRef() {
  const ref = { retained: 0, released: 0, retain: () => void ref.retained++, release: () => void ref.released++ };
  return ref;
}

describe('IclConnBase defaults for a copying driver', () => {
  it('a driver that keeps the default pduQueueCb does not borrow: canBorrow defaults to false', () => {
    const counters = new CopyCounters();
    const conn = new PlainConn({ name: 'plain', counters });
    const pdu = conn.newPdu();
    const ref = countingRef();
    conn.pduAppendData(pdu, Buffer.from('abcd'), { noCopy: true, ref });
    expect(ref.retained).toBe(0);
    expect(pdu.data[0]?.ref).toBeNull();
    expect(counters.snapshot()).toEqual({ copiedIn: 0, copiedOut: 4, referencedIn: 0, referencedOut: 0 });
    conn.pduFree(pdu);
  });

  it('copies noCopy data, counts it as copied, never retains the reference', () => {
    const counters = new CopyCounters();
    const conn = new CopyingConn(false, counters);
    const pdu = conn.newPdu();
    const src = Buffer.from('abcdefgh');
    const ref = countingRef();
    conn.pduAppendData(pdu, src, { noCopy: true, ref });
    src.fill(0x7a); // the caller reuses its buffer at once
    expect(ref.retained).toBe(0);
    expect(counters.snapshot()).toEqual({ copiedIn: 0, copiedOut: 8, referencedIn: 0, referencedOut: 0 });
    conn.pduQueue(pdu);
    expect(conn.queued[0]!.toString()).toBe('abcdefgh');
    expect(ref.released).toBe(0);
  });

  it('default pduQueueCb: exactly once, on a later turn, null error while open', async () => {
    const conn = new CopyingConn(false, new CopyCounters());
    const calls: Array<Error | null> = [];
    const pdu = conn.newPdu();
    conn.pduQueueCb(pdu, (p, err) => {
      expect(p).toBe(pdu);
      calls.push(err);
    });
    expect(calls).toEqual([]); // never synchronous
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([null]);
  });

  it('default pduQueueCb after close: completes with an error, once', async () => {
    const conn = new CopyingConn(false, new CopyCounters());
    conn.close();
    const calls: Array<Error | null> = [];
    conn.pduQueueCb(conn.newPdu(), (_p, err) => calls.push(err));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toBeInstanceOf(Error);
  });

  it('a borrowing driver retains once per chunk; pduFree of an unqueued PDU releases each once', () => {
    const counters = new CopyCounters();
    const conn = new CopyingConn(true, counters);
    const pdu = conn.newPdu();
    const ref = countingRef();
    conn.pduAppendData(pdu, Buffer.alloc(100), { noCopy: true, ref });
    conn.pduAppendData(pdu, Buffer.alloc(50), { noCopy: true, ref });
    conn.pduAppendData(pdu, Buffer.alloc(0), { noCopy: true, ref }); // empty: nothing borrowed
    expect(ref.retained).toBe(2);
    expect(counters.referencedOut).toBe(150);
    conn.pduFree(pdu);
    expect(ref.released).toBe(2);
    conn.pduFree(pdu);
    expect(ref.released).toBe(2);
    expect(pdu.dataLength).toBe(0);
  });
});
