/**
 * The daemon's three plug points, each a registry of named descriptors
 * (FreeBSD `icl_register`, `CTL_BACKEND_DECLARE`): ICL drivers (ctl.conf
 * portal-group `offload NAME`), NIC drivers (portal-group `nic NAME`, the
 * daemon's `--nic NAME`) and CTL backends (lun `backend NAME`).
 *
 * What it does: `PlugPoints.create()` builds one daemon's registries — the
 * built-ins (the soft ICL driver "none", the `tcp` NIC driver, the `block`,
 * `ramdisk` and (optional) `rbd` backends), then whatever an embedding application registered
 * in the process-wide registries (icl-core `registerDriver`, icl-offload-kpi
 * `registerNicDriver`, ctl-core `registerBackend`), then the `extra`
 * descriptors passed in. `loadPlugin()` imports a module named by
 * `--plugin` and lets it register through `PluginApi`. `catalog()` says
 * what this build offers, and why an optional part is unavailable
 * (`--check`).
 *
 * What it does not do: no configuration parsing (config/resolve.ts checks
 * names against `PlugPoints.names()`), no opening of LUNs (lun-factory.ts)
 * or portals (daemon.ts).
 */
import { pathToFileURL } from 'node:url';
import { isAbsolute, resolve } from 'node:path';
import { BackendRegistry, defaultBackendRegistry, type BackendDescriptor } from '@iscsi-target/ctl-core';
import { blockBackendDescriptor, ramdiskBackendDescriptor } from '@iscsi-target/ctl-block';
import { rbdBackendDescriptor } from '@iscsi-target/ctl-rbd';
import { IclRegistry, defaultRegistry, type IclDriver } from '@iscsi-target/icl-core';
import { NicDriverRegistry, defaultNicRegistry, type NicDriverDescriptor } from '@iscsi-target/icl-offload-kpi';
import { softDriver, tcpNicDescriptor } from '@iscsi-target/icl-soft';
import { uringNicDescriptor } from '@iscsi-target/io-uring';

/** What a `--plugin` module's `register(api)` is given. */
export interface PluginApi {
  registerBackend(d: BackendDescriptor): void;
  registerNicDriver(d: NicDriverDescriptor): void;
  registerIclDriver(d: IclDriver): void;
}

/** One entry of `catalog()`. */
export interface PlugPointEntry {
  readonly kind: 'icl' | 'nic' | 'backend';
  readonly name: string;
  readonly description: string;
  /** null = usable; otherwise why not. */
  readonly unavailable: string | null;
}

/** Descriptors to register beyond the built-ins and the process-wide ones. */
export interface ExtraPlugPoints {
  readonly iclDrivers?: readonly IclDriver[];
  readonly nicDrivers?: readonly NicDriverDescriptor[];
  readonly backends?: readonly BackendDescriptor[];
}

/** The names of the plug points a configuration may use (for config/resolve.ts). */
export interface PlugPointNames {
  readonly iclDrivers: readonly string[];
  readonly nicDrivers: readonly string[];
  /** Backend name → the `option` keys it understands, whether it needs a path / a size. */
  readonly backends: ReadonlyMap<string, { readonly options: readonly string[]; readonly needsPath: boolean; readonly needsSize: boolean; readonly pathIsName?: boolean }>;
}

export class PluginError extends Error {
  override readonly name = 'PluginError';
  readonly code = 'TARGET_ERR_PLUGIN';
}

export class PlugPoints implements PluginApi {
  readonly icl = new IclRegistry();
  readonly nic = new NicDriverRegistry();
  readonly backends = new BackendRegistry();

  /** Built-ins, then the process-wide registrations, then `extra`. */
  static create(extra: ExtraPlugPoints = {}): PlugPoints {
    const p = new PlugPoints();
    p.icl.register(softDriver);
    p.nic.register(tcpNicDescriptor);
    // Optional (priority -1: only by `--nic uring` / `nic uring`); unavailable, with the reason, without io_uring.
    p.nic.register(uringNicDescriptor);
    p.backends.register(blockBackendDescriptor);
    p.backends.register(ramdiskBackendDescriptor);
    // Optional: unavailable (and said so by --check) when the librbd binding did not build.
    p.backends.register(rbdBackendDescriptor);
    for (const name of defaultRegistry.names()) {
      if (!p.#hasIcl(name)) p.icl.register(defaultRegistry.find(name, false));
    }
    for (const d of defaultNicRegistry.list()) p.nic.registerOnce(d);
    for (const d of defaultBackendRegistry.list()) p.backends.registerOnce(d);
    for (const d of extra.iclDrivers ?? []) p.icl.register(d);
    for (const d of extra.nicDrivers ?? []) p.nic.register(d);
    for (const d of extra.backends ?? []) p.backends.register(d);
    return p;
  }

  #hasIcl(name: string): boolean {
    return this.icl.names().some((n) => n.toLowerCase() === name.toLowerCase());
  }

  registerBackend(d: BackendDescriptor): void {
    this.backends.register(d);
  }

  registerNicDriver(d: NicDriverDescriptor): void {
    this.nic.register(d);
  }

  registerIclDriver(d: IclDriver): void {
    this.icl.register(d);
  }

  names(): PlugPointNames {
    return {
      iclDrivers: this.icl.names(),
      nicDrivers: this.nic.names(),
      backends: new Map(this.backends.list().map((d) => [d.name.toLowerCase(), { options: d.options, needsPath: d.needsPath, needsSize: d.needsSize, pathIsName: d.pathIsName === true }])),
    };
  }

  /** Everything registered, with why an entry is unavailable. */
  catalog(): PlugPointEntry[] {
    const out: PlugPointEntry[] = [];
    for (const name of this.icl.names()) {
      out.push({ kind: 'icl', name, description: name === 'none' ? 'software iSCSI (framing, digests) over a NIC driver' : 'ICL driver', unavailable: null });
    }
    for (const d of this.nic.list()) out.push({ kind: 'nic', name: d.name, description: d.description, unavailable: safeAvailable(d) });
    for (const d of this.backends.list()) out.push({ kind: 'backend', name: d.name, description: d.description, unavailable: safeAvailable(d) });
    return out;
  }
}

function safeAvailable(d: { available(): string | null }): string | null {
  try {
    return d.available();
  } catch (e) {
    return `availability check failed: ${(e as Error).message}`;
  }
}

/**
 * Imports `spec` (a package name, or a path relative to `cwd`) and calls its
 * exported `register(api)`. Throws `PluginError` saying what went wrong.
 */
export async function loadPlugin(spec: string, api: PluginApi, cwd = process.cwd()): Promise<void> {
  const isPath = spec.startsWith('.') || isAbsolute(spec);
  const url = isPath ? pathToFileURL(resolve(cwd, spec)).href : spec;
  let mod: { register?: unknown; default?: { register?: unknown } };
  try {
    mod = (await import(url)) as typeof mod;
  } catch (e) {
    throw new PluginError(`--plugin ${spec}: cannot load: ${(e as Error).message}`, { cause: e });
  }
  const register = typeof mod.register === 'function' ? mod.register : mod.default?.register;
  if (typeof register !== 'function') throw new PluginError(`--plugin ${spec}: the module exports no register(api) function`);
  try {
    await (register as (api: PluginApi) => unknown)(api);
  } catch (e) {
    throw new PluginError(`--plugin ${spec}: register() failed: ${(e as Error).message}`, { cause: e });
  }
}
