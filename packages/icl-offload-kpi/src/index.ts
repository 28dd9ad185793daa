/**
 * `@iscsi-target/icl-offload-kpi` — the offload KPI: the one package a NIC or
 * ICL driver author needs for the types, the registries and (from
 * `./testing`) the conformance kits.
 *
 * What it does: re-exports the NIC driver interface (`NicConn`, `NicDriver`,
 * ...) and the ICL driver contract with its offload hooks (`IclConn`'s
 * `transferSetup`/`transferDone`/`taskSetup`/`taskDone`, `IclDriver`,
 * `IclConnBase`), which are declared in icl-core because `IclConn.handoff`
 * is typed with them (docs/decisions.md §3, §37); holds the NIC driver
 * registry (`nic-registry.ts`); ships `sim`, the in-process NIC driver with
 * fault injection that the kits use to prove the ownership contract. The
 * conformance kits are a separate entry point,
 * `@iscsi-target/icl-offload-kpi/testing`, so production code never loads
 * vitest.
 *
 * What it does not do: no iSCSI framing or digests (icl-core's codec, used by
 * icl-soft), no production NIC driver: `tcp` lives in `@iscsi-target/icl-soft`
 * (the software driver's own transport), other drivers in their own packages
 * (`icl-<name>`).
 */
export type { NicConn, NicDriver, NicListener, NicHandlers, NicListenOptions } from '@iscsi-target/icl-core/kpi';
export type { IclConn, IclConnOptions, IclDriver, IclDrvLimits, AppendOptions, PduCompletion } from '@iscsi-target/icl-core/kpi';
export { IclConnBase, registerDriver, unregisterDriver, validateLimits } from '@iscsi-target/icl-core/kpi';
export {
  NicDriverRegistry,
  NicRegistryError,
  defaultNicRegistry,
  registerNicDriver,
  type NicDriverDescriptor,
} from './nic-registry.js';
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
