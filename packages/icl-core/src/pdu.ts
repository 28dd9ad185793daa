/**
 * The PDU object (FreeBSD `struct icl_pdu`) and BHS field helpers.
 *
 * What this module does: defines `Pdu` — a 48-byte BHS, an optional AHS and a
 * data segment held as a **list of chunks**, never concatenated — and the
 * `BufRef` handle through which a chunk borrows memory owned by someone else
 * (FreeBSD's `ICL_NOCOPY`). It also offers small accessors for BHS fields
 * common to every PDU type.
 *
 * What it does not do: no framing, digests or padding (see `pdu-codec.ts`),
 * no queueing or completion (drivers do that through the KPI in `kpi.ts`).
 *
 * Buffer ownership:
 * - `bhs` is owned by the PDU. For a received PDU it may be a view into a
 *   received socket chunk (the receive path copies only a BHS that straddles
 *   two chunks); nobody else writes into received chunks.
 * - A chunk with `ref === null` is memory owned by the PDU (copied in, or
 *   received from the transport, whose ownership passed up).
 * - A chunk with a `ref` borrows memory from its owner. The PDU holds exactly
 *   one `retain()` on that ref per chunk, released exactly once: by the driver
 *   after the transport no longer touches the bytes, or by `pduFree` if the PDU
 *   is never queued. The borrower must never write into a borrowed chunk.
 */
import { BHS_SIZE, Bhs, IMMEDIATE_BIT, OPCODE_MASK } from './iscsi-proto.js';

/**
 * A reference on memory owned by someone else (a backend's buffer set).
 * `retain` and `release` must be cheap and must not capture the I/O, the LUN
 * or the session: a transport may hold a reference for hours (FreeBSD saw
 * `ixl(4)` do so), and only the buffers may be kept alive that long.
 */
export interface BufRef {
  retain(): void;
  release(): void;
}

/** One piece of a data segment: a Buffer view, borrowed if `ref` is set. */
export interface DataChunk {
  readonly buf: Buffer;
  readonly ref: BufRef | null;
}

/** An iSCSI PDU. Create with `IclConn.newPdu()` (or `new Pdu()` in tests). */
export class Pdu {
  /** Basic Header Segment, exactly 48 bytes. */
  bhs: Buffer;
  /** Additional Header Segment, if any (the target never sends one). */
  ahs: Buffer | null = null;
  /** The data segment, as chunks in order; padding and digests not included. */
  readonly data: DataChunk[] = [];
  /** Sum of `data[i].buf.length`. */
  dataLength = 0;
  /**
   * For a received PDU that stands for several wire PDUs (receive
   * coalescing by an offload driver), the number of extra wire PDUs. 0 for
   * the software driver.
   */
  additionalPdus = 0;
  /** Two opaque slots for the ICL user (FreeBSD `ip_prv0`/`ip_prv1`). */
  prv0: unknown = undefined;
  prv1: unknown = undefined;

  constructor(bhs?: Buffer) {
    if (bhs !== undefined && bhs.length !== BHS_SIZE) {
      throw new RangeError(`BHS must be ${BHS_SIZE} bytes, got ${bhs.length}`);
    }
    this.bhs = bhs ?? Buffer.alloc(BHS_SIZE);
  }

  /** Opcode without the Immediate bit. */
  get opcode(): number {
    return this.bhs[Bhs.opcode]! & OPCODE_MASK;
  }

  /** True if the Immediate (I) bit is set. */
  get immediate(): boolean {
    return (this.bhs[Bhs.opcode]! & IMMEDIATE_BIT) !== 0;
  }

  get flags(): number {
    return this.bhs[Bhs.flags]!;
  }

  get initiatorTaskTag(): number {
    return this.bhs.readUInt32BE(Bhs.initiatorTaskTag);
  }

  /**
   * Releases every borrowed reference and empties the data segment. Used by
   * `pduFree` and by drivers once the transport is done with the chunks.
   * Idempotent: a chunk's reference is released once.
   */
  releaseData(): void {
    const chunks = this.data.splice(0, this.data.length);
    this.dataLength = 0;
    for (const c of chunks) c.ref?.release();
  }
}

/** Reads the 24-bit DataSegmentLength field of a BHS. */
export function bhsDataSegmentLength(bhs: Buffer): number {
  return bhs.readUIntBE(Bhs.dataSegmentLength, 3);
}

/** Writes the 24-bit DataSegmentLength field of a BHS. */
export function bhsSetDataSegmentLength(bhs: Buffer, len: number): void {
  bhs.writeUIntBE(len, Bhs.dataSegmentLength, 3);
}

/** TotalAHSLength in bytes (the field counts 4-byte words). */
export function bhsAhsLength(bhs: Buffer): number {
  return bhs[Bhs.totalAhsLength]! * 4;
}

/** Sets opcode byte 0, with the Immediate bit if asked. */
export function bhsSetOpcode(bhs: Buffer, opcode: number, immediate = false): void {
  bhs[Bhs.opcode] = (opcode & OPCODE_MASK) | (immediate ? IMMEDIATE_BIT : 0);
}
