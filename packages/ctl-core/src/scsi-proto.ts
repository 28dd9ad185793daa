/**
 * SCSI wire constants used by the CTL core (SPC-4, SBC-3, SAM-5): operation
 * codes, service actions, sense keys, ASC/ASCQ pairs, VPD and mode page codes.
 * Constants only: no decoding, no state. Names follow the T10 mnemonics,
 * camel-cased (FreeBSD `scsi_all.h` / `scsi_da.h`).
 */

/** Operation codes (SPC-4 / SBC-3). */
export const ScsiOpcode = {
  TestUnitReady: 0x00,
  RequestSense: 0x03,
  Read6: 0x08,
  Write6: 0x0a,
  Inquiry: 0x12,
  ModeSelect6: 0x15,
  ModeSense6: 0x1a,
  StartStopUnit: 0x1b,
  PreventAllowMediumRemoval: 0x1e,
  ReadCapacity10: 0x25,
  Read10: 0x28,
  Write10: 0x2a,
  Verify10: 0x2f,
  SynchronizeCache10: 0x35,
  ModeSelect10: 0x55,
  ModeSense10: 0x5a,
  Read16: 0x88,
  Write16: 0x8a,
  Verify16: 0x8f,
  SynchronizeCache16: 0x91,
  /** SERVICE ACTION IN(16); READ CAPACITY(16) is service action 0x10. */
  ServiceActionIn16: 0x9e,
  ReportLuns: 0xa0,
  Read12: 0xa8,
  Write12: 0xaa,
  // Data-integrity commands (SBC-3 / SBC-4), handled in sbc-integrity.ts.
  WriteAndVerify10: 0x2e,
  PreFetch10: 0x34,
  OrWrite16: 0x8b,
  CompareAndWrite: 0x89,
  WriteAndVerify16: 0x8e,
  PreFetch16: 0x90,
  WriteAtomic16: 0x9c,
  WriteAndVerify12: 0xae,
  Verify12: 0xaf,
  ReadDefectData10: 0x37,
  LogSelect: 0x4c,
  LogSense: 0x4d,
  /** MAINTENANCE IN: service actions in `MaintenanceIn`. */
  MaintenanceIn: 0xa3,
  ReadDefectData12: 0xb7,
  Sanitize: 0x48,
  /** SBC-3 WRITE SAME(10). */
  WriteSame10: 0x41,
  /** SBC-3 UNMAP. */
  Unmap: 0x42,
  /** SBC-3 WRITE SAME(16). */
  WriteSame16: 0x93,
} as const;
export type ScsiOpcode = (typeof ScsiOpcode)[keyof typeof ScsiOpcode];

/** Service actions of SERVICE ACTION IN(16) (SBC-3). */
export const ServiceActionIn16 = {
  ReadCapacity16: 0x10,
  /** SBC-3 GET LBA STATUS. */
  GetLbaStatus: 0x12,
} as const;

/** Service actions of MAINTENANCE IN (SPC-4 §6.35, §6.36). */
export const MaintenanceIn = {
  ReportTargetPortGroups: 0x0a,
  ReportSupportedOperationCodes: 0x0c,
  ReportSupportedTaskManagementFunctions: 0x0d,
} as const;

/** Sense keys (SPC-4 §4.5.6, table 45). */
export const SenseKey = {
  NoSense: 0x0,
  RecoveredError: 0x1,
  NotReady: 0x2,
  MediumError: 0x3,
  HardwareError: 0x4,
  IllegalRequest: 0x5,
  UnitAttention: 0x6,
  DataProtect: 0x7,
  BlankCheck: 0x8,
  VendorSpecific: 0x9,
  CopyAborted: 0xa,
  AbortedCommand: 0xb,
  VolumeOverflow: 0xd,
  Miscompare: 0xe,
} as const;
export type SenseKey = (typeof SenseKey)[keyof typeof SenseKey];

/** An additional sense code + qualifier pair. */
export interface AscAscq {
  readonly asc: number;
  readonly ascq: number;
}

/** ASC/ASCQ pairs used by the core (SPC-4 Annex D / table 48). */
export const Asc = {
  NoAdditionalSenseInformation: { asc: 0x00, ascq: 0x00 },
  LogicalUnitNotReadyCauseNotReportable: { asc: 0x04, ascq: 0x00 },
  WriteError: { asc: 0x0c, ascq: 0x00 },
  UnrecoveredReadError: { asc: 0x11, ascq: 0x00 },
  MiscompareDuringVerifyOperation: { asc: 0x1d, ascq: 0x00 },
  ParameterListLengthError: { asc: 0x1a, ascq: 0x00 },
  InvalidCommandOperationCode: { asc: 0x20, ascq: 0x00 },
  LogicalBlockAddressOutOfRange: { asc: 0x21, ascq: 0x00 },
  InvalidFieldInCdb: { asc: 0x24, ascq: 0x00 },
  LogicalUnitNotSupported: { asc: 0x25, ascq: 0x00 },
  InvalidFieldInParameterList: { asc: 0x26, ascq: 0x00 },
  WriteProtected: { asc: 0x27, ascq: 0x00 },
  PowerOnResetOrBusDeviceResetOccurred: { asc: 0x29, ascq: 0x00 },
  PowerOnOccurred: { asc: 0x29, ascq: 0x01 },
  ScsiBusResetOccurred: { asc: 0x29, ascq: 0x02 },
  BusDeviceResetFunctionOccurred: { asc: 0x29, ascq: 0x03 },
  ItNexusLossOccurred: { asc: 0x29, ascq: 0x07 },
  ModeParametersChanged: { asc: 0x2a, ascq: 0x01 },
  CapacityDataHasChanged: { asc: 0x2a, ascq: 0x09 },
  CommandsClearedByAnotherInitiator: { asc: 0x2f, ascq: 0x00 },
  SavingParametersNotSupported: { asc: 0x39, ascq: 0x00 },
  ReportedLunsDataHasChanged: { asc: 0x3f, ascq: 0x0e },
  InternalTargetFailure: { asc: 0x44, ascq: 0x00 },
  InvalidFieldInCommandInformationUnit: { asc: 0x0e, ascq: 0x03 },
  InvalidMessageError: { asc: 0x49, ascq: 0x00 },
  /** ASCQ is the low byte of the overlapping task tag (SAM-5 overlapped commands). */
  TaggedOverlappedCommands: { asc: 0x4d, ascq: 0x00 },
  OverlappedCommandsAttempted: { asc: 0x4e, ascq: 0x00 },
  SpaceAllocationFailedWriteProtect: { asc: 0x27, ascq: 0x07 },
  /** SPC-4 Annex D: 47h/05h PROTOCOL SERVICE CRC ERROR (RFC 7143 digest / sequence errors). */
  ProtocolServiceCrcError: { asc: 0x47, ascq: 0x05 },
  /** NOT READY after START STOP UNIT stopped the unit (SBC-3 §4.19, START STOP UNIT). */
  LogicalUnitNotReadyInitializingCommandRequired: { asc: 0x04, ascq: 0x02 },
  /** SPC-4 §5.15.2.6: LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION. */
  AsymmetricAccessStateTransition: { asc: 0x04, ascq: 0x0a },
  /** SPC-4 §5.15.2.4: LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN STANDBY STATE. */
  TargetPortInStandbyState: { asc: 0x04, ascq: 0x0b },
  /** SPC-4 §5.15.2.5: LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN UNAVAILABLE STATE. */
  TargetPortInUnavailableState: { asc: 0x04, ascq: 0x0c },
  /** SPC-4 §5.15.2.2: ASYMMETRIC ACCESS STATE CHANGED (unit attention). */
  AsymmetricAccessStateChanged: { asc: 0x2a, ascq: 0x06 },
  /** READ DEFECT DATA: no defect list of the requested format (SBC-3 READ DEFECT DATA). */
  DefectListNotFound: { asc: 0x1c, ascq: 0x00 },
  /** START STOP UNIT with LOEJ while removal is prevented (SBC-3 START STOP UNIT). */
  MediumRemovalPrevented: { asc: 0x53, ascq: 0x02 },
  /** NOT READY for medium access after a removable medium was ejected (FreeBSD `ctl_set_lun_ejected`). */
  MediumNotPresentTrayOpen: { asc: 0x3a, ascq: 0x02 },
  /** Unit attention after a removable medium was loaded (SPC-4 Annex D). */
  NotReadyToReadyChangeMediumMayHaveChanged: { asc: 0x28, ascq: 0x00 },
} as const satisfies Record<string, AscAscq>;

/** Sense data response codes (SPC-4 §4.5.1). */
export const SenseResponseCode = {
  FixedCurrent: 0x70,
  FixedDeferred: 0x71,
  DescriptorCurrent: 0x72,
  DescriptorDeferred: 0x73,
} as const;

/** Sense data descriptor types (SPC-4 §4.5.2.1). */
export const SenseDescriptorType = {
  Information: 0x00,
  CommandSpecificInformation: 0x01,
  SenseKeySpecific: 0x02,
} as const;

/** Peripheral device types (SPC-4 §6.4.2). */
export const PeripheralDeviceType = {
  DirectAccessBlock: 0x00,
  /** Unknown or no device type (used with qualifier 011b). */
  Unknown: 0x1f,
} as const;

/** Peripheral qualifiers (SPC-4 §6.4.2). */
export const PeripheralQualifier = {
  Connected: 0b000,
  NotConnected: 0b001,
  /** The device server is not capable of supporting a logical unit here. */
  NotCapable: 0b011,
} as const;

/** Vital product data page codes (SPC-4 §7.8, SBC-3 §6.5). */
export const VpdPage = {
  SupportedVpdPages: 0x00,
  UnitSerialNumber: 0x80,
  DeviceIdentification: 0x83,
  BlockLimits: 0xb0,
  BlockDeviceCharacteristics: 0xb1,
  LogicalBlockProvisioning: 0xb2,
} as const;

/** Mode page codes (SPC-4 §7.5, SBC-3 §6.4). */
export const ModePage = {
  ReadWriteErrorRecovery: 0x01,
  Caching: 0x08,
  Control: 0x0a,
  InformationalExceptionsControl: 0x1c,
  AllPages: 0x3f,
} as const;

/** Page control field of MODE SENSE (SPC-4 §6.11.1, table 154). */
export const PageControl = {
  Current: 0b00,
  Changeable: 0b01,
  Default: 0b10,
  Saved: 0b11,
} as const;

/** Device identification descriptor fields (SPC-4 §7.8.6). */
export const CodeSet = { Binary: 0x1, Ascii: 0x2, Utf8: 0x3 } as const;
export const Association = { LogicalUnit: 0b00, TargetPort: 0b01, TargetDevice: 0b10 } as const;
export const DesignatorType = {
  VendorSpecific: 0x0,
  T10VendorId: 0x1,
  Eui64: 0x2,
  Naa: 0x3,
  RelativeTargetPort: 0x4,
  TargetPortGroup: 0x5,
  LogicalUnitGroup: 0x6,
  Md5LogicalUnit: 0x7,
  ScsiNameString: 0x8,
} as const;
/** Protocol identifier for iSCSI (SPC-4 §7.6.1, table 362). */
export const PROTOCOL_IDENTIFIER_ISCSI = 0x5;

/** SPC version claimed in standard INQUIRY data (0x06 = SPC-4). */
export const SPC_VERSION_SPC4 = 0x06;
