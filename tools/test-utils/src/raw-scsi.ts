/**
 * SCSI commands over a raw session (hand-built SCSI Command PDUs), used to
 * prove that a session still works — typically TEST UNIT READY after a
 * bad-input case.
 *
 * What this module does: sends one SCSI Command (no write data), collects
 * Data-In, answers target NOP-In pings, and returns status, sense and data;
 * keeps the session's CmdSN / ExpStatSN up to date. RFC 7143 §11.3, §11.4, §11.7.
 * With `dataOut`, answers the target's R2Ts with Data-Out PDUs (parameter
 * lists, small writes; no immediate or unsolicited data).
 * What it does not do: no task management, no parallel commands.
 */
import { RawProtocolError } from './errors.js';
import { FINAL_BIT, newBhs, Opcode, readPdu, RESERVED_TAG, sendPdu } from './raw-pdu.js';
import type { RawSession } from './raw-login.js';

/** SCSI status codes. SAM-5 §5.3. */
export const ScsiStatus = { Good: 0x00, CheckCondition: 0x02, Busy: 0x08, ReservationConflict: 0x18, TaskSetFull: 0x28 } as const;
/** Sense keys. SPC-4 §4.5.6. */
export const SenseKey = { NoSense: 0, NotReady: 2, MediumError: 3, IllegalRequest: 5, UnitAttention: 6 } as const;

/** Result of {@link rawScsiCommand}. */
export interface RawScsiResult {
  /** iSCSI Response field (0 = command completed at target). RFC 7143 §11.4.3. */
  readonly response: number;
  /** SCSI status. */
  readonly status: number;
  /** Sense data (without the 2-byte SenseLength), empty if none. */
  readonly sense: Buffer;
  /** Sense key / ASC / ASCQ when sense data is present. */
  readonly senseKey: number | undefined;
  readonly asc: number | undefined;
  readonly ascq: number | undefined;
  /** Data-In payload, concatenated in buffer-offset order. */
  readonly data: Buffer;
}

/** Options of {@link rawScsiCommand}. */
export interface RawScsiOptions {
  /** LUN on the wire. Default 0. */
  readonly lun?: number;
  /** Expected Data-In length (sets the R bit). Default 0. */
  readonly readLength?: number;
  /** Per-PDU timeout. Default 10 000 ms. */
  readonly timeoutMs?: number;
  /** Write data (sets the W bit and the Expected Data Transfer Length; sent on R2T). */
  readonly dataOut?: Buffer;
}

function parseSense(sense: Buffer): { senseKey: number | undefined; asc: number | undefined; ascq: number | undefined } {
  if (sense.length < 3) return { senseKey: undefined, asc: undefined, ascq: undefined };
  const code = (sense[0] ?? 0) & 0x7f;
  if (code === 0x72 || code === 0x73) {
    // Descriptor format. SPC-4 §4.5.2.
    return { senseKey: (sense[1] ?? 0) & 0x0f, asc: sense[2], ascq: sense[3] };
  }
  // Fixed format. SPC-4 §4.5.3.
  return { senseKey: (sense[2] ?? 0) & 0x0f, asc: sense[12], ascq: sense[13] };
}

/**
 * Sends one SCSI command (SIMPLE task attribute, no data out) and waits for
 * its status. CmdSN advances; ExpStatSN follows the target's StatSN.
 * @throws RawProtocolError on a Reject; PduReadError if the connection closes or stalls.
 */
export async function rawScsiCommand(session: RawSession, cdb: Buffer, options: RawScsiOptions = {}): Promise<RawScsiResult> {
  if (cdb.length > 16) throw new RangeError('CDBs longer than 16 bytes need an AHS');
  const readLength = options.readLength ?? 0;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const itt = session.nextTag++;
  const dataOut = options.dataOut;
  if (dataOut && readLength > 0) throw new RangeError('bidirectional commands are not supported');
  // F, R, W, ATTR=SIMPLE
  const flags = FINAL_BIT | (readLength > 0 ? 0x40 : 0) | (dataOut ? 0x20 : 0) | 0x01;
  const bhs = newBhs({ opcode: Opcode.ScsiCommand, flags, lun: options.lun ?? 0, initiatorTaskTag: itt });
  bhs.writeUInt32BE(dataOut ? dataOut.length : readLength, 20); // Expected Data Transfer Length
  bhs.writeUInt32BE(session.cmdSn >>> 0, 24);
  bhs.writeUInt32BE(session.expStatSn >>> 0, 28);
  cdb.copy(bhs, 32);
  session.cmdSn = (session.cmdSn + 1) >>> 0;
  await sendPdu(session.socket, bhs);

  const pieces: { offset: number; data: Buffer }[] = [];
  for (;;) {
    const p = await readPdu(session.socket, timeoutMs);
    switch (p.opcode) {
      case Opcode.DataIn: {
        if (p.initiatorTaskTag !== itt) continue;
        pieces.push({ offset: p.bhs.readUInt32BE(40), data: p.data });
        if (p.flags & 0x01) {
          // S bit: status is in this Data-In. RFC 7143 §11.7.4.
          session.expStatSn = (p.bhs.readUInt32BE(24) + 1) >>> 0;
          session.maxCmdSn = p.bhs.readUInt32BE(32);
          return { response: 0, status: p.bhs[3] ?? 0, sense: Buffer.alloc(0), senseKey: undefined, asc: undefined, ascq: undefined, data: joinPieces(pieces) };
        }
        continue;
      }
      case Opcode.ScsiResponse: {
        if (p.initiatorTaskTag !== itt) continue;
        session.expStatSn = (p.bhs.readUInt32BE(24) + 1) >>> 0;
        session.maxCmdSn = p.bhs.readUInt32BE(32);
        const senseLength = p.data.length >= 2 ? p.data.readUInt16BE(0) : 0;
        const sense = Buffer.from(p.data.subarray(2, 2 + senseLength));
        return { response: p.bhs[2] ?? 0, status: p.bhs[3] ?? 0, sense, ...parseSense(sense), data: joinPieces(pieces) };
      }
      case Opcode.R2t: {
        if (p.initiatorTaskTag !== itt || !dataOut) continue;
        // RFC 7143 §11.8: send DesiredDataTransferLength bytes from BufferOffset, in
        // pieces of at most the target's MaxRecvDataSegmentLength, the last with F set.
        const ttt = p.bhs.readUInt32BE(20);
        const offset = p.bhs.readUInt32BE(40);
        const want = p.bhs.readUInt32BE(44);
        const end = Math.min(dataOut.length, offset + want);
        let dataSn = 0;
        for (let pos = offset; pos < end; ) {
          const n = Math.min(end - pos, session.targetMaxRecvDataSegmentLength);
          const last = pos + n >= end;
          const out = newBhs({ opcode: Opcode.DataOut, flags: last ? FINAL_BIT : 0, lun: options.lun ?? 0, initiatorTaskTag: itt });
          out.writeUInt32BE(ttt, 20);
          out.writeUInt32BE(session.expStatSn >>> 0, 28);
          out.writeUInt32BE(dataSn++, 36);
          out.writeUInt32BE(pos, 40);
          await sendPdu(session.socket, out, dataOut.subarray(pos, pos + n));
          pos += n;
        }
        continue;
      }
      case Opcode.NopIn: {
        const ttt = p.bhs.readUInt32BE(20);
        if (ttt !== RESERVED_TAG) {
          // A target ping: answer it. RFC 7143 §11.18.
          const out = newBhs({ opcode: Opcode.NopOut, immediate: true, flags: FINAL_BIT, lun: p.bhs.subarray(8, 16), initiatorTaskTag: RESERVED_TAG });
          out.writeUInt32BE(ttt, 20);
          out.writeUInt32BE(session.cmdSn >>> 0, 24);
          out.writeUInt32BE(session.expStatSn >>> 0, 28);
          await sendPdu(session.socket, out);
        }
        continue;
      }
      case Opcode.Reject:
        throw new RawProtocolError(`command rejected with reason 0x${(p.bhs[2] ?? 0).toString(16)}`);
      default:
        continue;
    }
  }
}

function joinPieces(pieces: { offset: number; data: Buffer }[]): Buffer {
  if (pieces.length === 0) return Buffer.alloc(0);
  pieces.sort((a, b) => a.offset - b.offset);
  const last = pieces[pieces.length - 1] as { offset: number; data: Buffer };
  const out = Buffer.alloc(last.offset + last.data.length);
  for (const p of pieces) p.data.copy(out, p.offset);
  return out;
}

/**
 * TEST UNIT READY (SPC-4 §6.37), retried while the target reports a UNIT
 * ATTENTION (a new I_T nexus typically sees "power on or reset" once).
 * @returns the final result (status 0 = GOOD).
 */
export async function rawTestUnitReady(session: RawSession, options: { lun?: number; timeoutMs?: number } = {}): Promise<RawScsiResult> {
  let r: RawScsiResult | undefined;
  for (let i = 0; i < 4; i++) {
    r = await rawScsiCommand(session, Buffer.alloc(6), options);
    if (!(r.status === ScsiStatus.CheckCondition && r.senseKey === SenseKey.UnitAttention)) return r;
  }
  return r as RawScsiResult;
}

/** Standard INQUIRY (SPC-4 §6.6) with a 96-byte allocation length. */
export function rawInquiry(session: RawSession, options: { lun?: number; timeoutMs?: number } = {}): Promise<RawScsiResult> {
  const cdb = Buffer.from([0x12, 0, 0, 0, 96, 0]);
  return rawScsiCommand(session, cdb, { ...options, readLength: 96 });
}
