/**
 * `@iscsi-target/icl-soft` — the software ICL driver (FreeBSD `icl_soft`):
 * iSCSI PDU framing, digests, coalesced zero-copy transmit and zero-copy
 * receive over any NIC driver (kernel TCP by default).
 *
 * What it does: exports the driver descriptor (`softDriver`, registered as
 * "none", priority 0), `registerSoftDriver`, the connection class and the
 * tunables; and the `tcp` NIC driver (kernel TCP over `node:net`, the
 * default transport below it) with its registry descriptor
 * (`tcpNicDescriptor`). Nothing is registered at import time.
 *
 * What it does not do: login or iSCSI session logic; the software driver
 * itself never opens a socket (whatever NIC driver it is handed carries the
 * bytes).
 */
export { softDriver, createSoftDriver, registerSoftDriver, type SoftDriver, type DriverRegistry } from './soft-driver.js';
export { SoftConn } from './soft-conn.js';
export { SOFT_DEFAULTS, resolveSoftOptions, type SoftDriverOptions, type FlushScheduler } from './options.js';
export {
  TcpNicConn,
  createTcpNicDriver,
  tcpNicDriver,
  tcpNicDescriptor,
  TCP_NIC_DEFAULT_SEND_HIGH_WATER,
  TCP_NIC_DEFAULT_CLOSE_TIMEOUT_MS,
  type TcpNicOptions,
} from './tcp-nic.js';
