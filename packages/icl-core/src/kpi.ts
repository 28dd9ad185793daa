/**
 * The driver-facing door of ICL (FreeBSD `icl_conn_if.m`): what an ICL driver
 * implements and what the core offers it. Import as `@iscsi-target/icl-core/kpi`.
 * Users of ICL (the iSCSI frontend, the login code) import the consumer door,
 * `@iscsi-target/icl-core`, instead — never this module (the `icl_wrappers.h` rule).
 *
 * What it does: declares the `IclConn` contract every driver fulfils, the
 * `IclConnBase` class with the optional methods' defaults, and re-exports
 * what drivers need (codec, digests, registry registration).
 *
 * What it does not do: no transport. Drivers (icl-soft over a NIC driver,
 * or an offload driver) move the bytes.
 */
export { IclConnBase } from './conn.js';
export type {
  IclConn,
  IclConnOptions,
  AppendOptions,
  PduCompletion,
  IclDriver,
  IclDrvLimits,
} from './conn.js';
export { registerDriver, unregisterDriver, validateLimits } from './registry.js';
export * from './pdu.js';
export * from './iscsi-proto.js';
export * from './pdu-codec.js';
export * from './crc32c.js';
export * from './errors.js';
export type { NicConn, NicHandlers, NicListener, NicDriver, NicListenOptions } from './nic.js';
export { CopyCounters, iclCopyCounters } from './counters.js';
