/**
 * `@iscsi-target/ctl-core` — the CAM Target Layer core: protocol-neutral SCSI
 * target emulation between frontends (transports) and backends (storage).
 * Nothing here opens a socket or touches the file system.
 */
export * from './io.js';
export type { CtlPort, CtlFrontendServices } from './frontend.js';
export type { BackendLun, BackendLunInfo, BlockRequest, CtlBackendServices } from './backend.js';
export { Ctl, type CtlOptions, type CtlLunEntry, PORT_STATUS_ABORTED } from './ctl.js';
export * from './scsi-proto.js';
export * from './sense.js';
export { CtlCopyCounters, ctlCopyCounters } from './counters.js';
export { CtlError, CtlErrorCode } from './errors.js';
export { CTL_DEFAULTS } from './options.js';
export { encodeLun, decodeLun, MAX_FLAT_LUN } from './report-luns.js';
export { ctlDataRef } from './ctl.js';
