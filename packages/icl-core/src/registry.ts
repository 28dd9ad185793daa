/**
 * The ICL driver registry (FreeBSD `icl.c`): drivers register under a name
 * and a priority; users create connections and ask for limits by driver name
 * (ctld's `offload` setting), or get the default driver.
 *
 * What it does: `register` (duplicate names refused, like `icl_register`'s
 * EBUSY), `unregister`, `find` (case-insensitive name, or the highest
 * priority driver of the asked iSER kind, like `icl_find`), `newConn`,
 * `limits` (validated against RFC 7143 ranges, like `icl_limits`).
 *
 * What it does not do: no connection bookkeeping (a driver that must refuse
 * to unload while it has connections checks that itself, before calling
 * `unregister`), no loading of driver modules (importing a driver package
 * and calling `registerDriver` is the caller's job).
 */
import type { IclConn, IclConnOptions, IclDriver, IclDrvLimits } from './conn.js';
import { IclDriverError, IclLimitsError } from './errors.js';
import type { NicConn } from './nic.js';

/** Smallest and largest values a driver limit may take (RFC 7143 §13.12-13.14: 512..2^24-1). */
export const LIMIT_MIN = 512;
export const LIMIT_MAX = 16777215;

/**
 * Checks driver limits the way `icl_limits` does: each non-zero value
 * (0 = "no opinion") must be an integer in 512..16777215, and
 * FirstBurstLength must not exceed MaxBurstLength (RFC 7143 §13.14). Throws
 * `IclLimitsError`.
 */
export function validateLimits(l: IclDrvLimits): void {
  const fields = [
    'maxRecvDataSegmentLength',
    'maxSendDataSegmentLength',
    'maxBurstLength',
    'firstBurstLength',
  ] as const;
  for (const f of fields) {
    const v = l[f];
    if (v === 0) continue;
    // RFC 7143 §13.12 (MaxRecvDataSegmentLength), §13.13 (MaxBurstLength),
    // §13.14 (FirstBurstLength): <512 to (2**24 - 1)>.
    if (!Number.isInteger(v) || v < LIMIT_MIN || v > LIMIT_MAX) {
      throw new IclLimitsError(`${f} ${v} outside ${LIMIT_MIN}..${LIMIT_MAX}`);
    }
  }
  // RFC 7143 §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength.
  if (l.firstBurstLength !== 0 && l.maxBurstLength !== 0 && l.firstBurstLength > l.maxBurstLength) {
    throw new IclLimitsError(`firstBurstLength ${l.firstBurstLength} > maxBurstLength ${l.maxBurstLength}`);
  }
}

/** A set of registered ICL drivers. The process normally uses `defaultRegistry`. */
export class IclRegistry {
  /** Keyed by lower-cased name; insertion order is registration order. */
  readonly #drivers = new Map<string, IclDriver>();

  /** Registers `driver`. Throws `IclDriverError` if the name is empty or taken (any case). */
  register(driver: IclDriver): void {
    if (typeof driver.name !== 'string' || driver.name.length === 0) {
      throw new IclDriverError('ICL driver name must be a non-empty string');
    }
    const key = driver.name.toLowerCase();
    if (this.#drivers.has(key)) {
      throw new IclDriverError(`ICL driver "${driver.name}" already registered`);
    }
    this.#drivers.set(key, driver);
  }

  /** Removes the driver named `name` (any case). Throws `IclDriverError` if there is none. */
  unregister(name: string): void {
    if (!this.#drivers.delete(name.toLowerCase())) {
      throw new IclDriverError(`ICL driver "${name}" not found`);
    }
  }

  /**
   * The driver named `name` (case-insensitive) of the asked kind, or, when
   * `name` is undefined or empty, the highest priority driver of that kind
   * (ties: the first registered). Throws `IclDriverError` if none matches.
   */
  find(name?: string, iser = false): IclDriver {
    if (name === undefined || name === '') {
      let best: IclDriver | null = null;
      for (const d of this.#drivers.values()) {
        if (d.iser !== iser) continue;
        if (best === null || d.priority > best.priority) best = d;
      }
      if (best === null) throw new IclDriverError(`no ${iser ? 'iSER ' : ''}ICL driver registered`);
      return best;
    }
    const d = this.#drivers.get(name.toLowerCase());
    if (d === undefined || d.iser !== iser) {
      throw new IclDriverError(`ICL driver "${name}"${iser ? ' (iSER)' : ''} not found`);
    }
    return d;
  }

  /** A new connection from the driver `offload` (undefined: the default driver). */
  newConn(offload: string | undefined, options: IclConnOptions, iser = false): IclConn {
    return this.find(offload, iser).newConn(options);
  }

  /**
   * The validated limits of driver `offload` for an accepted connection
   * (`nic` null: before any connection). Returns a copy; throws
   * `IclLimitsError` if the driver reports values outside RFC ranges.
   */
  limits(offload: string | undefined, nic: NicConn | null, iser = false): IclDrvLimits {
    const d = this.find(offload, iser);
    const l = d.limits(nic);
    const copy: IclDrvLimits = {
      maxRecvDataSegmentLength: l.maxRecvDataSegmentLength,
      maxSendDataSegmentLength: l.maxSendDataSegmentLength,
      maxBurstLength: l.maxBurstLength,
      firstBurstLength: l.firstBurstLength,
    };
    try {
      validateLimits(copy);
    } catch (err) {
      if (err instanceof IclLimitsError) throw new IclLimitsError(`ICL driver "${d.name}": ${err.message}`);
      throw err;
    }
    return copy;
  }

  /** Registered driver names as registered, highest priority first (ties: registration order). */
  names(): string[] {
    return [...this.#drivers.values()]
      .map((d, i) => ({ d, i }))
      .sort((a, b) => b.d.priority - a.d.priority || a.i - b.i)
      .map(({ d }) => d.name);
  }
}

/** The process-wide registry drivers register into. */
export const defaultRegistry = new IclRegistry();

export function registerDriver(d: IclDriver): void {
  defaultRegistry.register(d);
}

export function unregisterDriver(name: string): void {
  defaultRegistry.unregister(name);
}

export function findDriver(name?: string, iser = false): IclDriver {
  return defaultRegistry.find(name, iser);
}

export function iclNewConn(offload: string | undefined, options: IclConnOptions, iser = false): IclConn {
  return defaultRegistry.newConn(offload, options, iser);
}

export function iclLimits(offload: string | undefined, nic: NicConn | null, iser = false): IclDrvLimits {
  return defaultRegistry.limits(offload, nic, iser);
}
