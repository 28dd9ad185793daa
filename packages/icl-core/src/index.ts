/**
 * `@iscsi-target/icl-core` — the consumer door of the iSCSI Common Layer
 * (FreeBSD `icl_wrappers.h`): what users of ICL (the iSCSI frontend, the
 * login code in the daemon) need. Drivers import `@iscsi-target/icl-core/kpi`
 * instead. Nothing here opens a socket or touches the file system.
 */
export type { IclConn, AppendOptions, PduCompletion, IclDriver, IclDrvLimits, IclConnOptions } from './conn.js';
export type { NicConn, NicHandlers, NicListener, NicDriver, NicListenOptions } from './nic.js';
export { CopyCounters, iclCopyCounters } from './counters.js';
export { IclRegistry, defaultRegistry, iclNewConn, iclLimits, findDriver } from './registry.js';
export * from './pdu.js';
export * from './iscsi-proto.js';
export { decodeBhs, decodeLoginRequest, type DecodedBhs, type LoginRequestDecoded } from './bhs-decode.js';
export * from './text.js';
export * from './errors.js';
