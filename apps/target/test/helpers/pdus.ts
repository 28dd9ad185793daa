/**
 * Hand-written initiator PDUs for tests (RFC 7143 §11): Login, Text, Logout,
 * NOP-Out and SCSI Command BHSs, and key text helpers.
 */
import {
  BHS_SIZE,
  bhsSetDataSegmentLength,
  encodeTextKeys,
  Flag,
  IMMEDIATE_BIT,
  InitiatorOpcode,
  LoginRequestBhs,
  LogoutRequestBhs,
  NopBhs,
  ScsiCommandBhs,
  TextBhs,
  type TextKeyList,
} from '@iscsi-target/icl-core';

export const ISID = Buffer.from([0x80, 0x12, 0x34, 0x56, 0x00, 0x01]);

export interface LoginRequestSpec {
  transit?: boolean;
  cont?: boolean;
  csg?: number;
  nsg?: number;
  versionMax?: number;
  versionMin?: number;
  isid?: Buffer;
  tsih?: number;
  itt?: number;
  cid?: number;
  cmdSn?: number;
  expStatSn?: number;
  dataLength?: number;
}

export function loginBhs(s: LoginRequestSpec): Buffer {
  const bhs = Buffer.alloc(BHS_SIZE);
  bhs[0] = InitiatorOpcode.LoginRequest | IMMEDIATE_BIT;
  bhs[1] = (s.transit ? Flag.Transit : 0) | (s.cont ? Flag.Continue : 0) | ((s.csg ?? 0) << 2) | (s.nsg ?? 0);
  bhs[LoginRequestBhs.versionMax] = s.versionMax ?? 0;
  bhs[LoginRequestBhs.versionMin] = s.versionMin ?? 0;
  (s.isid ?? ISID).copy(bhs, LoginRequestBhs.isid);
  bhs.writeUInt16BE(s.tsih ?? 0, LoginRequestBhs.tsih);
  bhs.writeUInt32BE(s.itt ?? 0x1000, LoginRequestBhs.initiatorTaskTag);
  bhs.writeUInt16BE(s.cid ?? 0, LoginRequestBhs.cid);
  bhs.writeUInt32BE(s.cmdSn ?? 1, LoginRequestBhs.cmdSn);
  bhs.writeUInt32BE(s.expStatSn ?? 0, LoginRequestBhs.expStatSn);
  bhsSetDataSegmentLength(bhs, s.dataLength ?? 0);
  return bhs;
}

export interface TextRequestSpec {
  final?: boolean;
  cont?: boolean;
  immediate?: boolean;
  itt?: number;
  ttt?: number;
  cmdSn: number;
  expStatSn: number;
  dataLength?: number;
}

export function textBhs(s: TextRequestSpec): Buffer {
  const bhs = Buffer.alloc(BHS_SIZE);
  bhs[0] = InitiatorOpcode.TextRequest | (s.immediate ? IMMEDIATE_BIT : 0);
  bhs[1] = (s.final ?? true ? Flag.Final : 0) | (s.cont ? Flag.Continue : 0);
  bhs.writeUInt32BE(s.itt ?? 0x2000, TextBhs.initiatorTaskTag);
  bhs.writeUInt32BE(s.ttt ?? 0xffffffff, TextBhs.targetTransferTag);
  bhs.writeUInt32BE(s.cmdSn, TextBhs.cmdSnOrStatSn);
  bhs.writeUInt32BE(s.expStatSn, TextBhs.expStatSnOrExpCmdSn);
  bhsSetDataSegmentLength(bhs, s.dataLength ?? 0);
  return bhs;
}

export function logoutBhs(s: { reason?: number; itt?: number; cmdSn: number; expStatSn: number; immediate?: boolean }): Buffer {
  const bhs = Buffer.alloc(BHS_SIZE);
  bhs[0] = InitiatorOpcode.LogoutRequest | (s.immediate ?? true ? IMMEDIATE_BIT : 0);
  bhs[1] = Flag.Final | (s.reason ?? 0);
  bhs.writeUInt32BE(s.itt ?? 0x3000, LogoutRequestBhs.initiatorTaskTag);
  bhs.writeUInt32BE(s.cmdSn, LogoutRequestBhs.cmdSn);
  bhs.writeUInt32BE(s.expStatSn, LogoutRequestBhs.expStatSn);
  return bhs;
}

export function nopOutBhs(s: { itt: number; ttt?: number; cmdSn: number; expStatSn: number; dataLength?: number; lun?: number }): Buffer {
  const bhs = Buffer.alloc(BHS_SIZE);
  bhs[0] = InitiatorOpcode.NopOut | IMMEDIATE_BIT;
  bhs[1] = Flag.Final;
  bhs.writeUInt32BE(s.lun ?? 0, NopBhs.lun);
  bhs.writeUInt32BE(s.itt, NopBhs.initiatorTaskTag);
  bhs.writeUInt32BE(s.ttt ?? 0xffffffff, NopBhs.targetTransferTag);
  bhs.writeUInt32BE(s.cmdSn, NopBhs.cmdSnOrStatSn);
  bhs.writeUInt32BE(s.expStatSn, NopBhs.expStatSnOrExpCmdSn);
  bhsSetDataSegmentLength(bhs, s.dataLength ?? 0);
  return bhs;
}

export function scsiCommandBhs(s: { itt: number; cmdSn: number; expStatSn: number }): Buffer {
  const bhs = Buffer.alloc(BHS_SIZE);
  bhs[0] = InitiatorOpcode.ScsiCommand;
  bhs[1] = Flag.Final | Flag.Read | 1;
  bhs.writeUInt32BE(s.itt, ScsiCommandBhs.initiatorTaskTag);
  bhs.writeUInt32BE(512, ScsiCommandBhs.expectedDataTransferLength);
  bhs.writeUInt32BE(s.cmdSn, ScsiCommandBhs.cmdSn);
  bhs.writeUInt32BE(s.expStatSn, ScsiCommandBhs.expStatSn);
  bhs[ScsiCommandBhs.cdb] = 0x28; // READ(10)
  return bhs;
}

export function keys(list: TextKeyList): Buffer {
  return encodeTextKeys(list);
}
