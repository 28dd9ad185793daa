/**
 * `@iscsi-target/ctl-core` — the CAM Target Layer core: protocol-neutral SCSI
 * target emulation between frontends (transports) and backends (storage).
 * Nothing here opens a socket or touches the file system.
 */
export * from './io.js';
export type { CtlPort, CtlFrontendServices } from './frontend.js';
export type { BackendLun, BackendLunIdentityInfo, BackendLunInfo, BlockRequest, CtlBackendServices } from './backend.js';
export { Ctl, type CtlOptions, type CtlLunEntry, PORT_STATUS_ABORTED, PORT_STATUS_PROTOCOL_CRC_ERROR } from './ctl.js';
export type { AddLunOptions } from './ctl.js';
export type { PrStore, PrSnapshot, PrSnapshotRegistration, PrNexus } from './pr-store.js';
export { validatePrSnapshot } from './pr-store.js';
export { PrOpcode, PrInAction, PrOutAction, PrType, PrAsc } from './pr-proto.js';
export { encodeIscsiTransportId, decodeIscsiTransportId } from './transport-id.js';
export type { LbaExtent, LogicalBlockProvisioningInfo } from './backend.js';
export {
  encodeLbaStatus,
  lbaStatusDescriptorsFor,
  ProvisioningStatus,
  LBA_STATUS_MAX_BLOCKS,
  type LbaStatusDescriptor,
} from './get-lba-status.js';
export type { LunInventoryOptions } from './ctl.js';
export * from './scsi-proto.js';
export * from './sense.js';
export { ctlCopyCounters, newCtlCopyCounters, type CtlCopyCounters } from './counters.js';
export { CtlError, CtlErrorCode } from './errors.js';
export { CTL_DEFAULTS } from './options.js';
export { encodeLun, decodeLun, MAX_FLAT_LUN } from './report-luns.js';
export { TPC_DEFAULTS, type TpcOptions } from './tpc.js';
export { TpcOpcode, TpcAsc, DEFAULT_TPC_LIMITS, type TpcLimits } from './tpc-proto.js';
export { MAX_COMPARE_AND_WRITE_BLOCKS } from './sbc-integrity.js';
export { ctlDataRef } from './ctl.js';
export {
  BackendRegistry,
  BackendRegistryError,
  defaultBackendRegistry,
  registerBackend,
  type BackendDescriptor,
  type BackendOpenParams,
  type BackendLunIdentity,
} from './backend-registry.js';
export {
  AluaState,
  aluaRefusal,
  DEFAULT_TARGET_PORT_GROUP,
  buildReportTargetPortGroups,
  validatePortAlua,
  type LunAlua,
  type PortAlua,
  type TargetPortGroup,
} from './alua.js';
