/**
 * The software ICL driver module (FreeBSD `icl_soft.c` `icl_soft_load`):
 * the `IclDriver` descriptor registered as "none" — the name FreeBSD gives
 * the software driver, "no offload" — with priority 0 (the default; offload
 * drivers register below 0 and are picked by name) and no iSER.
 *
 * What it does: builds `SoftConn`s with the driver's tunables and reports
 * the driver's limits; `registerSoftDriver` puts it in a registry.
 *
 * What it does not do: register anything at import time (the package is
 * side-effect free): the application calls `registerSoftDriver()`.
 */
import { registerDriver, type IclConnOptions, type IclDriver, type IclDrvLimits, type NicConn } from '@iscsi-target/icl-core/kpi';
import { resolveSoftOptions, type SoftDriverOptions } from './options.js';
import { SoftConn } from './soft-conn.js';

/** The registry surface `registerSoftDriver` needs (icl-core's `IclRegistry` has it). */
export interface DriverRegistry {
  register(driver: IclDriver): void;
}

/** The soft driver as an `IclDriver`, with its tunables. */
export interface SoftDriver extends IclDriver {
  readonly options: Readonly<SoftDriverOptions>;
  newConn(options: IclConnOptions): SoftConn;
}

/** A soft driver with the given tunables (defaults: `SOFT_DEFAULTS`). */
export function createSoftDriver(partial: Partial<SoftDriverOptions> = {}): SoftDriver {
  const options = Object.freeze(resolveSoftOptions(partial));
  return {
    name: 'none',
    iser: false,
    priority: 0,
    options,
    // FreeBSD's soft limits ignore the socket; so do ours.
    limits(_nic: NicConn | null): IclDrvLimits {
      return {
        maxRecvDataSegmentLength: options.maxDataSegmentLength,
        maxSendDataSegmentLength: options.maxDataSegmentLength,
        maxBurstLength: options.maxBurstLength,
        firstBurstLength: options.firstBurstLength,
      };
    },
    newConn(connOptions: IclConnOptions): SoftConn {
      return new SoftConn(connOptions, options);
    },
  };
}

/** The soft driver with default tunables. */
export const softDriver: SoftDriver = createSoftDriver();

/**
 * Registers `driver` (default: `softDriver`) in `registry`, or in icl-core's
 * process-wide default registry when none is given. Throws icl-core's
 * `IclDriverError` if a driver named "none" is already there.
 */
export function registerSoftDriver(registry?: DriverRegistry, driver: IclDriver = softDriver): void {
  if (registry === undefined) registerDriver(driver);
  else registry.register(driver);
}
