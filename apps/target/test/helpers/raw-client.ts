/**
 * A minimal raw iSCSI client for integration tests: writes hand-built PDUs
 * on a `net` socket and parses what comes back (no digests, no AHS).
 */
import net from 'node:net';
import { bhsDataSegmentLength, bhsSetDataSegmentLength, BHS_SIZE } from '@iscsi-target/icl-core';
import { crc32c, digestFromBuffer, digestToBuffer } from '@iscsi-target/icl-core/kpi';

export interface RawPdu {
  readonly bhs: Buffer;
  readonly data: Buffer;
}

export class RawClient {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  #buf = Buffer.alloc(0);
  #queue: RawPdu[] = [];
  #waiters: Array<(p: RawPdu | null) => void> = [];
  #ended = false;
  /** Header digests (CRC32C) on both directions, once negotiated. */
  headerDigest = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      this.#parse();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w(null);
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  #parse(): void {
    for (;;) {
      if (this.#buf.length < BHS_SIZE) return;
      const dsl = bhsDataSegmentLength(this.#buf);
      const padded = (dsl + 3) & ~3;
      const hd = this.headerDigest ? 4 : 0;
      if (this.#buf.length < BHS_SIZE + hd + padded) return;
      const bhs = Buffer.from(this.#buf.subarray(0, BHS_SIZE));
      if (hd > 0 && digestFromBuffer(this.#buf, BHS_SIZE) !== crc32c(bhs)) throw new Error('bad header digest from the target');
      const pdu = { bhs, data: Buffer.from(this.#buf.subarray(BHS_SIZE + hd, BHS_SIZE + hd + dsl)) };
      this.#buf = this.#buf.subarray(BHS_SIZE + hd + padded);
      const w = this.#waiters.shift();
      if (w !== undefined) w(pdu);
      else this.#queue.push(pdu);
    }
  }

  send(bhs: Buffer, data: Buffer = Buffer.alloc(0)): void {
    const b = Buffer.from(bhs);
    bhsSetDataSegmentLength(b, data.length);
    const pad = Buffer.alloc((4 - (data.length % 4)) % 4);
    const digest = this.headerDigest ? [digestToBuffer(crc32c(b))] : [];
    this.socket.write(Buffer.concat([b, ...digest, data, pad]));
  }

  /** The next PDU; rejects after `timeoutMs` or if the connection closes first. */
  recv(timeoutMs = 2000): Promise<RawPdu> {
    const q = this.#queue.shift();
    if (q !== undefined) return Promise.resolve(q);
    if (this.#ended) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i !== -1) this.#waiters.splice(i, 1);
        reject(new Error('timed out waiting for a PDU'));
      }, timeoutMs);
      const waiter = (p: RawPdu | null): void => {
        clearTimeout(timer);
        if (p === null) reject(new Error('connection closed'));
        else resolve(p);
      };
      this.#waiters.push(waiter);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
