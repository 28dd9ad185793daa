/**
 * The NIC driver registry: NIC drivers (what carries bytes below a software
 * ICL driver) register a named descriptor with a priority; the configuration
 * chooses one per portal group (ctl.conf `nic NAME`, the daemon's `--nic
 * NAME`), or gets the highest-priority driver that is available.
 *
 * The same shape as the ICL driver registry (icl-core `registry.ts`, FreeBSD
 * `icl_register(name, iser, priority, limits, new_conn)`) and the CTL backend
 * registry (ctl-core `backend-registry.ts`): a name, a priority, whether it is
 * usable here (`available()`: an optional native driver may be missing, or
 * refused by the kernel), and a factory.
 *
 * What it does not do: no loading of driver modules (an embedder imports a
 * driver package and calls `registerNicDriver`), no connection bookkeeping.
 * Nothing here touches the OS.
 */
import type { NicDriver } from '@iscsi-target/icl-core/kpi';

/** A NIC driver as the registry holds it. */
export interface NicDriverDescriptor {
  /** ctl.conf portal-group `nic NAME`, `--nic NAME` (matched case-insensitively). */
  readonly name: string;
  /** The available driver with the highest priority is the default (`tcp`: 0). */
  readonly priority: number;
  /** One line for `--check`. */
  readonly description: string;
  /** `null` when usable in this process; otherwise why not (native part missing, kernel feature refused...). */
  available(): string | null;
  /**
   * A driver to use instead when this one is unavailable (the daemon logs
   * it once and `--check` says so), e.g. `uring` → `tcp`. Absent: an
   * unavailable driver is a start-up error.
   */
  readonly fallback?: string;
  /** The driver (may return one shared instance). Called only when `available()` is null. */
  create(): NicDriver;
}

export class NicRegistryError extends Error {
  override readonly name = 'NicRegistryError';
  readonly code = 'ICL_ERR_NIC_REGISTRY';
}

/** A set of registered NIC drivers. The daemon normally uses `defaultNicRegistry`. */
export class NicDriverRegistry {
  /** Keyed by lower-cased name; insertion order is registration order. */
  readonly #drivers = new Map<string, NicDriverDescriptor>();

  /** Registers `d`. Throws `NicRegistryError` if the name is not a word or is taken (any case). */
  register(d: NicDriverDescriptor): void {
    if (typeof d.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(d.name)) {
      throw new NicRegistryError(`NIC driver name must be a word of letters, digits, "_", "." or "-", got ${JSON.stringify(d.name)}`);
    }
    if (!Number.isFinite(d.priority)) throw new NicRegistryError(`NIC driver "${d.name}": priority must be a finite number`);
    const key = d.name.toLowerCase();
    if (this.#drivers.has(key)) throw new NicRegistryError(`NIC driver "${d.name}" already registered`);
    this.#drivers.set(key, d);
  }

  /** Registers `d` unless a driver of that name is already there; returns whether it did. */
  registerOnce(d: NicDriverDescriptor): boolean {
    if (this.has(d.name)) return false;
    this.register(d);
    return true;
  }

  unregister(name: string): void {
    if (!this.#drivers.delete(name.toLowerCase())) throw new NicRegistryError(`NIC driver "${name}" not found`);
  }

  has(name: string): boolean {
    return this.#drivers.has(name.toLowerCase());
  }

  /**
   * The driver named `name`, or (undefined/empty) the available driver with
   * the highest priority (ties: the first registered). Throws
   * `NicRegistryError` when there is none; a named driver is returned even
   * when unavailable (the caller reports `available()`'s reason).
   */
  find(name?: string): NicDriverDescriptor {
    if (name === undefined || name === '') {
      let best: NicDriverDescriptor | null = null;
      for (const d of this.#drivers.values()) {
        if (d.available() !== null) continue;
        if (best === null || d.priority > best.priority) best = d;
      }
      if (best === null) throw new NicRegistryError('no NIC driver is available');
      return best;
    }
    const d = this.#drivers.get(name.toLowerCase());
    if (d === undefined) throw new NicRegistryError(`unknown NIC driver "${name}" (known: ${this.names().join(', ') || 'none'})`);
    return d;
  }

  /** Registered drivers, highest priority first (ties: registration order). */
  list(): NicDriverDescriptor[] {
    return [...this.#drivers.values()]
      .map((d, i) => ({ d, i }))
      .sort((a, b) => b.d.priority - a.d.priority || a.i - b.i)
      .map(({ d }) => d);
  }

  names(): string[] {
    return this.list().map((d) => d.name);
  }
}

/** The process-wide registry NIC drivers register into. */
export const defaultNicRegistry = new NicDriverRegistry();

export function registerNicDriver(d: NicDriverDescriptor): void {
  defaultNicRegistry.register(d);
}
