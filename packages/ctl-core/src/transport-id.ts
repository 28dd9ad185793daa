/**
 * iSCSI TransportIDs (SPC-4 §7.6.4.6): the initiator port identifier that READ
 * FULL STATUS reports and REGISTER AND MOVE names. CTL knows an initiator port
 * by the name the frontend registered with `Ctl.addInitiator`; for iSCSI that
 * is RFC 7143's SCSI initiator port name `"<iSCSI name>,i,0x<ISID>"`, encoded
 * as FORMAT CODE 01b. A name without the `,i,0x` separator (another
 * transport, a test) is encoded as FORMAT CODE 00b (the initiator device).
 *
 * Does NOT know any other protocol's TransportID (Fibre Channel, SAS...):
 * those are refused on decode.
 *
 * Buffers returned are fresh and owned by the caller; decode never keeps a
 * reference to its input.
 */
import { PROTOCOL_IDENTIFIER_ISCSI } from './scsi-proto.js';

/** RFC 7143 separator between the iSCSI name and the ISID. */
const ISID_SEPARATOR = ',i,0x';
/** SPC-4 §7.6.4.6: ADDITIONAL LENGTH is a multiple of four and at least 20. */
const MIN_ADDITIONAL_LENGTH = 20;
/** Maximum iSCSI name length (RFC 7143 §4.2.7.1) plus separator, ISID and NUL. */
const MAX_NAME_FIELD = 223 + ISID_SEPARATOR.length + 12 + 1;

/** FORMAT CODE values for iSCSI (SPC-4 table 389). */
export const IscsiTidFormat = {
  /** The iSCSI name of the initiator device. */
  Device: 0b00,
  /** The SCSI initiator port name: iSCSI name, `,i,0x`, ISID. */
  Port: 0b01,
} as const;

/** Encodes an initiator port name as an iSCSI TransportID. */
export function encodeIscsiTransportId(initiatorPortName: string): Buffer {
  const name = Buffer.from(initiatorPortName, 'utf8');
  const format = initiatorPortName.includes(ISID_SEPARATOR) ? IscsiTidFormat.Port : IscsiTidFormat.Device;
  // The name, NUL-terminated, padded with NULs to a multiple of four, at least 20 bytes.
  const addl = Math.max(MIN_ADDITIONAL_LENGTH, (name.length + 1 + 3) & ~3);
  const out = Buffer.alloc(4 + addl);
  out[0] = (format << 6) | PROTOCOL_IDENTIFIER_ISCSI;
  out.writeUInt16BE(addl, 2);
  name.copy(out, 4);
  return out;
}

/** Result of decoding a TransportID. */
export type DecodedTransportId =
  | { readonly ok: true; readonly initiatorPortName: string; readonly length: number }
  /** `byte` is the offset (within the TransportID) of the field found invalid. */
  | { readonly ok: false; readonly byte: number };

/**
 * Decodes an iSCSI TransportID with FORMAT CODE 01b (an initiator port) from
 * the start of `buf`. The ISID is normalised to lower-case hex, as the
 * frontend registers it.
 */
export function decodeIscsiTransportId(buf: Buffer): DecodedTransportId {
  if (buf.length < 4) return { ok: false, byte: 0 };
  const b0 = buf[0]!;
  if ((b0 & 0x0f) !== PROTOCOL_IDENTIFIER_ISCSI || (b0 & 0x30) !== 0) return { ok: false, byte: 0 };
  if (b0 >> 6 !== IscsiTidFormat.Port) return { ok: false, byte: 0 };
  const addl = buf.readUInt16BE(2);
  if (addl < MIN_ADDITIONAL_LENGTH || addl % 4 !== 0 || addl > MAX_NAME_FIELD + 3 || 4 + addl > buf.length) {
    return { ok: false, byte: 2 };
  }
  const field = buf.subarray(4, 4 + addl);
  const nul = field.indexOf(0);
  if (nul <= 0) return { ok: false, byte: 4 };
  const text = field.subarray(0, nul).toString('utf8');
  const sep = text.toLowerCase().lastIndexOf(ISID_SEPARATOR);
  if (sep <= 0) return { ok: false, byte: 4 };
  const isid = text.slice(sep + ISID_SEPARATOR.length);
  if (!/^[0-9a-fA-F]{12}$/.test(isid)) return { ok: false, byte: 4 + sep + ISID_SEPARATOR.length };
  return { ok: true, initiatorPortName: `${text.slice(0, sep)}${ISID_SEPARATOR}${isid.toLowerCase()}`, length: 4 + addl };
}
