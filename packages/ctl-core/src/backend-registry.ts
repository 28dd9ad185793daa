/**
 * The CTL backend registry (FreeBSD `CTL_BACKEND_DECLARE` / `ctl_backend_register`):
 * storage backends register a named descriptor; the configuration chooses one
 * per LUN by name (ctl.conf `backend NAME`).
 *
 * What it does: `register` (empty or duplicate names refused, any case, like
 * `ctl_backend_register`'s EEXIST), `unregister`, `find` (case-insensitive),
 * `list`. A descriptor says which `option` keys it understands, whether it
 * needs a `path`, whether it is usable in this process (`available()`: an
 * optional native part may be missing) and how to `check` and `open` a LUN.
 *
 * What it does not do: it never opens anything itself, parses no
 * configuration (the daemon maps ctl.conf statements to `BackendOpenParams`)
 * and loads no module (an embedder imports a backend package and calls
 * `registerBackend`). Nothing here touches the OS.
 */
import type { BackendLun } from './backend.js';

/** Identity strings a LUN's configuration may fix (the backend derives the rest; see VPD 80h/83h). */
export interface BackendLunIdentity {
  readonly serialNumber?: string;
  readonly deviceId?: string;
  readonly vendor?: string;
  readonly product?: string;
  readonly revision?: string;
  /** 16 hex digits (NAA type 2h, 3h or 5h). */
  readonly naa?: string;
}

/** What a backend is told about one LUN (from ctl.conf, or an embedder). */
export interface BackendOpenParams {
  /** The LUN's name in the configuration, for messages. */
  readonly lunName: string;
  /** `"file:line:col: "` of the LUN in the configuration, or `''` (prefix for messages). */
  readonly where: string;
  /** ctl.conf `path`: a file, a device, or a backend-specific name (e.g. `pool/image`). */
  readonly path: string | null;
  /** ctl.conf `size` in bytes. */
  readonly size: number | null;
  /** Logical block size in bytes (ctl.conf `blocksize`). */
  readonly blockSize: number;
  /** `option readonly on`. */
  readonly readOnly: boolean;
  /** The backend may create the backing store when it does not exist yet. */
  readonly create: boolean;
  /**
   * `option allow_shrink on`: an existing backing store larger than `size`
   * may be shrunk to it at open (its end is lost). Absent or false: the
   * backend refuses such a store.
   */
  readonly allowShrink?: boolean;
  /** `--copy`: the backend must not lend its buffers (the frontend copies). */
  readonly copyMode: boolean;
  readonly identity: BackendLunIdentity;
  /** `option KEY VALUE` statements addressed to the backend (only keys in `descriptor.options`). */
  readonly options: ReadonlyMap<string, string>;
}

/** A storage backend as the registry holds it (FreeBSD `struct ctl_backend_driver`). */
export interface BackendDescriptor {
  /** ctl.conf `backend NAME` (matched case-insensitively). */
  readonly name: string;
  /** One line for `--check` and `lun create --help`. */
  readonly description: string;
  /** The `option` keys this backend understands; any other option on its LUNs is a configuration error. */
  readonly options: readonly string[];
  /** A `path` is required. */
  readonly needsPath: boolean;
  /** A `size` is required. */
  readonly needsSize: boolean;
  /**
   * `path` names something of the backend's own (e.g. `pool/image`), not a
   * file: it is not made absolute relative to the configuration's directory.
   */
  readonly pathIsName?: boolean;
  /** `null` when usable in this process; otherwise why not (e.g. its native addon did not build). */
  available(): string | null;
  /**
   * What start would refuse, found without creating or changing anything
   * (for `--check`). Rejects with an operator-readable `Error`.
   */
  check?(params: BackendOpenParams): Promise<void>;
  /** Opens (creating it when `params.create` allows) the LUN's storage. Rejects with an operator-readable `Error`. */
  open(params: BackendOpenParams): Promise<BackendLun>;
}

export class BackendRegistryError extends Error {
  override readonly name = 'BackendRegistryError';
  readonly code = 'CTL_ERR_BACKEND_REGISTRY';
}

/** A set of registered backends. The daemon normally uses `defaultBackendRegistry`. */
export class BackendRegistry {
  /** Keyed by lower-cased name; insertion order is registration order. */
  readonly #backends = new Map<string, BackendDescriptor>();

  /** Registers `d`. Throws `BackendRegistryError` if the name is empty or taken (any case). */
  register(d: BackendDescriptor): void {
    if (typeof d.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(d.name)) {
      throw new BackendRegistryError(`CTL backend name must be a word of letters, digits, "_", "." or "-", got ${JSON.stringify(d.name)}`);
    }
    const key = d.name.toLowerCase();
    if (this.#backends.has(key)) throw new BackendRegistryError(`CTL backend "${d.name}" already registered`);
    this.#backends.set(key, d);
  }

  /** Registers `d` unless a backend of that name is already there; returns whether it did. */
  registerOnce(d: BackendDescriptor): boolean {
    if (this.has(d.name)) return false;
    this.register(d);
    return true;
  }

  /** Removes the backend named `name`. Throws `BackendRegistryError` if there is none. */
  unregister(name: string): void {
    if (!this.#backends.delete(name.toLowerCase())) throw new BackendRegistryError(`CTL backend "${name}" not found`);
  }

  has(name: string): boolean {
    return this.#backends.has(name.toLowerCase());
  }

  /** The backend named `name`. Throws `BackendRegistryError` naming the known ones if there is none. */
  find(name: string): BackendDescriptor {
    const d = this.#backends.get(name.toLowerCase());
    if (d === undefined) {
      throw new BackendRegistryError(`unknown backend "${name}" (known: ${this.names().join(', ') || 'none'})`);
    }
    return d;
  }

  /** Registered backends in registration order. */
  list(): BackendDescriptor[] {
    return [...this.#backends.values()];
  }

  names(): string[] {
    return this.list().map((d) => d.name);
  }
}

/** The process-wide registry backends register into. */
export const defaultBackendRegistry = new BackendRegistry();

export function registerBackend(d: BackendDescriptor): void {
  defaultBackendRegistry.register(d);
}
