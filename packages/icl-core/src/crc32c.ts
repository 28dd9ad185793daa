/**
 * CRC32C (Castagnoli), the iSCSI header and data digest (RFC 7143 §11.2.3,
 * RFC 3385), computed by `@node-rs/crc32` (SSE4.2 / ARMv8 CRC instructions).
 *
 * What it does: computes the digest over one Buffer or over a chunk list
 * without concatenating (the library's `initialState` chains a running
 * CRC: `crc32c(b, crc32c(a)) === crc32c(a ‖ b)`), and converts a digest to
 * its 4 wire bytes.
 *
 * What it does not do: no framing; which bytes are covered is the codec's
 * business (`pdu-codec.ts`).
 *
 * Wire byte order: the digest is sent least significant byte first. RFC
 * 7143 §13.1 / RFC 3385 define the CRC bit order so that the resulting
 * 32-bit value lands little-endian in memory; Linux (`iscsi_tcp`/LIO) and
 * libiscsi (`lib/pdu.c`: `scsi_set_uint32` of the value after
 * byte-swapping, i.e. LE bytes) do the same. RFC 3720 Appendix B.4: 32
 * zero bytes give CRC 0x8a9136aa, sent as `aa 36 91 8a`.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';
import { DIGEST_SIZE } from './iscsi-proto.js';

/**
 * CRC32C of `buf`, continuing from `initial` (the value returned for the
 * preceding bytes; 0 to start). Does not keep or modify `buf`.
 */
export function crc32c(buf: Buffer, initial = 0): number {
  return nativeCrc32c(buf, initial) >>> 0;
}

/** CRC32C over the concatenation of `chunks`, without concatenating them. */
export function crc32cChunks(chunks: readonly Buffer[], initial = 0): number {
  let crc = initial;
  for (const c of chunks) {
    if (c.length !== 0) crc = nativeCrc32c(c, crc);
  }
  return crc >>> 0;
}

/** The 4 wire bytes of a digest value (little-endian; see module comment). A new Buffer, owned by the caller. */
export function digestToBuffer(value: number): Buffer {
  const b = Buffer.allocUnsafe(DIGEST_SIZE);
  b.writeUInt32LE(value >>> 0, 0);
  return b;
}

/** Reads a digest value from its 4 wire bytes at `offset`. */
export function digestFromBuffer(buf: Buffer, offset = 0): number {
  return buf.readUInt32LE(offset);
}
