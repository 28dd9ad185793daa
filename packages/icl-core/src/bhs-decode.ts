/**
 * A decoded, discriminated-union view of a Basic Header Segment (RFC 7143
 * §11), for the login code, logging and tests.
 *
 * What it does: reads every field of every PDU type into camelCased
 * properties (numbers; LUN, ISID and CDB as Buffer views of the BHS).
 * Unknown opcodes decode to `{ type: 'Unknown' }`; the caller decides
 * whether that is a Reject.
 *
 * What it does not do: no validation of field values, no data segment, and
 * it is not for the hot path (it allocates an object per call; the data
 * path reads fields with the offsets of `iscsi-proto.ts` instead).
 *
 * Buffer ownership: `lun`, `isid` and `cdb` are views of the `bhs` passed
 * in; they change if it does.
 */
import {
  AsyncMessageBhs,
  BHS_SIZE,
  Bhs,
  DataInBhs,
  DataOutBhs,
  Flag,
  IMMEDIATE_BIT,
  InitiatorOpcode,
  LOGIN_CSG_SHIFT,
  LOGIN_STAGE_MASK,
  LoginRequestBhs,
  LoginResponseBhs,
  LogoutRequestBhs,
  LogoutResponseBhs,
  NopBhs,
  OPCODE_MASK,
  R2tBhs,
  RejectBhs,
  ScsiCommandBhs,
  ScsiResponseBhs,
  TASK_ATTRIBUTE_MASK,
  TargetOpcode,
  TaskMgmtRequestBhs,
  TaskMgmtResponseBhs,
  TextBhs,
} from './iscsi-proto.js';

/** SNACK Request (0x10) field offsets. RFC 7143 §11.16. */
export const SnackBhs = {
  /** low 4 bits of byte 1 */
  type: 1,
  lun: 8,
  initiatorTaskTag: 16,
  targetTransferTag: 20,
  expStatSn: 28,
  begRun: 40,
  runLength: 44,
} as const;

/** Fields present in every decoded BHS. */
export interface BhsCommon {
  /** Opcode without the Immediate bit. */
  readonly opcode: number;
  readonly immediate: boolean;
  /** Byte 1, raw. */
  readonly flags: number;
  /** In bytes (the wire field counts 4-byte words). */
  readonly totalAhsLength: number;
  readonly dataSegmentLength: number;
  readonly initiatorTaskTag: number;
}

export interface NopOutBhs extends BhsCommon {
  readonly type: 'NopOut';
  readonly lun: Buffer;
  readonly targetTransferTag: number;
  readonly cmdSn: number;
  readonly expStatSn: number;
}
export interface ScsiCommandDecoded extends BhsCommon {
  readonly type: 'ScsiCommand';
  readonly final: boolean;
  readonly read: boolean;
  readonly write: boolean;
  readonly taskAttribute: number;
  readonly lun: Buffer;
  readonly expectedDataTransferLength: number;
  readonly cmdSn: number;
  readonly expStatSn: number;
  /** 16 bytes. */
  readonly cdb: Buffer;
}
export interface TaskManagementRequestDecoded extends BhsCommon {
  readonly type: 'TaskManagementRequest';
  /** Low 7 bits of byte 1 (`TaskMgmtFunction`). */
  readonly function: number;
  readonly lun: Buffer;
  readonly referencedTaskTag: number;
  readonly cmdSn: number;
  readonly expStatSn: number;
  readonly refCmdSn: number;
  readonly expDataSn: number;
}
export interface LoginRequestDecoded extends BhsCommon {
  readonly type: 'LoginRequest';
  readonly transit: boolean;
  readonly continue: boolean;
  readonly csg: number;
  readonly nsg: number;
  readonly versionMax: number;
  readonly versionMin: number;
  /** 6 bytes. */
  readonly isid: Buffer;
  readonly tsih: number;
  readonly cid: number;
  readonly cmdSn: number;
  readonly expStatSn: number;
}
export interface TextRequestDecoded extends BhsCommon {
  readonly type: 'TextRequest';
  readonly final: boolean;
  readonly continue: boolean;
  readonly lun: Buffer;
  readonly targetTransferTag: number;
  readonly cmdSn: number;
  readonly expStatSn: number;
}
export interface DataOutDecoded extends BhsCommon {
  readonly type: 'DataOut';
  readonly final: boolean;
  readonly lun: Buffer;
  readonly targetTransferTag: number;
  readonly expStatSn: number;
  readonly dataSn: number;
  readonly bufferOffset: number;
}
export interface LogoutRequestDecoded extends BhsCommon {
  readonly type: 'LogoutRequest';
  /** Low 7 bits of byte 1 (`LogoutReason`). */
  readonly reasonCode: number;
  readonly cid: number;
  readonly cmdSn: number;
  readonly expStatSn: number;
}
export interface SnackDecoded extends BhsCommon {
  readonly type: 'Snack';
  /** Low 4 bits of byte 1. */
  readonly snackType: number;
  readonly lun: Buffer;
  /** Target Transfer Tag or SNACK Tag. */
  readonly targetTransferTag: number;
  readonly expStatSn: number;
  readonly begRun: number;
  readonly runLength: number;
}
export interface NopInDecoded extends BhsCommon {
  readonly type: 'NopIn';
  readonly lun: Buffer;
  readonly targetTransferTag: number;
  readonly statSn: number;
  readonly expCmdSn: number;
  readonly maxCmdSn: number;
}
export interface ScsiResponseDecoded extends BhsCommon {
  readonly type: 'ScsiResponse';
  readonly bidiReadResidualOverflow: boolean;
  readonly bidiReadResidualUnderflow: boolean;
  readonly residualOverflow: boolean;
  readonly residualUnderflow: boolean;
  readonly response: number;
  readonly status: number;
  readonly snackTag: number;
  readonly statSn: number;
  readonly expCmdSn: number;
  readonly maxCmdSn: number;
  readonly expDataSn: number;
  readonly bidiReadResidualCount: number;
  readonly residualCount: number;
}
export interface TaskManagementResponseDecoded extends BhsCommon {
  readonly type: 'TaskManagementResponse';
  readonly response: number;
  readonly statSn: number;
  readonly expCmdSn: number;
  readonly maxCmdSn: number;
}
export interface LoginResponseDecoded extends BhsCommon {
  readonly type: 'LoginResponse';
  readonly transit: boolean;
  readonly continue: boolean;
  readonly csg: number;
  readonly nsg: number;
  readonly versionMax: number;
  readonly versionActive: number;
  readonly isid: Buffer;
  readonly tsih: number;
  readonly statSn: number;
  readonly expCmdSn: number;
  readonly maxCmdSn: number;
  readonly statusClass: number;
  readonly statusDetail: number;
}
export interface TextResponseDecoded extends BhsCommon {
  readonly type: 'TextResponse';
  readonly final: boolean;
  readonly continue: boolean;
  readonly lun: Buffer;
  readonly targetTransferTag: number;
  readonly statSn: number;
  readonly expCmdSn: number;
  readonly maxCmdSn: number;
}
export interface DataInDecoded extends BhsCommon {
  readonly type: 'DataIn';
  readonly final: boolean;
  readonly acknowledge: boolean;
  readonly residualOverflow: boolean;
  readonly residualUnderflow: boolean;
  /** S bit: the PDU carries the command status. */
  readonly statusPresent: boolean;
  readonly status: number;
  readonly lun: Buffer;
  readonly targetTransferTag: number;
  readonly statSn: number;
  readonly expCmdSn: number;
  readonly maxCmdSn: number;
  readonly dataSn: number;
  readonly bufferOffset: number;
  readonly residualCount: number;
}
export interface LogoutResponseDecoded extends BhsCommon {
  readonly type: 'LogoutResponse';
  readonly response: number;
  readonly statSn: number;
  readonly expCmdSn: number;
  readonly maxCmdSn: number;
  readonly time2Wait: number;
  readonly time2Retain: number;
}
export interface R2tDecoded extends BhsCommon {
  readonly type: 'R2t';
  readonly lun: Buffer;
  readonly targetTransferTag: number;
  readonly statSn: number;
  readonly expCmdSn: number;
  readonly maxCmdSn: number;
  readonly r2tSn: number;
  readonly bufferOffset: number;
  readonly desiredDataTransferLength: number;
}
export interface AsyncMessageDecoded extends BhsCommon {
  readonly type: 'AsyncMessage';
  readonly lun: Buffer;
  readonly statSn: number;
  readonly expCmdSn: number;
  readonly maxCmdSn: number;
  readonly asyncEvent: number;
  readonly asyncVCode: number;
  readonly parameter1: number;
  readonly parameter2: number;
  readonly parameter3: number;
}
export interface RejectDecoded extends BhsCommon {
  readonly type: 'Reject';
  readonly reason: number;
  readonly statSn: number;
  readonly expCmdSn: number;
  readonly maxCmdSn: number;
  readonly dataSnOrR2tSn: number;
}
export interface UnknownDecoded extends BhsCommon {
  readonly type: 'Unknown';
}

export type DecodedBhs =
  | NopOutBhs
  | ScsiCommandDecoded
  | TaskManagementRequestDecoded
  | LoginRequestDecoded
  | TextRequestDecoded
  | DataOutDecoded
  | LogoutRequestDecoded
  | SnackDecoded
  | NopInDecoded
  | ScsiResponseDecoded
  | TaskManagementResponseDecoded
  | LoginResponseDecoded
  | TextResponseDecoded
  | DataInDecoded
  | LogoutResponseDecoded
  | R2tDecoded
  | AsyncMessageDecoded
  | RejectDecoded
  | UnknownDecoded;

function decodeCommon(bhs: Buffer): BhsCommon {
  if (bhs.length < BHS_SIZE) throw new RangeError(`BHS must be ${BHS_SIZE} bytes, got ${bhs.length}`);
  return {
    opcode: bhs[Bhs.opcode]! & OPCODE_MASK,
    immediate: (bhs[Bhs.opcode]! & IMMEDIATE_BIT) !== 0,
    flags: bhs[Bhs.flags]!,
    totalAhsLength: bhs[Bhs.totalAhsLength]! * 4,
    dataSegmentLength: bhs.readUIntBE(Bhs.dataSegmentLength, 3),
    initiatorTaskTag: bhs.readUInt32BE(Bhs.initiatorTaskTag),
  };
}

/**
 * Decodes a Login Request BHS (RFC 7143 §11.12) without checking its
 * opcode: the login code calls it on every PDU of the login phase (a PDU
 * with another opcode is rejected there). `isid` is a view of `bhs`.
 */
export function decodeLoginRequest(bhs: Buffer): LoginRequestDecoded {
  return loginRequestFields(decodeCommon(bhs), bhs);
}

function loginRequestFields(common: BhsCommon, bhs: Buffer): LoginRequestDecoded {
  const flags = common.flags;
  return {
    ...common,
    type: 'LoginRequest',
    transit: (flags & Flag.Transit) !== 0,
    continue: (flags & Flag.Continue) !== 0,
    csg: (flags >> LOGIN_CSG_SHIFT) & LOGIN_STAGE_MASK,
    nsg: flags & LOGIN_STAGE_MASK,
    versionMax: bhs[LoginRequestBhs.versionMax]!,
    versionMin: bhs[LoginRequestBhs.versionMin]!,
    isid: bhs.subarray(LoginRequestBhs.isid, LoginRequestBhs.isid + 6),
    tsih: bhs.readUInt16BE(LoginRequestBhs.tsih),
    cid: bhs.readUInt16BE(LoginRequestBhs.cid),
    cmdSn: bhs.readUInt32BE(LoginRequestBhs.cmdSn),
    expStatSn: bhs.readUInt32BE(LoginRequestBhs.expStatSn),
  };
}

/** Decodes a 48-byte BHS. Throws RangeError if `bhs` is shorter. */
export function decodeBhs(bhs: Buffer): DecodedBhs {
  const common = decodeCommon(bhs);
  const u32 = (o: number): number => bhs.readUInt32BE(o);
  const u16 = (o: number): number => bhs.readUInt16BE(o);
  const flags = common.flags;
  const bit = (mask: number): boolean => (flags & mask) !== 0;
  const lun = (): Buffer => bhs.subarray(Bhs.lun, Bhs.lun + 8);
  switch (common.opcode) {
    case InitiatorOpcode.NopOut: // RFC 7143 §11.18
      return {
        ...common,
        type: 'NopOut',
        lun: lun(),
        targetTransferTag: u32(NopBhs.targetTransferTag),
        cmdSn: u32(NopBhs.cmdSnOrStatSn),
        expStatSn: u32(NopBhs.expStatSnOrExpCmdSn),
      };
    case InitiatorOpcode.ScsiCommand: // RFC 7143 §11.3
      return {
        ...common,
        type: 'ScsiCommand',
        final: bit(Flag.Final),
        read: bit(Flag.Read),
        write: bit(Flag.Write),
        taskAttribute: flags & TASK_ATTRIBUTE_MASK,
        lun: lun(),
        expectedDataTransferLength: u32(ScsiCommandBhs.expectedDataTransferLength),
        cmdSn: u32(ScsiCommandBhs.cmdSn),
        expStatSn: u32(ScsiCommandBhs.expStatSn),
        cdb: bhs.subarray(ScsiCommandBhs.cdb, ScsiCommandBhs.cdb + ScsiCommandBhs.cdbLength),
      };
    case InitiatorOpcode.TaskManagementRequest: // RFC 7143 §11.5
      return {
        ...common,
        type: 'TaskManagementRequest',
        function: flags & 0x7f,
        lun: lun(),
        referencedTaskTag: u32(TaskMgmtRequestBhs.referencedTaskTag),
        cmdSn: u32(TaskMgmtRequestBhs.cmdSn),
        expStatSn: u32(TaskMgmtRequestBhs.expStatSn),
        refCmdSn: u32(TaskMgmtRequestBhs.refCmdSn),
        expDataSn: u32(TaskMgmtRequestBhs.expDataSn),
      };
    case InitiatorOpcode.LoginRequest: // RFC 7143 §11.12
      return loginRequestFields(common, bhs);
    case InitiatorOpcode.TextRequest: // RFC 7143 §11.10
      return {
        ...common,
        type: 'TextRequest',
        final: bit(Flag.Final),
        continue: bit(Flag.Continue),
        lun: lun(),
        targetTransferTag: u32(TextBhs.targetTransferTag),
        cmdSn: u32(TextBhs.cmdSnOrStatSn),
        expStatSn: u32(TextBhs.expStatSnOrExpCmdSn),
      };
    case InitiatorOpcode.DataOut: // RFC 7143 §11.7
      return {
        ...common,
        type: 'DataOut',
        final: bit(Flag.Final),
        lun: lun(),
        targetTransferTag: u32(DataOutBhs.targetTransferTag),
        expStatSn: u32(DataOutBhs.expStatSn),
        dataSn: u32(DataOutBhs.dataSn),
        bufferOffset: u32(DataOutBhs.bufferOffset),
      };
    case InitiatorOpcode.LogoutRequest: // RFC 7143 §11.14
      return {
        ...common,
        type: 'LogoutRequest',
        reasonCode: flags & 0x7f,
        cid: u16(LogoutRequestBhs.cid),
        cmdSn: u32(LogoutRequestBhs.cmdSn),
        expStatSn: u32(LogoutRequestBhs.expStatSn),
      };
    case InitiatorOpcode.Snack: // RFC 7143 §11.16
      return {
        ...common,
        type: 'Snack',
        snackType: flags & 0x0f,
        lun: lun(),
        targetTransferTag: u32(SnackBhs.targetTransferTag),
        expStatSn: u32(SnackBhs.expStatSn),
        begRun: u32(SnackBhs.begRun),
        runLength: u32(SnackBhs.runLength),
      };
    case TargetOpcode.NopIn: // RFC 7143 §11.19
      return {
        ...common,
        type: 'NopIn',
        lun: lun(),
        targetTransferTag: u32(NopBhs.targetTransferTag),
        statSn: u32(NopBhs.cmdSnOrStatSn),
        expCmdSn: u32(NopBhs.expStatSnOrExpCmdSn),
        maxCmdSn: u32(NopBhs.maxCmdSn),
      };
    case TargetOpcode.ScsiResponse: // RFC 7143 §11.4
      return {
        ...common,
        type: 'ScsiResponse',
        bidiReadResidualOverflow: bit(Flag.BidiOverflow),
        bidiReadResidualUnderflow: bit(Flag.BidiUnderflow),
        residualOverflow: bit(Flag.ResidualOverflow),
        residualUnderflow: bit(Flag.ResidualUnderflow),
        response: bhs[ScsiResponseBhs.response]!,
        status: bhs[ScsiResponseBhs.status]!,
        snackTag: u32(ScsiResponseBhs.snack),
        statSn: u32(ScsiResponseBhs.statSn),
        expCmdSn: u32(ScsiResponseBhs.expCmdSn),
        maxCmdSn: u32(ScsiResponseBhs.maxCmdSn),
        expDataSn: u32(ScsiResponseBhs.expDataSn),
        bidiReadResidualCount: u32(ScsiResponseBhs.bidiReadResidualCount),
        residualCount: u32(ScsiResponseBhs.residualCount),
      };
    case TargetOpcode.TaskManagementResponse: // RFC 7143 §11.6
      return {
        ...common,
        type: 'TaskManagementResponse',
        response: bhs[TaskMgmtResponseBhs.response]!,
        statSn: u32(TaskMgmtResponseBhs.statSn),
        expCmdSn: u32(TaskMgmtResponseBhs.expCmdSn),
        maxCmdSn: u32(TaskMgmtResponseBhs.maxCmdSn),
      };
    case TargetOpcode.LoginResponse: // RFC 7143 §11.13
      return {
        ...common,
        type: 'LoginResponse',
        transit: bit(Flag.Transit),
        continue: bit(Flag.Continue),
        csg: (flags >> LOGIN_CSG_SHIFT) & LOGIN_STAGE_MASK,
        nsg: flags & LOGIN_STAGE_MASK,
        versionMax: bhs[LoginResponseBhs.versionMax]!,
        versionActive: bhs[LoginResponseBhs.versionActive]!,
        isid: bhs.subarray(LoginResponseBhs.isid, LoginResponseBhs.isid + 6),
        tsih: u16(LoginResponseBhs.tsih),
        statSn: u32(LoginResponseBhs.statSn),
        expCmdSn: u32(LoginResponseBhs.expCmdSn),
        maxCmdSn: u32(LoginResponseBhs.maxCmdSn),
        statusClass: bhs[LoginResponseBhs.statusClass]!,
        statusDetail: bhs[LoginResponseBhs.statusDetail]!,
      };
    case TargetOpcode.TextResponse: // RFC 7143 §11.11
      return {
        ...common,
        type: 'TextResponse',
        final: bit(Flag.Final),
        continue: bit(Flag.Continue),
        lun: lun(),
        targetTransferTag: u32(TextBhs.targetTransferTag),
        statSn: u32(TextBhs.cmdSnOrStatSn),
        expCmdSn: u32(TextBhs.expStatSnOrExpCmdSn),
        maxCmdSn: u32(TextBhs.maxCmdSn),
      };
    case TargetOpcode.DataIn: // RFC 7143 §11.7
      return {
        ...common,
        type: 'DataIn',
        final: bit(Flag.Final),
        acknowledge: bit(Flag.Acknowledge),
        residualOverflow: bit(Flag.ResidualOverflow),
        residualUnderflow: bit(Flag.ResidualUnderflow),
        statusPresent: bit(Flag.Status),
        status: bhs[DataInBhs.status]!,
        lun: lun(),
        targetTransferTag: u32(DataInBhs.targetTransferTag),
        statSn: u32(DataInBhs.statSn),
        expCmdSn: u32(DataInBhs.expCmdSn),
        maxCmdSn: u32(DataInBhs.maxCmdSn),
        dataSn: u32(DataInBhs.dataSn),
        bufferOffset: u32(DataInBhs.bufferOffset),
        residualCount: u32(DataInBhs.residualCount),
      };
    case TargetOpcode.LogoutResponse: // RFC 7143 §11.15
      return {
        ...common,
        type: 'LogoutResponse',
        response: bhs[LogoutResponseBhs.response]!,
        statSn: u32(LogoutResponseBhs.statSn),
        expCmdSn: u32(LogoutResponseBhs.expCmdSn),
        maxCmdSn: u32(LogoutResponseBhs.maxCmdSn),
        time2Wait: u16(LogoutResponseBhs.time2Wait),
        time2Retain: u16(LogoutResponseBhs.time2Retain),
      };
    case TargetOpcode.R2t: // RFC 7143 §11.8
      return {
        ...common,
        type: 'R2t',
        lun: lun(),
        targetTransferTag: u32(R2tBhs.targetTransferTag),
        statSn: u32(R2tBhs.statSn),
        expCmdSn: u32(R2tBhs.expCmdSn),
        maxCmdSn: u32(R2tBhs.maxCmdSn),
        r2tSn: u32(R2tBhs.r2tSn),
        bufferOffset: u32(R2tBhs.bufferOffset),
        desiredDataTransferLength: u32(R2tBhs.desiredDataTransferLength),
      };
    case TargetOpcode.AsyncMessage: // RFC 7143 §11.9
      return {
        ...common,
        type: 'AsyncMessage',
        lun: lun(),
        statSn: u32(AsyncMessageBhs.statSn),
        expCmdSn: u32(AsyncMessageBhs.expCmdSn),
        maxCmdSn: u32(AsyncMessageBhs.maxCmdSn),
        asyncEvent: bhs[AsyncMessageBhs.asyncEvent]!,
        asyncVCode: bhs[AsyncMessageBhs.asyncVCode]!,
        parameter1: u16(AsyncMessageBhs.parameter1),
        parameter2: u16(AsyncMessageBhs.parameter2),
        parameter3: u16(AsyncMessageBhs.parameter3),
      };
    case TargetOpcode.Reject: // RFC 7143 §11.17
      return {
        ...common,
        type: 'Reject',
        reason: bhs[RejectBhs.reason]!,
        statSn: u32(RejectBhs.statSn),
        expCmdSn: u32(RejectBhs.expCmdSn),
        maxCmdSn: u32(RejectBhs.maxCmdSn),
        dataSnOrR2tSn: u32(RejectBhs.dataSnOrR2tSn),
      };
    default:
      return { ...common, type: 'Unknown' };
  }
}
