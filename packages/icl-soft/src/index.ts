/**
 * `@iscsi-target/icl-soft` — the software ICL driver (FreeBSD `icl_soft`):
 * iSCSI PDU framing, digests, coalesced zero-copy transmit and zero-copy
 * receive over any NIC driver (kernel TCP by default).
 *
 * What it does: exports the driver descriptor (`softDriver`, registered as
 * "none", priority 0), `registerSoftDriver`, the connection class and the
 * tunables. Nothing is registered at import time.
 *
 * What it does not do: open sockets itself (a NIC driver from
 * `@iscsi-target/icl-offload-kpi` carries the bytes), login, or iSCSI
 * session logic.
 */
export { softDriver, createSoftDriver, registerSoftDriver, type SoftDriver, type DriverRegistry } from './soft-driver.js';
export { SoftConn } from './soft-conn.js';
export { SOFT_DEFAULTS, resolveSoftOptions, type SoftDriverOptions, type FlushScheduler } from './options.js';
