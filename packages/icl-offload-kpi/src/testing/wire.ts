/**
 * The far end of a connection under test: raw iSCSI framing written
 * independently of icl-core's codec (so the kit does not check the codec
 * against itself), and a harness that drives a `NicConn` as a peer.
 *
 * What it does: encodes PDUs to contiguous wire bytes (BHS, header digest,
 * data, padding, data digest — RFC 7143 §11.2), decodes a received byte
 * stream back into PDUs checking both digests, and records what a peer
 * `NicConn` receives and how it closes.
 *
 * What it does not do: AHS, or any iSCSI semantics. This is test code: it
 * copies freely and is not meant for a data path. CRC32C itself comes from
 * icl-core (`crc32c`), which has its own golden tests.
 */
import { crc32c, type NicConn } from '@iscsi-target/icl-core/kpi';
import { waitFor } from './wait.js';

const BHS_SIZE = 48;

/** Digest settings of one direction of the wire. */
export interface WireOptions {
  headerDigest: boolean;
  dataDigest: boolean;
}

/** A PDU as seen on the wire: its BHS and its data segment (copies). */
export interface WirePdu {
  bhs: Buffer;
  data: Buffer;
}

function padOf(n: number): number {
  return (4 - (n & 3)) & 3;
}

/** A 48-byte BHS with `opcode` in byte 0 and `initiatorTaskTag` at 16 (RFC 7143 §11.2.1). */
export function makeBhs(opcode: number, initiatorTaskTag: number): Buffer {
  const bhs = Buffer.alloc(BHS_SIZE);
  bhs[0] = opcode & 0x3f;
  bhs[1] = 0x80; // F bit
  bhs.writeUInt32BE(initiatorTaskTag >>> 0, 16);
  return bhs;
}

/**
 * Encodes one PDU (contiguous, a fresh Buffer). DataSegmentLength is taken
 * from `dsl` if given (to forge a lying header), else from `data.length`.
 */
export function encodePdu(bhsIn: Buffer, data: Buffer, opts: WireOptions, dsl = data.length): Buffer {
  const bhs = Buffer.from(bhsIn);
  bhs[4] = 0; // TotalAHSLength
  bhs.writeUIntBE(dsl, 5, 3);
  const pad = padOf(data.length);
  const hd = opts.headerDigest ? 4 : 0;
  const dd = opts.dataDigest && data.length > 0 ? 4 : 0;
  const out = Buffer.alloc(BHS_SIZE + hd + data.length + pad + dd);
  bhs.copy(out, 0);
  let pos = BHS_SIZE;
  if (hd !== 0) {
    out.writeUInt32LE(crc32c(bhs), pos);
    pos += 4;
  }
  data.copy(out, pos);
  pos += data.length + pad;
  if (dd !== 0) out.writeUInt32LE(crc32c(out.subarray(BHS_SIZE + hd, pos)), pos);
  return out;
}

/** Incremental decoder of a received byte stream into `WirePdu`s. */
export class WireReader {
  opts: WireOptions;
  #chunks: Buffer[] = [];
  #total = 0;
  /** Bytes needed before the next decode attempt can make progress. */
  #need = BHS_SIZE;

  constructor(opts: WireOptions) {
    this.opts = opts;
  }

  get bufferedBytes(): number {
    return this.#total;
  }

  push(buf: Buffer): void {
    this.#chunks.push(Buffer.from(buf));
    this.#total += buf.length;
  }

  /** Decodes every complete PDU. Throws on a digest mismatch or an AHS. */
  take(): WirePdu[] {
    const out: WirePdu[] = [];
    while (this.#total >= this.#need) {
      const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
      this.#chunks = [all];
      const bhs = all.subarray(0, BHS_SIZE);
      if (bhs[4] !== 0) throw new Error('peer: AHS received');
      const dsl = bhs.readUIntBE(5, 3);
      const hd = this.opts.headerDigest ? 4 : 0;
      const dd = this.opts.dataDigest && dsl > 0 ? 4 : 0;
      const size = BHS_SIZE + hd + dsl + padOf(dsl) + dd;
      if (all.length < size) {
        this.#need = size;
        break;
      }
      if (hd !== 0 && all.readUInt32LE(BHS_SIZE) !== crc32c(bhs)) throw new Error('peer: header digest mismatch');
      const dataStart = BHS_SIZE + hd;
      const padded = all.subarray(dataStart, dataStart + dsl + padOf(dsl));
      if (dd !== 0 && all.readUInt32LE(dataStart + padded.length) !== crc32c(padded)) {
        throw new Error('peer: data digest mismatch');
      }
      out.push({ bhs: Buffer.from(bhs), data: Buffer.from(padded.subarray(0, dsl)) });
      const rest = all.subarray(size);
      this.#chunks = rest.length === 0 ? [] : [rest];
      this.#total = rest.length;
      this.#need = BHS_SIZE;
    }
    return out;
  }
}

/**
 * Drives a `NicConn` as the peer of a connection under test: records the
 * PDUs it receives, how often and how it closed, and sends raw bytes.
 */
export class PeerHarness {
  readonly nic: NicConn;
  readonly reader: WireReader;
  readonly received: WirePdu[] = [];
  /** Bytes received in total. */
  bytes = 0;
  dataUpcalls = 0;
  closeCount = 0;
  closeError: Error | null = null;
  drainCount = 0;
  /** A framing or digest error in what the peer received. */
  wireError: Error | null = null;

  constructor(nic: NicConn, opts: WireOptions = { headerDigest: false, dataDigest: false }) {
    this.nic = nic;
    this.reader = new WireReader(opts);
  }

  /** Installs the peer's handlers (call once). */
  start(): this {
    this.nic.setHandlers({
      data: (buf) => {
        this.dataUpcalls++;
        this.bytes += buf.length;
        if (this.wireError !== null) return;
        try {
          this.reader.push(buf);
          this.received.push(...this.reader.take());
        } catch (err) {
          this.wireError = err as Error;
        }
      },
      drain: () => {
        this.drainCount++;
      },
      close: (err) => {
        this.closeCount++;
        this.closeError = err;
      },
    });
    return this;
  }

  get closed(): boolean {
    return this.closeCount > 0;
  }

  /** Sends `bufs` in one NIC send; resolves with the send's completion error. */
  send(bufs: Buffer | readonly Buffer[]): Promise<Error | null> {
    return new Promise((resolve) => {
      this.nic.send(Buffer.isBuffer(bufs) ? [bufs] : bufs, resolve);
    });
  }

  /** Waits until `n` PDUs were received in total. */
  async waitForPdus(n: number, timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.received.length >= n || this.wireError !== null, `${n} PDUs at the peer`, timeoutMs);
    if (this.wireError !== null) throw this.wireError;
  }
}
