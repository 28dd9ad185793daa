/**
 * A deliberately independent, minimal iSCSI PDU writer/reader for tests that
 * talk to the target with hand-built bytes (bad-input tests, health checks).
 *
 * What this module does: names the RFC 7143 opcodes the raw client needs,
 * builds 48-byte BHSs, writes a PDU (BHS + padded data segment) to a socket,
 * and reassembles PDUs from the byte stream (`readPdu`), also telling when the
 * target closed the connection (`waitForClose`).
 * What it does not do: no digests (the raw client never negotiates them), no
 * AHS construction, no session state (see raw-login.ts / raw-scsi.ts). It
 * does NOT reuse the project's own codec on purpose: a test client that shares
 * the implementation's constants would share its bugs.
 *
 * Buffer ownership: `sendPdu` copies nothing it does not have to but the
 * caller must not modify `bhs`/`data` until the returned promise resolves.
 * PDUs returned by `readPdu` own their memory (copied out of the stream).
 */
import type { Socket } from 'node:net';
import { PduReadError } from './errors.js';

/** Size of the Basic Header Segment. RFC 7143 §11.2. */
export const BHS_SIZE = 48;
/** The reserved tag value. RFC 7143 §11.2.1.8. */
export const RESERVED_TAG = 0xffffffff;

/** Opcodes (byte 0, low 6 bits). RFC 7143 §11.2.1.2. */
export const Opcode = {
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskManagementRequest: 0x02,
  LoginRequest: 0x03,
  TextRequest: 0x04,
  DataOut: 0x05,
  LogoutRequest: 0x06,
  Snack: 0x10,
  NopIn: 0x20,
  ScsiResponse: 0x21,
  TaskManagementResponse: 0x22,
  LoginResponse: 0x23,
  TextResponse: 0x24,
  DataIn: 0x25,
  LogoutResponse: 0x26,
  R2t: 0x31,
  AsyncMessage: 0x32,
  Reject: 0x3f,
} as const;

/** Byte 0 bit 6: Immediate delivery (I). RFC 7143 §11.2.1.1. */
export const IMMEDIATE_BIT = 0x40;
/** Byte 1 bit 7: Final (F); Transit (T) in Login PDUs. */
export const FINAL_BIT = 0x80;

/** Reject reason codes. RFC 7143 §11.17.1. */
export const RejectReason = {
  DataDigestError: 0x02,
  SnackReject: 0x03,
  ProtocolError: 0x04,
  CommandNotSupported: 0x05,
  ImmediateCommandReject: 0x06,
  TaskInProgress: 0x07,
  InvalidDataAck: 0x08,
  InvalidPduField: 0x09,
  LongOperationReject: 0x0a,
  WaitingForLogout: 0x0c,
} as const;

/** Largest data segment `readPdu` accepts (a bound, not a protocol limit). */
export const MAX_READ_DATA_SEGMENT = 16 * 1024 * 1024;

/** A PDU received from the target. */
export interface RawPdu {
  /** The 48-byte BHS. */
  readonly bhs: Buffer;
  /** Additional header segments (usually empty). */
  readonly ahs: Buffer;
  /** The data segment without padding. */
  readonly data: Buffer;
  /** Byte 0 & 0x3f. */
  readonly opcode: number;
  /** Byte 1. */
  readonly flags: number;
  /** Bytes 16..19. */
  readonly initiatorTaskTag: number;
}

/** Fields common to every BHS. RFC 7143 §11.2.1. */
export interface BhsFields {
  readonly opcode: number;
  readonly immediate?: boolean;
  /** Byte 1 (F bit and opcode-specific flags). */
  readonly flags?: number;
  /** Written into bytes 5..7; `sendPdu` overwrites it unless told to keep it. */
  readonly dataSegmentLength?: number;
  /** Bytes 8..15 as a LUN number (single-level addressing), or raw 8 bytes. */
  readonly lun?: number | Buffer;
  readonly initiatorTaskTag?: number;
}

/**
 * Encodes a LUN number as an 8-byte SAM LUN: peripheral device addressing
 * below 256, flat space addressing up to 16383. SAM-5 §4.7.
 */
export function encodeLun(lun: number): Buffer {
  const b = Buffer.alloc(8);
  if (lun < 256) b[1] = lun;
  else if (lun < 16384) {
    b[0] = 0x40 | (lun >> 8);
    b[1] = lun & 0xff;
  } else throw new RangeError(`LUN ${lun} needs extended addressing`);
  return b;
}

/** Builds a zeroed 48-byte BHS with the common fields set; callers fill opcode-specific bytes. */
export function newBhs(f: BhsFields): Buffer {
  const bhs = Buffer.alloc(BHS_SIZE);
  bhs[0] = (f.opcode & 0x3f) | (f.immediate ? IMMEDIATE_BIT : 0);
  bhs[1] = f.flags ?? 0;
  bhs.writeUIntBE(f.dataSegmentLength ?? 0, 5, 3);
  if (f.lun !== undefined) (typeof f.lun === 'number' ? encodeLun(f.lun) : f.lun).copy(bhs, 8, 0, 8);
  bhs.writeUInt32BE((f.initiatorTaskTag ?? 0) >>> 0, 16);
  return bhs;
}

/** Options of {@link sendPdu}. */
export interface SendPduOptions {
  /**
   * `auto` (default): write `data.length` into the BHS DataSegmentLength field.
   * `keep`: send the BHS as given (to lie about the length in bad-input tests).
   */
  readonly dataSegmentLength?: 'auto' | 'keep';
}

/**
 * Writes one PDU: the BHS, then the data segment padded with zeros to a
 * multiple of 4 (RFC 7143 §11.2.3). Resolves when the socket accepted the
 * bytes; rejects if the write fails (e.g. the target already closed).
 */
export function sendPdu(socket: Socket, bhs: Buffer, data: Buffer = Buffer.alloc(0), options: SendPduOptions = {}): Promise<void> {
  if (bhs.length !== BHS_SIZE) throw new RangeError(`a BHS is ${BHS_SIZE} bytes, got ${bhs.length}`);
  if ((options.dataSegmentLength ?? 'auto') === 'auto') bhs.writeUIntBE(data.length, 5, 3);
  const pad = (4 - (data.length % 4)) % 4;
  return writeRaw(socket, pad > 0 ? [bhs, data, Buffer.alloc(pad)] : data.length > 0 ? [bhs, data] : [bhs]);
}

/** Writes arbitrary bytes (garbage, truncated headers) to the socket. */
export function writeRaw(socket: Socket, parts: readonly Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      reject(new Error('socket already closed'));
      return;
    }
    socket.cork();
    for (let i = 0; i < parts.length - 1; i++) socket.write(parts[i] as Buffer);
    socket.write(parts[parts.length - 1] ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
    socket.uncork();
  });
}

/**
 * Reassembles PDUs from one socket. Created on first use by `readPdu` /
 * `waitForClose`; from then on it consumes everything the socket receives.
 */
class PduReader {
  #buf: Buffer = Buffer.alloc(0);
  #closed = false;
  #closeReason = 'connection closed by the target';
  #wake: (() => void) | undefined;
  readonly closedPromise: Promise<void>;

  constructor(socket: Socket) {
    let markClosed: () => void = () => {};
    this.closedPromise = new Promise((resolve) => (markClosed = resolve));
    const close = (why?: string): void => {
      if (this.#closed) return;
      this.#closed = true;
      if (why !== undefined) this.#closeReason = why;
      markClosed();
      this.#notify();
    };
    socket.on('data', (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
      this.#notify();
    });
    socket.on('end', () => close());
    socket.on('close', () => close());
    socket.on('error', (e) => close(`connection error: ${e.message}`));
    if (socket.destroyed) close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Takes one complete PDU out of the buffer, or returns undefined. */
  #take(): RawPdu | undefined {
    if (this.#buf.length < BHS_SIZE) return undefined;
    const totalAhsLength = (this.#buf[4] ?? 0) * 4;
    const dataSegmentLength = this.#buf.readUIntBE(5, 3);
    if (dataSegmentLength > MAX_READ_DATA_SEGMENT) {
      throw new PduReadError('RAW_ERR_TOO_LARGE', `target sent DataSegmentLength ${dataSegmentLength}`);
    }
    const padded = dataSegmentLength + ((4 - (dataSegmentLength % 4)) % 4);
    const total = BHS_SIZE + totalAhsLength + padded;
    if (this.#buf.length < total) return undefined;
    const bytes = Buffer.from(this.#buf.subarray(0, total));
    this.#buf = this.#buf.subarray(total);
    const bhs = bytes.subarray(0, BHS_SIZE);
    return {
      bhs,
      ahs: bytes.subarray(BHS_SIZE, BHS_SIZE + totalAhsLength),
      data: bytes.subarray(BHS_SIZE + totalAhsLength, BHS_SIZE + totalAhsLength + dataSegmentLength),
      opcode: (bhs[0] ?? 0) & 0x3f,
      flags: bhs[1] ?? 0,
      initiatorTaskTag: bhs.readUInt32BE(16),
    };
  }

  async read(timeoutMs: number): Promise<RawPdu> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pdu = this.#take();
      if (pdu) return pdu;
      if (this.#closed) {
        const partial = this.#buf.length > 0 ? ` (${this.#buf.length} bytes of an incomplete PDU left)` : '';
        throw new PduReadError('RAW_ERR_CLOSED', `${this.#closeReason}${partial}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new PduReadError('RAW_ERR_TIMEOUT', `no complete PDU within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.#wake = undefined;
          resolve();
        }, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Complete PDUs still buffered (drained). */
  drain(): RawPdu[] {
    const out: RawPdu[] = [];
    for (let p = this.#take(); p; p = this.#take()) out.push(p);
    return out;
  }
}

const readers = new WeakMap<Socket, PduReader>();

function readerFor(socket: Socket): PduReader {
  let r = readers.get(socket);
  if (!r) {
    r = new PduReader(socket);
    readers.set(socket, r);
  }
  return r;
}

/** Starts consuming the socket's bytes into its PDU reader (idempotent). */
export function attachReader(socket: Socket): void {
  readerFor(socket);
}

/**
 * Reads the next complete PDU from the target.
 * @throws PduReadError `RAW_ERR_CLOSED` if the connection closed first,
 *   `RAW_ERR_TIMEOUT` after `timeoutMs` (default 5000).
 */
export function readPdu(socket: Socket, timeoutMs = 5_000): Promise<RawPdu> {
  return readerFor(socket).read(timeoutMs);
}

/** What {@link waitForClose} observed. */
export interface CloseObservation {
  /** Whether the target closed (or reset) the connection within the time. */
  readonly closed: boolean;
  /** Complete PDUs the target sent before that (or until the timeout). */
  readonly pdus: RawPdu[];
}

/** Waits up to `timeoutMs` (default 5000) for the target to close the connection. */
export async function waitForClose(socket: Socket, timeoutMs = 5_000): Promise<CloseObservation> {
  const r = readerFor(socket);
  let t: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    r.closedPromise.then(() => true),
    new Promise<boolean>((resolve) => (t = setTimeout(() => resolve(false), timeoutMs))),
  ]);
  clearTimeout(t);
  let pdus: RawPdu[] = [];
  try {
    pdus = r.drain();
  } catch {
    /* an oversized PDU header in the stream: report no PDUs */
  }
  return { closed, pdus };
}
