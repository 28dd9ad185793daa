/**
 * `@iscsi-target/icl-offload-kpi` — what carries bytes below a software ICL
 * driver, and what every ICL or NIC driver must prove.
 *
 * What it does: re-exports the NIC driver interface declared in icl-core
 * (`NicConn`, `NicDriver`, ...) and ships two NIC drivers: `tcp` (kernel
 * TCP over `node:net`, the default) and `sim` (in-process, deterministic,
 * with fault injection). The conformance kit is a separate entry point,
 * `@iscsi-target/icl-offload-kpi/testing`, so that production code never
 * loads vitest.
 *
 * What it does not do: no iSCSI framing or digests (icl-core's codec, used
 * by icl-soft), no hardware offload driver (an `icl-<name>` package would
 * implement `IclDriver` from `@iscsi-target/icl-core/kpi` itself).
 */
export type { NicConn, NicDriver, NicListener, NicHandlers, NicListenOptions } from '@iscsi-target/icl-core';
export {
  TcpNicConn,
  createTcpNicDriver,
  tcpNicDriver,
  TCP_NIC_DEFAULT_SEND_HIGH_WATER,
  TCP_NIC_DEFAULT_CLOSE_TIMEOUT_MS,
  type TcpNicOptions,
} from './tcp-nic.js';
export {
  SimNetwork,
  SimNicConn,
  simNicDriver,
  SIM_NIC_DEFAULT_SEND_HIGH_WATER,
  SIM_READ_SIZE,
  type SimNetworkOptions,
} from './sim-nic.js';
export { NicClosedError, NicResetError, NicAddressError } from './errors.js';
export { Prng } from './prng.js';
