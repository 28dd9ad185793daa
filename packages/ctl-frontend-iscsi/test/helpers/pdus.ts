/**
 * Builders of initiator PDUs as the receive path would deliver them, and
 * readers of the fields of PDUs the target sent.
 */
import {
  Flag,
  InitiatorOpcode,
  Pdu,
  RESERVED_TAG,
  TaskAttribute,
  bhsSetDataSegmentLength,
  bhsSetOpcode,
} from '@iscsi-target/icl-core';
import type { SentPdu } from './fake-conn.js';

/** A received PDU whose data segment arrives in `split` chunks. */
function withData(pdu: Pdu, data: Buffer | undefined, split = 1): Pdu {
  if (data !== undefined && data.length > 0) {
    const step = Math.ceil(data.length / split);
    for (let pos = 0; pos < data.length; pos += step) {
      const buf = data.subarray(pos, Math.min(pos + step, data.length));
      pdu.data.push({ buf, ref: null });
      pdu.dataLength += buf.length;
    }
  }
  bhsSetDataSegmentLength(pdu.bhs, pdu.dataLength);
  return pdu;
}

export function scsiCommandPdu(o: {
  itt: number;
  cmdSn: number;
  edtl: number;
  cdb?: Buffer;
  lun?: number;
  read?: boolean;
  write?: boolean;
  final?: boolean;
  immediate?: boolean;
  attr?: number;
  data?: Buffer;
  split?: number;
}): Pdu {
  const pdu = new Pdu();
  const b = pdu.bhs;
  bhsSetOpcode(b, InitiatorOpcode.ScsiCommand, o.immediate ?? false);
  b[1] =
    (o.final ?? true ? Flag.Final : 0) |
    (o.read ? Flag.Read : 0) |
    (o.write ? Flag.Write : 0) |
    (o.attr ?? TaskAttribute.Simple);
  b[9] = o.lun ?? 0;
  b.writeUInt32BE(o.itt, 16);
  b.writeUInt32BE(o.edtl, 20);
  b.writeUInt32BE(o.cmdSn >>> 0, 24);
  (o.cdb ?? Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0])).copy(b, 32);
  return withData(pdu, o.data, o.split);
}

export function dataOutPdu(o: {
  itt: number;
  ttt: number;
  dataSn: number;
  bufferOffset: number;
  final: boolean;
  data: Buffer;
  split?: number;
}): Pdu {
  const pdu = new Pdu();
  const b = pdu.bhs;
  bhsSetOpcode(b, InitiatorOpcode.DataOut);
  b[1] = o.final ? Flag.Final : 0;
  b.writeUInt32BE(o.itt, 16);
  b.writeUInt32BE(o.ttt, 20);
  b.writeUInt32BE(o.dataSn, 36);
  b.writeUInt32BE(o.bufferOffset, 40);
  return withData(pdu, o.data, o.split);
}

export function nopOutPdu(o: { itt: number; ttt?: number; cmdSn: number; immediate?: boolean; data?: Buffer; lun?: number }): Pdu {
  const pdu = new Pdu();
  const b = pdu.bhs;
  bhsSetOpcode(b, InitiatorOpcode.NopOut, o.immediate ?? false);
  b[1] = Flag.Final;
  b[9] = o.lun ?? 0;
  b.writeUInt32BE(o.itt, 16);
  b.writeUInt32BE(o.ttt ?? RESERVED_TAG, 20);
  b.writeUInt32BE(o.cmdSn >>> 0, 24);
  return withData(pdu, o.data);
}

export function tmfPdu(o: {
  fn: number;
  itt: number;
  rtt?: number;
  cmdSn: number;
  refCmdSn?: number;
  lun?: number;
  immediate?: boolean;
}): Pdu {
  const pdu = new Pdu();
  const b = pdu.bhs;
  bhsSetOpcode(b, InitiatorOpcode.TaskManagementRequest, o.immediate ?? true);
  b[1] = 0x80 | o.fn;
  b[9] = o.lun ?? 0;
  b.writeUInt32BE(o.itt, 16);
  b.writeUInt32BE(o.rtt ?? RESERVED_TAG, 20);
  b.writeUInt32BE(o.cmdSn >>> 0, 24);
  b.writeUInt32BE(o.refCmdSn ?? 0, 32);
  return withData(pdu, undefined);
}

export function logoutPdu(o: { reason: number; itt: number; cmdSn: number; immediate?: boolean }): Pdu {
  const pdu = new Pdu();
  const b = pdu.bhs;
  bhsSetOpcode(b, InitiatorOpcode.LogoutRequest, o.immediate ?? true);
  b[1] = 0x80 | o.reason;
  b.writeUInt32BE(o.itt, 16);
  b.writeUInt32BE(o.cmdSn >>> 0, 24);
  return withData(pdu, undefined);
}

export function textPdu(o: {
  itt: number;
  ttt?: number;
  cmdSn: number;
  final?: boolean;
  cont?: boolean;
  data?: Buffer;
  immediate?: boolean;
}): Pdu {
  const pdu = new Pdu();
  const b = pdu.bhs;
  bhsSetOpcode(b, InitiatorOpcode.TextRequest, o.immediate ?? false);
  b[1] = (o.final ?? true ? Flag.Final : 0) | (o.cont ? Flag.Continue : 0);
  b.writeUInt32BE(o.itt, 16);
  b.writeUInt32BE(o.ttt ?? RESERVED_TAG, 20);
  b.writeUInt32BE(o.cmdSn >>> 0, 24);
  return withData(pdu, o.data);
}

/** Any PDU with the given opcode byte (e.g. SNACK, unknown). */
export function rawPdu(opcodeByte: number): Pdu {
  const pdu = new Pdu();
  pdu.bhs[0] = opcodeByte;
  pdu.bhs[1] = 0x80;
  pdu.bhs.writeUInt32BE(0x1234, 16);
  return pdu;
}

/** Field readers for sent PDUs. */
export const f = {
  opcode: (s: SentPdu): number => s.bhs[0]! & 0x3f,
  flags: (s: SentPdu): number => s.bhs[1]!,
  byte2: (s: SentPdu): number => s.bhs[2]!,
  status: (s: SentPdu): number => s.bhs[3]!,
  dsl: (s: SentPdu): number => s.bhs.readUIntBE(5, 3),
  itt: (s: SentPdu): number => s.bhs.readUInt32BE(16),
  ttt: (s: SentPdu): number => s.bhs.readUInt32BE(20),
  statSn: (s: SentPdu): number => s.bhs.readUInt32BE(24),
  expCmdSn: (s: SentPdu): number => s.bhs.readUInt32BE(28),
  maxCmdSn: (s: SentPdu): number => s.bhs.readUInt32BE(32),
  /** DataSN (Data-In), R2TSN (R2T), ExpDataSN (SCSI Response). */
  sn36: (s: SentPdu): number => s.bhs.readUInt32BE(36),
  bufferOffset: (s: SentPdu): number => s.bhs.readUInt32BE(40),
  /** Residual (Data-In/SCSI Response) or DesiredDataTransferLength (R2T). */
  word44: (s: SentPdu): number => s.bhs.readUInt32BE(44),
};

/** A buffer whose byte i is (seed + i) & 0xff. */
export { pattern } from '@iscsi-target/ctl-core/testing';
