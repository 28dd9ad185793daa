/**
 * The iSCSI PDU codec (FreeBSD `icl_soft.c` framing): serialization of a
 * `Pdu` into wire parts, and an incremental, zero-copy receive parser.
 *
 * What it does:
 * - `serializePdu` fills the BHS length fields and returns the wire parts in
 *   order (BHS, AHS, header digest, data chunks by reference, padding, data
 *   digest), ready for one vectored write (RFC 7143 §11.2).
 * - `PduParser` turns a stream of received chunks into `Pdu`s whose data
 *   segments are views of those chunks, checking digests (RFC 7143 §11.2.3),
 *   MaxRecvDataSegmentLength (RFC 7143 §13.12) and rejecting AHS.
 *
 * What it does not do: no sockets, no sequence numbers, no knowledge of PDU
 * types beyond the common BHS fields, no copy counting (drivers count).
 *
 * Buffer ownership:
 * - `serializePdu` returns the PDU's own `bhs`, `ahs` and data chunk Buffers
 *   (never copies); the padding parts are views of one shared, read-only
 *   zero Buffer; digest parts are fresh 4-byte Buffers. The transport must
 *   not write into any part, and must keep the PDU's borrowed references
 *   (see `pdu.ts`) until it is done with the bytes.
 * - `PduParser.push(chunk)` takes ownership of `chunk`: the caller must never
 *   write into it again. Returned PDUs hold views of pushed chunks (`ref:
 *   null`, owned by the PDU); the only copy is a BHS that straddles chunks.
 */
import { crc32c, crc32cChunks, digestToBuffer } from './crc32c.js';
import { IclAhsNotSupportedError, IclDataSegmentTooLongError, IclDigestError, IclError } from './errors.js';
import {
  BHS_SIZE,
  Bhs,
  DIGEST_SIZE,
  MAX_DATA_SEGMENT_LENGTH_FIELD,
  PAD_ALIGN,
} from './iscsi-proto.js';
import { bhsAhsLength, bhsDataSegmentLength, bhsSetDataSegmentLength, Pdu } from './pdu.js';

/** Negotiated digests of a connection (RFC 7143 §13.1 HeaderDigest / DataDigest). */
export interface DigestOptions {
  headerDigest: boolean;
  dataDigest: boolean;
}

/** Number of padding bytes after a data segment of `length` bytes (RFC 7143 §11.2.3). */
export function padLength(length: number): number {
  return (PAD_ALIGN - (length & (PAD_ALIGN - 1))) & (PAD_ALIGN - 1);
}

/**
 * Shared padding bytes. Never written: every padding part handed to a
 * transport is one of the three views below (a typed array cannot be
 * frozen, so the guarantee is by construction — nothing exports this).
 */
const ZERO_PAD = Buffer.alloc(PAD_ALIGN);
const PAD_VIEWS: readonly Buffer[] = [
  ZERO_PAD.subarray(0, 0),
  ZERO_PAD.subarray(0, 1),
  ZERO_PAD.subarray(0, 2),
  ZERO_PAD.subarray(0, 3),
];

/** Bytes the PDU occupies on the wire with the given digests. */
export function serializedLength(pdu: Pdu, opts: DigestOptions): number {
  const ahsLength = pdu.ahs?.length ?? 0;
  let n = BHS_SIZE + ahsLength + pdu.dataLength + padLength(pdu.dataLength);
  if (opts.headerDigest) n += DIGEST_SIZE;
  if (opts.dataDigest && pdu.dataLength > 0) n += DIGEST_SIZE;
  return n;
}

/**
 * Writes DataSegmentLength and TotalAHSLength into `pdu.bhs` and returns the
 * wire parts in order. Data chunks are returned by reference, never copied.
 * Throws RangeError if the PDU is malformed (AHS not a multiple of 4 bytes
 * or longer than 1020, data longer than the 24-bit field, `dataLength` not
 * the sum of the chunks).
 */
export function serializePdu(pdu: Pdu, opts: DigestOptions): Buffer[] {
  const { bhs, ahs, data, dataLength } = pdu;
  if (bhs.length !== BHS_SIZE) throw new RangeError(`BHS must be ${BHS_SIZE} bytes`);
  const ahsLength = ahs?.length ?? 0;
  // RFC 7143 §11.2.1.4: TotalAHSLength counts 4-byte words in one byte.
  if ((ahsLength & 3) !== 0 || ahsLength > 255 * 4) {
    throw new RangeError(`AHS length ${ahsLength} is not a multiple of 4 up to 1020`);
  }
  if (dataLength > MAX_DATA_SEGMENT_LENGTH_FIELD) {
    throw new RangeError(`data segment of ${dataLength} bytes does not fit DataSegmentLength`);
  }
  bhs[Bhs.totalAhsLength] = ahsLength >>> 2;
  bhsSetDataSegmentLength(bhs, dataLength);

  const parts: Buffer[] = [bhs];
  if (ahs !== null && ahsLength > 0) parts.push(ahs);
  if (opts.headerDigest) {
    // RFC 7143 §11.2.3: the header digest covers BHS and AHS.
    let crc = crc32c(bhs);
    if (ahs !== null && ahsLength > 0) crc = crc32c(ahs, crc);
    parts.push(digestToBuffer(crc));
  }
  if (dataLength === 0) {
    if (data.some((c) => c.buf.length !== 0)) throw new RangeError('pdu.dataLength does not match its chunks');
    return parts;
  }
  const dataStart = parts.length;
  let sum = 0;
  for (const c of data) {
    if (c.buf.length === 0) continue;
    parts.push(c.buf);
    sum += c.buf.length;
  }
  if (sum !== dataLength) throw new RangeError(`pdu.dataLength ${dataLength} != sum of chunks ${sum}`);
  const pad = padLength(dataLength);
  if (pad !== 0) parts.push(PAD_VIEWS[pad]!);
  if (opts.dataDigest) {
    // RFC 7143 §11.2.3: the data digest covers the data segment and its padding.
    let crc = 0;
    for (let i = dataStart; i < parts.length; i++) crc = crc32c(parts[i]!, crc);
    parts.push(digestToBuffer(crc));
  }
  return parts;
}

/** Receive states, named after the wire part awaited (FreeBSD `ICL_CONN_STATE_*`). */
export const RecvState = {
  Bhs: 'BHS',
  /** Entered when TotalAHSLength != 0; the parser rejects the PDU there. */
  Ahs: 'AHS',
  HeaderDigest: 'HEADER_DIGEST',
  Data: 'DATA',
  DataDigest: 'DATA_DIGEST',
} as const;
export type RecvState = (typeof RecvState)[keyof typeof RecvState];

export interface PduParserOptions {
  headerDigest: boolean;
  dataDigest: boolean;
  /** Our MaxRecvDataSegmentLength (RFC 7143 §13.12); larger PDUs are refused. */
  maxRecvDataSegmentLength: number;
}

/** Compact the chunk queue once this many consumed slots accumulate. */
const QUEUE_COMPACT_THRESHOLD = 64;

/**
 * Incremental receive parser. Push received chunks, then call `next()` until
 * it returns null. Errors are terminal: after a throw every `next()` throws
 * the same error, and `push()` discards its chunk.
 *
 * `headerDigest`, `dataDigest` and `maxRecvDataSegmentLength` may be changed
 * between PDUs (login switches them after the final Login Response); each is
 * sampled when a PDU's BHS is parsed and applies to that whole PDU.
 */
export class PduParser {
  headerDigest: boolean;
  dataDigest: boolean;
  maxRecvDataSegmentLength: number;

  /** Received chunks; those before `#head` are consumed. */
  #chunks: Buffer[] = [];
  #head = 0;
  /** Bytes of `#chunks[#head]` already consumed. */
  #headOffset = 0;
  /** Unconsumed bytes in the queue. */
  #queued = 0;
  /** Bytes pushed and not yet returned as part of a PDU. */
  #buffered = 0;

  #state: RecvState = RecvState.Bhs;
  #error: IclError | null = null;
  /** The PDU being received (after its BHS). */
  #pdu: Pdu | null = null;
  /** Digest settings sampled at the current PDU's BHS. */
  #pduHeaderDigest = false;
  #pduDataDigest = false;
  /** Padding views of the current PDU, kept for the data digest. */
  #padViews: Buffer[] = [];

  constructor(opts: PduParserOptions) {
    this.headerDigest = opts.headerDigest;
    this.dataDigest = opts.dataDigest;
    this.maxRecvDataSegmentLength = opts.maxRecvDataSegmentLength;
  }

  /** Bytes pushed but not yet returned in PDUs (includes a partial PDU); 0 once failed. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Bytes that must still be pushed before `next()` can make progress: the
   * missing part of the wire part awaited (whole data segment plus padding
   * in DATA). 0 if `next()` can progress now. A driver may use it to size
   * reads (FreeBSD `receive_len`, the socket low-water mark).
   */
  get bytesNeeded(): number {
    if (this.#error !== null) return 0;
    return Math.max(0, this.#partLength() - this.#queued);
  }

  /** Bytes of the wire part awaited in the current state. */
  #partLength(): number {
    switch (this.#state) {
      case RecvState.Bhs:
        return BHS_SIZE;
      case RecvState.Ahs:
        return 0; // rejected without reading it
      case RecvState.HeaderDigest:
      case RecvState.DataDigest:
        return DIGEST_SIZE;
      case RecvState.Data: {
        const dataLength = bhsDataSegmentLength(this.#pdu!.bhs);
        return dataLength + padLength(dataLength);
      }
    }
  }

  /** The wire part awaited next. */
  get state(): RecvState {
    return this.#state;
  }

  /** The error that failed the parser, or null. */
  get error(): IclError | null {
    return this.#error;
  }

  /** Hands a received chunk to the parser; the caller must not write into it again. */
  push(chunk: Buffer): void {
    if (this.#error !== null || chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#queued += chunk.length;
    this.#buffered += chunk.length;
  }

  /**
   * The next complete PDU, or null if more bytes are needed. Throws an
   * `IclError` subclass on a protocol violation (terminal).
   */
  next(): Pdu | null {
    if (this.#error !== null) throw this.#error;
    try {
      return this.#step();
    } catch (err) {
      if (err instanceof IclError) {
        this.#fail(err);
      }
      throw err;
    }
  }

  #fail(err: IclError): void {
    this.#error = err;
    this.#chunks = [];
    this.#head = 0;
    this.#headOffset = 0;
    this.#queued = 0;
    this.#buffered = 0;
    this.#pdu = null;
    this.#padViews = [];
  }

  #step(): Pdu | null {
    for (;;) {
      switch (this.#state) {
        case RecvState.Bhs: {
          if (this.#queued < BHS_SIZE) return null;
          const bhs = this.#takeBhs();
          const pdu = new Pdu(bhs);
          this.#pdu = pdu;
          this.#pduHeaderDigest = this.headerDigest;
          this.#pduDataDigest = this.dataDigest;
          if (bhsAhsLength(bhs) !== 0) {
            this.#state = RecvState.Ahs;
          } else if (this.#pduHeaderDigest) {
            this.#state = RecvState.HeaderDigest;
          } else {
            this.#checkDataSegmentLength(pdu);
            this.#enterData(pdu);
          }
          break;
        }
        case RecvState.Ahs: {
          // FreeBSD icl_soft does not support AHS either (no bidirectional
          // or extended CDB commands); refuse before buffering it.
          throw new IclAhsNotSupportedError(bhsAhsLength(this.#pdu!.bhs));
        }
        case RecvState.HeaderDigest: {
          if (this.#queued < DIGEST_SIZE) return null;
          const pdu = this.#pdu!;
          const received = this.#takeUInt32LE();
          const computed = crc32c(pdu.bhs);
          // RFC 7143 §11.2.3, §7.8: a header digest error is not recoverable here.
          if (received !== computed) throw new IclDigestError('ICL_ERR_HEADER_DIGEST', computed, received, pdu.bhs);
          // Checked only after the digest so that a corrupted length field is
          // reported as the digest error it is.
          this.#checkDataSegmentLength(pdu);
          this.#enterData(pdu);
          break;
        }
        case RecvState.Data: {
          const pdu = this.#pdu!;
          const dataLength = bhsDataSegmentLength(pdu.bhs);
          const pad = padLength(dataLength);
          // Padding is taken together with the last data bytes (as icl_soft).
          if (this.#queued < dataLength + pad) return null;
          this.#takeViews(dataLength, pdu);
          if (pad !== 0) {
            if (this.#pduDataDigest) this.#takeInto(pad, this.#padViews);
            else this.#skip(pad);
          }
          if (this.#pduDataDigest) {
            this.#state = RecvState.DataDigest;
            break;
          }
          return this.#complete();
        }
        case RecvState.DataDigest: {
          if (this.#queued < DIGEST_SIZE) return null;
          const pdu = this.#pdu!;
          const received = this.#takeUInt32LE();
          let computed = 0;
          for (const c of pdu.data) computed = crc32c(c.buf, computed);
          computed = crc32cChunks(this.#padViews, computed);
          // RFC 7143 §11.2.3: the data digest covers data and padding.
          if (received !== computed) throw new IclDigestError('ICL_ERR_DATA_DIGEST', computed, received, pdu.bhs);
          return this.#complete();
        }
      }
    }
  }

  #checkDataSegmentLength(pdu: Pdu): void {
    const dataLength = bhsDataSegmentLength(pdu.bhs);
    // RFC 7143 §13.12: the initiator must not send more than our
    // MaxRecvDataSegmentLength; refuse before buffering the data.
    if (dataLength > this.maxRecvDataSegmentLength) {
      throw new IclDataSegmentTooLongError(dataLength, this.maxRecvDataSegmentLength);
    }
  }

  #enterData(pdu: Pdu): void {
    // A PDU without data has no padding and no data digest (RFC 7143 §11.2.3).
    if (bhsDataSegmentLength(pdu.bhs) === 0) this.#pduDataDigest = false;
    this.#state = RecvState.Data;
  }

  #complete(): Pdu {
    const pdu = this.#pdu!;
    this.#pdu = null;
    this.#padViews = [];
    this.#state = RecvState.Bhs;
    const dataLength = pdu.dataLength;
    const wire =
      BHS_SIZE +
      (this.#pduHeaderDigest ? DIGEST_SIZE : 0) +
      dataLength +
      padLength(dataLength) +
      (this.#pduDataDigest ? DIGEST_SIZE : 0);
    this.#buffered -= wire;
    return pdu;
  }

  /** Takes 48 bytes: a view if they lie in one chunk, else the one allowed copy. */
  #takeBhs(): Buffer {
    const chunk = this.#chunks[this.#head]!;
    const start = this.#headOffset;
    let bhs: Buffer;
    if (chunk.length - start >= BHS_SIZE) {
      bhs = chunk.subarray(start, start + BHS_SIZE);
      this.#advance(BHS_SIZE);
    } else {
      bhs = Buffer.allocUnsafe(BHS_SIZE);
      let filled = 0;
      while (filled < BHS_SIZE) {
        const c = this.#chunks[this.#head]!;
        const n = Math.min(c.length - this.#headOffset, BHS_SIZE - filled);
        c.copy(bhs, filled, this.#headOffset, this.#headOffset + n);
        filled += n;
        this.#advance(n);
      }
    }
    return bhs;
  }

  /** Takes a little-endian 32-bit digest, possibly spanning chunks. */
  #takeUInt32LE(): number {
    const chunk = this.#chunks[this.#head]!;
    if (chunk.length - this.#headOffset >= DIGEST_SIZE) {
      const v = chunk.readUInt32LE(this.#headOffset);
      this.#advance(DIGEST_SIZE);
      return v;
    }
    let v = 0;
    for (let i = 0; i < DIGEST_SIZE; i++) {
      const c = this.#chunks[this.#head]!;
      v |= c[this.#headOffset]! << (8 * i);
      this.#advance(1);
    }
    return v >>> 0;
  }

  /** Moves `n` bytes into `pdu.data` as views (`ref: null`). */
  #takeViews(n: number, pdu: Pdu): void {
    let left = n;
    while (left > 0) {
      const c = this.#chunks[this.#head]!;
      const start = this.#headOffset;
      const k = Math.min(c.length - start, left);
      pdu.data.push({ buf: start === 0 && k === c.length ? c : c.subarray(start, start + k), ref: null });
      pdu.dataLength += k;
      left -= k;
      this.#advance(k);
    }
  }

  #takeInto(n: number, out: Buffer[]): void {
    let left = n;
    while (left > 0) {
      const c = this.#chunks[this.#head]!;
      const start = this.#headOffset;
      const k = Math.min(c.length - start, left);
      out.push(c.subarray(start, start + k));
      left -= k;
      this.#advance(k);
    }
  }

  #skip(n: number): void {
    let left = n;
    while (left > 0) {
      const c = this.#chunks[this.#head]!;
      const k = Math.min(c.length - this.#headOffset, left);
      left -= k;
      this.#advance(k);
    }
  }

  /** Consumes `n` bytes, all within the head chunk. */
  #advance(n: number): void {
    this.#queued -= n;
    this.#headOffset += n;
    const chunks = this.#chunks;
    if (this.#headOffset === chunks[this.#head]!.length) {
      // Drop our reference so consumed memory not held by a PDU can be freed.
      (chunks as (Buffer | undefined)[])[this.#head] = undefined;
      this.#head++;
      this.#headOffset = 0;
      if (this.#head === chunks.length) {
        this.#chunks = [];
        this.#head = 0;
      } else if (this.#head >= QUEUE_COMPACT_THRESHOLD && this.#head * 2 >= chunks.length) {
        this.#chunks = chunks.slice(this.#head);
        this.#head = 0;
      }
    }
  }
}
