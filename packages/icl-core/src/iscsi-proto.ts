/**
 * iSCSI wire constants (RFC 7143), the analog of FreeBSD's `iscsi_proto.h`.
 *
 * What this module does: names every opcode, flag bit, status/response code
 * and BHS field offset the target uses, as `as const` objects (no enums, see
 * `erasableSyntaxOnly`). Field offsets are byte offsets into the 48-byte Basic
 * Header Segment; multi-byte fields are big-endian on the wire.
 *
 * What it does not do: no parsing, no validation, no I/O. Hot paths read and
 * write BHS fields directly with these offsets (`bhs.readUInt32BE(...)`); the
 * decoded, discriminated-union view of a BHS lives in `bhs-decode.ts`.
 */

/** Size of the Basic Header Segment. RFC 7143 §11.2. */
export const BHS_SIZE = 48;
/** Size of a CRC32C header or data digest. RFC 7143 §11.2.3. */
export const DIGEST_SIZE = 4;
/** Data segments are padded to a multiple of this. RFC 7143 §11.2.3. */
export const PAD_ALIGN = 4;
/** The reserved tag value (ITT/TTT) meaning "none". RFC 7143 §11.2.1.8. */
export const RESERVED_TAG = 0xffffffff;
/** Largest value of the 24-bit DataSegmentLength field. */
export const MAX_DATA_SEGMENT_LENGTH_FIELD = 0xffffff;

/** Initiator opcodes (RFC 7143 §11.2.1.2). Mask the byte with `OPCODE_MASK`. */
export const InitiatorOpcode = {
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskManagementRequest: 0x02,
  LoginRequest: 0x03,
  TextRequest: 0x04,
  DataOut: 0x05,
  LogoutRequest: 0x06,
  Snack: 0x10,
} as const;
export type InitiatorOpcode = (typeof InitiatorOpcode)[keyof typeof InitiatorOpcode];

/** Target opcodes (RFC 7143 §11.2.1.2). */
export const TargetOpcode = {
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
export type TargetOpcode = (typeof TargetOpcode)[keyof typeof TargetOpcode];

/** Byte 0: low 6 bits are the opcode, bit 6 is the Immediate (I) bit. */
export const OPCODE_MASK = 0x3f;
export const IMMEDIATE_BIT = 0x40;

/** Byte 1 flag bits shared by several PDU types. */
export const Flag = {
  Final: 0x80, // F
  /** SCSI Command: Read (R) */
  Read: 0x40,
  /** SCSI Command: Write (W) */
  Write: 0x20,
  /** Text / Login: Continue (C) */
  Continue: 0x40,
  /** Login: Transit (T) */
  Transit: 0x80,
  /** Data-In: Acknowledge (A) */
  Acknowledge: 0x40,
  /** Data-In / SCSI Response: residual overflow (O) */
  ResidualOverflow: 0x04,
  /** Data-In / SCSI Response: residual underflow (U) */
  ResidualUnderflow: 0x02,
  /** Data-In: Status present (S) */
  Status: 0x01,
  /** SCSI Response: bidirectional read residual overflow (o) */
  BidiOverflow: 0x10,
  /** SCSI Response: bidirectional read residual underflow (u) */
  BidiUnderflow: 0x08,
} as const;

/** SCSI Command byte 1, bits 0-2: task attribute. RFC 7143 §11.3.1.2. */
export const TaskAttribute = {
  Untagged: 0,
  Simple: 1,
  Ordered: 2,
  HeadOfQueue: 3,
  Aca: 4,
} as const;
export const TASK_ATTRIBUTE_MASK = 0x07;

/**
 * Common BHS field offsets. The first group is the same in every PDU type;
 * the sequence-number group is the same in every PDU that carries the field
 * (RFC 7143 §11.2.1, and the per-PDU layouts of §11.3-11.19).
 */
export const Bhs = {
  opcode: 0,
  flags: 1,
  totalAhsLength: 4,
  /** 24-bit, bytes 5..7 */
  dataSegmentLength: 5,
  /** 8 bytes (reserved in Logout and Reject PDUs; ISID and TSIH in login PDUs). */
  lun: 8,
  initiatorTaskTag: 16,
  /** Initiator requests (not Data-Out, SNACK): CmdSN. */
  cmdSn: 24,
  /** Initiator requests and Data-Out: ExpStatSN. */
  expStatSn: 28,
  /** Target PDUs: StatSN (Data-In: meaningful only with the S bit; R2T: not advanced). */
  statSn: 24,
  /** Target PDUs: ExpCmdSN. */
  expCmdSn: 28,
  /** Target PDUs: MaxCmdSN. */
  maxCmdSn: 32,
} as const;

/** SCSI Command (0x01). RFC 7143 §11.3. */
export const ScsiCommandBhs = {
  flags: 1,
  lun: 8,
  initiatorTaskTag: 16,
  expectedDataTransferLength: 20,
  cmdSn: 24,
  expStatSn: 28,
  cdb: 32,
  cdbLength: 16,
} as const;

/** SCSI Response (0x21). RFC 7143 §11.4. */
export const ScsiResponseBhs = {
  flags: 1,
  response: 2,
  status: 3,
  initiatorTaskTag: 16,
  snack: 20,
  statSn: 24,
  expCmdSn: 28,
  maxCmdSn: 32,
  expDataSn: 36,
  bidiReadResidualCount: 40,
  residualCount: 44,
} as const;

/** SCSI Response "Response" field. RFC 7143 §11.4.3. */
export const ScsiResponseCode = {
  CommandCompleted: 0x00,
  TargetFailure: 0x01,
} as const;

/** Task Management Function Request (0x02). RFC 7143 §11.5. */
export const TaskMgmtRequestBhs = {
  function: 1, // low 7 bits
  lun: 8,
  initiatorTaskTag: 16,
  referencedTaskTag: 20,
  cmdSn: 24,
  expStatSn: 28,
  refCmdSn: 32,
  expDataSn: 36,
} as const;

/** TMF function codes. RFC 7143 §11.5.1. */
export const TaskMgmtFunction = {
  AbortTask: 1,
  AbortTaskSet: 2,
  ClearAca: 3,
  ClearTaskSet: 4,
  LogicalUnitReset: 5,
  TargetWarmReset: 6,
  TargetColdReset: 7,
  TaskReassign: 8,
} as const;

/** Task Management Function Response (0x22). RFC 7143 §11.6. */
export const TaskMgmtResponseBhs = {
  response: 2,
  initiatorTaskTag: 16,
  statSn: 24,
  expCmdSn: 28,
  maxCmdSn: 32,
} as const;

/** TMF response codes. RFC 7143 §11.6.1. */
export const TaskMgmtResponse = {
  FunctionComplete: 0,
  TaskDoesNotExist: 1,
  LunDoesNotExist: 2,
  TaskStillAllegiant: 3,
  TaskAllegianceReassignmentNotSupported: 4,
  FunctionNotSupported: 5,
  FunctionAuthorizationFailed: 6,
  FunctionRejected: 255,
} as const;

/** SCSI Data-Out (0x05). RFC 7143 §11.7. */
export const DataOutBhs = {
  flags: 1,
  lun: 8,
  initiatorTaskTag: 16,
  targetTransferTag: 20,
  expStatSn: 28,
  dataSn: 36,
  bufferOffset: 40,
} as const;

/** SCSI Data-In (0x25). RFC 7143 §11.7. */
export const DataInBhs = {
  flags: 1,
  status: 3,
  lun: 8,
  initiatorTaskTag: 16,
  targetTransferTag: 20,
  statSn: 24,
  expCmdSn: 28,
  maxCmdSn: 32,
  dataSn: 36,
  bufferOffset: 40,
  residualCount: 44,
} as const;

/** Ready To Transfer (0x31). RFC 7143 §11.8. */
export const R2tBhs = {
  lun: 8,
  initiatorTaskTag: 16,
  targetTransferTag: 20,
  statSn: 24,
  expCmdSn: 28,
  maxCmdSn: 32,
  r2tSn: 36,
  bufferOffset: 40,
  desiredDataTransferLength: 44,
} as const;

/** Asynchronous Message (0x32). RFC 7143 §11.9. */
export const AsyncMessageBhs = {
  lun: 8,
  statSn: 24,
  expCmdSn: 28,
  maxCmdSn: 32,
  asyncEvent: 36,
  asyncVCode: 37,
  parameter1: 38,
  parameter2: 40,
  parameter3: 42,
} as const;

export const AsyncEvent = {
  ScsiAsyncEvent: 0,
  LogoutRequested: 1,
  ConnectionDrop: 2,
  SessionDrop: 3,
  NegotiationRequest: 4,
  TaskTermination: 5,
  VendorSpecific: 255,
} as const;

/** Text Request (0x04) / Text Response (0x24). RFC 7143 §11.10-11.11. */
export const TextBhs = {
  flags: 1,
  lun: 8,
  initiatorTaskTag: 16,
  targetTransferTag: 20,
  /** request: CmdSN; response: StatSN */
  cmdSnOrStatSn: 24,
  /** request: ExpStatSN; response: ExpCmdSN */
  expStatSnOrExpCmdSn: 28,
  /** response only */
  maxCmdSn: 32,
} as const;

/** Login Request (0x03). RFC 7143 §11.12. */
export const LoginRequestBhs = {
  flags: 1,
  versionMax: 2,
  versionMin: 3,
  isid: 8, // 6 bytes
  tsih: 14,
  initiatorTaskTag: 16,
  cid: 20,
  cmdSn: 24,
  expStatSn: 28,
} as const;

/** Login Response (0x23). RFC 7143 §11.13. */
export const LoginResponseBhs = {
  flags: 1,
  versionMax: 2,
  versionActive: 3,
  isid: 8,
  tsih: 14,
  initiatorTaskTag: 16,
  statSn: 24,
  expCmdSn: 28,
  maxCmdSn: 32,
  statusClass: 36,
  statusDetail: 37,
} as const;

/** Login flags: CSG in bits 2-3, NSG in bits 0-1 of byte 1. */
export const LOGIN_CSG_SHIFT = 2;
export const LOGIN_STAGE_MASK = 0x03;
export const LoginStage = {
  SecurityNegotiation: 0,
  LoginOperationalNegotiation: 1,
  FullFeaturePhase: 3,
} as const;

/** Login status class/detail pairs. RFC 7143 §11.13.5. */
export const LoginStatus = {
  Success: [0x00, 0x00],
  TargetMovedTemporarily: [0x01, 0x01],
  TargetMovedPermanently: [0x01, 0x02],
  InitiatorError: [0x02, 0x00],
  AuthenticationFailure: [0x02, 0x01],
  AuthorizationFailure: [0x02, 0x02],
  NotFound: [0x02, 0x03],
  TargetRemoved: [0x02, 0x04],
  UnsupportedVersion: [0x02, 0x05],
  TooManyConnections: [0x02, 0x06],
  MissingParameter: [0x02, 0x07],
  CantIncludeInSession: [0x02, 0x08],
  SessionTypeNotSupported: [0x02, 0x09],
  SessionDoesNotExist: [0x02, 0x0a],
  InvalidDuringLogin: [0x02, 0x0b],
  TargetError: [0x03, 0x00],
  ServiceUnavailable: [0x03, 0x01],
  OutOfResources: [0x03, 0x02],
} as const satisfies Record<string, readonly [number, number]>;

/** Logout Request (0x06) / Response (0x26). RFC 7143 §11.14-11.15. */
export const LogoutRequestBhs = {
  reasonCode: 1, // low 7 bits
  initiatorTaskTag: 16,
  cid: 20,
  cmdSn: 24,
  expStatSn: 28,
} as const;
export const LogoutReason = {
  CloseSession: 0,
  CloseConnection: 1,
  RemoveConnectionForRecovery: 2,
} as const;
export const LogoutResponseBhs = {
  response: 2,
  initiatorTaskTag: 16,
  statSn: 24,
  expCmdSn: 28,
  maxCmdSn: 32,
  time2Wait: 40,
  time2Retain: 42,
} as const;
export const LogoutResponse = {
  ClosedSuccessfully: 0,
  CidNotFound: 1,
  RecoveryNotSupported: 2,
  CleanupFailed: 3,
} as const;

/** NOP-Out (0x00) / NOP-In (0x20). RFC 7143 §11.18-11.19. */
export const NopBhs = {
  lun: 8,
  initiatorTaskTag: 16,
  targetTransferTag: 20,
  /** NOP-Out: CmdSN; NOP-In: StatSN */
  cmdSnOrStatSn: 24,
  /** NOP-Out: ExpStatSN; NOP-In: ExpCmdSN */
  expStatSnOrExpCmdSn: 28,
  /** NOP-In only */
  maxCmdSn: 32,
} as const;

/** Reject (0x3f). RFC 7143 §11.17. The data segment carries the rejected BHS. */
export const RejectBhs = {
  reason: 2,
  statSn: 24,
  expCmdSn: 28,
  maxCmdSn: 32,
  dataSnOrR2tSn: 36,
} as const;
export const RejectReason = {
  DataDigestError: 0x02,
  SnackReject: 0x03,
  ProtocolError: 0x04,
  CommandNotSupported: 0x05,
  ImmediateCommandReject: 0x06,
  TaskInProgress: 0x07,
  InvalidDataAck: 0x08,
  InvalidPduField: 0x09,
  LongOpReject: 0x0a,
  DeprecatedNegotiationReset: 0x0b,
  WaitingForLogout: 0x0c,
} as const;
