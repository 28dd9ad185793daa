/**
 * The administration operations behind the admin socket (`admin-server.ts`,
 * `commands.ts`; `iscsi-target-ctl`), FreeBSD `ctladm`'s analog: list LUNs
 * with their mappings and I/O counters, create a LUN at run time from any
 * registered backend (optionally mapped to a target), remove it, resize any
 * LUN (CAPACITY DATA HAS CHANGED), list and drop sessions, list CTL ports.
 * Admin-created LUNs are not written to the configuration: a restart
 * forgets them.
 *
 * What it does not do: no socket or wire format (`admin-server.ts`,
 * `protocol.ts`), no reload (`reload/apply.ts`).
 */
import { TargetState, type SessionInfo } from '@iscsi-target/ctl-frontend-iscsi';
import { duplicateBacking } from '../backing-identity.js';
import { formatHostPort } from '../config/listen-address.js';
import type { LunConfig, TargetConfig } from '../config/model.js';
import { formatSize } from '../config/size.js';
import type { DaemonHost } from '../daemon-host.js';
import { describeBytes, ShrinkRefusedError } from '@iscsi-target/ctl-block';
import { capacityOf, resizeBackend, sameLunMap } from '../inventory.js';
import { ctlLunOptions, prStoreFor } from '../lun-factory.js';
import { openServedLun } from '../served-lun.js';
import type { LunIoStats, MeteredLun } from '../lun-stats.js';
import { usedLuns } from '../reload/config-diff.js';

export class AdminOperations {
  readonly #h: DaemonHost;
  #nextAdminLun = 0;

  constructor(host: DaemonHost) {
    this.#h = host;
  }

  /** The LUNs, by CTL id. */
  lunList(): AdminLunInfo[] {
    const out: AdminLunInfo[] = [];
    for (const [name, id] of this.#h.inventory.ctlLuns) {
      const st = this.#h.inventory.lunState.get(name);
      if (st === undefined) continue;
      const be = st.be;
      const mappings: Array<{ target: string; lun: number }> = [];
      for (const port of this.#h.frontendOrNull()?.targets() ?? []) {
        if (port.state !== TargetState.Active) continue;
        for (const [n, cid] of port.lunMap ?? []) {
          if (cid === id && !mappings.some((m) => m.target === port.targetName && m.lun === n)) mappings.push({ target: port.targetName, lun: n });
        }
      }
      out.push({
        name,
        ctlLun: id,
        backend: st.config.backend,
        path: st.config.path,
        size: be.numBlocks * be.blockSize,
        blockSize: be.blockSize,
        readOnly: be.readOnly,
        serial: be.serialNumber,
        origin: this.#isAdminLun(name) ? 'admin' : 'config',
        mappings,
        errors: be.stats.errors,
        faults: Object.fromEntries(be.faults),
        state: st.store ?? 'ok',
      });
    }
    out.sort((a, b) => (a.ctlLun ?? 0) - (b.ctlLun ?? 0));
    // LUNs of the configuration that are not served: their backing file, served before, is missing.
    const used = usedLuns(this.#h.config());
    for (const [name, why] of this.#h.inventory.unserved) {
      const l = used.get(name);
      if (l === undefined) continue;
      out.push({
        name,
        ctlLun: null,
        backend: l.backend,
        path: l.path,
        size: 0,
        blockSize: l.blockSize,
        readOnly: l.options.get('readonly') === 'on',
        serial: l.serial ?? '',
        origin: 'config',
        // Where it would be mapped (not reported to initiators while it is not served).
        mappings: this.#h.config().targets.flatMap((t) => [...t.luns].filter(([, c]) => c.name === name).map(([n]) => ({ target: t.name, lun: n }))),
        errors: 0,
        faults: {},
        state: 'missing',
        problem: why,
      });
    }
    return out;
  }

  /** Cumulative I/O counters per LUN (the admin CLI's `stat` computes rates). */
  lunStats(): Array<{ name: string; ctlLun: number; stats: LunIoStats }> {
    const out: Array<{ name: string; ctlLun: number; stats: LunIoStats }> = [];
    for (const [name, id] of this.#h.inventory.ctlLuns) {
      const st = this.#h.inventory.lunState.get(name);
      if (st !== undefined) out.push({ name, ctlLun: id, stats: { ...st.be.stats } });
    }
    return out.sort((a, b) => a.ctlLun - b.ctlLun);
  }

  #isAdminLun(name: string): boolean {
    return !usedLuns(this.#h.config()).has(name);
  }

  /** The LUN named `ref`, or with CTL id `ref`. */
  #findLun(ref: string): { name: string; id: number } {
    const byName = this.#h.inventory.ctlLuns.get(ref);
    if (byName !== undefined) return { name: ref, id: byName };
    if (/^\d+$/.test(ref)) {
      for (const [name, id] of this.#h.inventory.ctlLuns) if (id === Number(ref)) return { name, id };
    }
    throw new AdminError(`no LUN "${ref}"`);
  }

  /**
   * Creates a LUN at run time (ctladm create): a RAM disk or a file (created
   * sparse if missing), optionally mapped to a target as LUN `lun`. It is not
   * written to the configuration file: a restart forgets it.
   */
  async createLun(spec: AdminLunSpec): Promise<AdminLunInfo> {
    if (this.#h.state() !== 'running') throw new AdminError(`the daemon is ${this.#h.state()}`);
    const ctl = this.#h.ctl();
    const name = spec.name ?? `admin${this.#nextAdminLun++}`;
    if (this.#h.inventory.ctlLuns.has(name) || this.#h.config().luns.has(name)) throw new AdminError(`a LUN named "${name}" exists`);
    let desc;
    try {
      desc = this.#h.plug.backends.find(spec.backend);
    } catch (e) {
      throw new AdminError((e as Error).message);
    }
    if (desc.needsSize && (spec.size === undefined || spec.size <= 0)) throw new AdminError(`a ${desc.name} LUN needs a size`);
    if (desc.needsPath && (spec.path === undefined || spec.path === '')) throw new AdminError(`a ${desc.name === 'block' ? 'file' : desc.name} LUN needs a path`);
    let target: TargetConfig | undefined;
    if (spec.target !== undefined) {
      target = this.#h.config().targets.find((t) => t.name.toLowerCase() === spec.target!.toLowerCase());
      if (target === undefined) throw new AdminError(`no target "${spec.target}"`);
      const n = spec.lun ?? 0;
      if (!Number.isInteger(n) || n < 0 || n > 1023) throw new AdminError(`LUN number ${n} is not in 0..1023`);
      if (this.#h.inventory.lunMapOf(target).has(n)) throw new AdminError(`target ${target.name} already has a LUN ${n}`);
    }
    const config: LunConfig = {
      name,
      backend: desc.name,
      path: desc.needsPath ? spec.path! : null,
      pathIsFile: desc.needsPath && desc.pathIsName !== true,
      size: spec.size ?? null,
      blockSize: spec.blockSize ?? 512,
      serial: null,
      deviceId: null,
      ctlLun: spec.ctlLun ?? null,
      options: new Map([
        ...(spec.readOnly === true ? ([['readonly', 'on']] as const) : []),
        ...(spec.removable === true ? ([['removable', 'on']] as const) : []),
      ]),
      create: true,
      pos: { file: '<admin>', line: 0, col: 0 },
    };
    const dup = duplicateBacking([config], this.#h.inventory.storeHolders());
    if (dup !== null) throw new AdminError(dup);
    let be: MeteredLun;
    try {
      be = await openServedLun(config, { backends: this.#h.plug.backends, copyMode: !this.#h.opts.noCopy, log: this.#h.log, stores: this.#h.inventory.stores });
    } catch (e) {
      throw new AdminError((e as Error).message);
    }
    let id: number;
    try {
      const prStore = prStoreFor(config);
      id = ctl.addLun(be, config.ctlLun ?? undefined, { ...ctlLunOptions(config), ...(prStore ? { prStore } : {}), inventoryUa: false });
    } catch (e) {
      await be.shutdown().catch(() => {});
      throw new AdminError(`cannot add the LUN: ${(e as Error).message}`);
    }
    this.#h.inventory.add(name, id, config, be);
    if (target !== undefined) {
      const k = target.name.toLowerCase();
      const m = this.#h.inventory.adminMaps.get(k) ?? new Map<number, string>();
      m.set(spec.lun ?? 0, name);
      this.#h.inventory.adminMaps.set(k, m);
      this.#refreshLunMaps(target);
    }
    this.#h.log.info({ admin: true, lun: name, ctlLun: id, backend: config.backend, size: be.numBlocks * be.blockSize, target: target?.name }, `admin: lun "${name}" created (CTL LUN ${id})`);
    return this.lunList().find((l) => l.name === name)!;
  }

  /** Removes a LUN created with `createLun` (outstanding I/O drains first). */
  async destroyLun(ref: string): Promise<void> {
    const { name, id } = this.#findLun(ref);
    if (!this.#isAdminLun(name)) {
      throw new AdminError(`lun "${name}" is defined in the configuration file: remove it there and reload`);
    }
    this.#h.inventory.ctlLuns.delete(name);
    this.#h.inventory.lunState.delete(name);
    for (const [k, m] of this.#h.inventory.adminMaps) {
      for (const [n, lname] of m) if (lname === name) m.delete(n);
      const t = this.#h.config().targets.find((x) => x.name.toLowerCase() === k);
      if (t !== undefined) this.#refreshLunMaps(t);
    }
    await this.#h.ctl().removeLun(id, { inventoryUa: false });
    this.#h.log.info({ admin: true, lun: name, ctlLun: id }, `admin: lun "${name}" removed`);
  }

  /**
   * Resizes a LUN (any origin) and raises CAPACITY DATA HAS CHANGED. A
   * shrink discards the data past the new end: refused unless `force`
   * (the refusal says how many bytes would be lost); a forced shrink is
   * logged at warn.
   */
  async resizeLun(ref: string, size: number, force = false): Promise<AdminLunInfo> {
    const { name, id } = this.#findLun(ref);
    const st = this.#h.inventory.lunState.get(name)!;
    const before = capacityOf(st.be);
    try {
      await resizeBackend(st.be, size, { allowShrink: force });
    } catch (e) {
      if (e instanceof ShrinkRefusedError) {
        throw new AdminError(`lun "${name}": ${e.message}; run "iscsi-target-ctl lun resize ${ref} ${size} --force" to shrink it anyway`);
      }
      throw new AdminError(`lun "${name}": ${(e as Error).message}`);
    }
    this.#h.ctl().lunCapacityChanged(id);
    if (size < before) {
      this.#h.log.warn(
        { admin: true, lun: name, ctlLun: id, oldSize: before, size, lostBytes: before - size },
        `admin: lun "${name}" shrunk from ${formatSize(before)} to ${formatSize(size)} (--force): the last ${describeBytes(before - size)} are gone`,
      );
    } else {
      this.#h.log.info({ admin: true, lun: name, ctlLun: id, size }, `admin: lun "${name}" resized to ${formatSize(size)}`);
    }
    return this.lunList().find((l) => l.name === name)!;
  }

  #refreshLunMaps(t: TargetConfig): void {
    const frontend = this.#h.frontend();
    const lunMap = this.#h.inventory.lunMapOf(t);
    for (const port of frontend.targets()) {
      if (port.state !== TargetState.Active || port.targetName.toLowerCase() !== t.name.toLowerCase()) continue;
      if (sameLunMap(port.lunMap, lunMap)) continue;
      frontend.updateTarget(port.targetName, port.portalGroupTag, { lunMap });
      this.#h.ctl().lunInventoryChanged(port.portNumber);
    }
  }

  /** Live sessions (initiator, address, target, ISID/TSIH, negotiated parameters). */
  sessionList(): SessionInfo[] {
    return this.#h.frontendOrNull()?.sessions() ?? [];
  }

  /** Drops a session (Async Message "session will be dropped"). False for an unknown id. */
  async killSession(id: number): Promise<boolean> {
    const frontend = this.#h.frontendOrNull();
    if (frontend === null) return false;
    const ok = await frontend.terminateSession(id);
    if (ok) this.#h.log.info({ admin: true, session: id }, `admin: session ${id} terminated`);
    return ok;
  }

  /** CTL ports (one per target and portal group) with their portals. */
  portList(): AdminPortInfo[] {
    const portals = this.#h.portals();
    return (this.#h.frontendOrNull()?.targets() ?? []).map((p) => {
      const pg = this.#h.pgByTag.get(p.portalGroupTag);
      return {
        portNumber: p.portNumber,
        name: p.name,
        target: p.targetName,
        alias: p.alias ?? null,
        portalGroup: pg?.name ?? null,
        tag: p.portalGroupTag,
        state: p.state,
        portals: portals.filter((x) => x.tag === p.portalGroupTag).map((x) => formatHostPort(x.host, x.port)),
        luns: [...(p.lunMap ?? [])].map(([lun, ctlLun]) => ({ lun, ctlLun })),
        sessions: this.sessionList().filter((s) => s.targetName === p.targetName && s.portalGroupTag === p.portalGroupTag).length,
      };
    });
  }
}

export class AdminError extends Error {
  override readonly name = 'AdminError';
  readonly code = 'TARGET_ERR_ADMIN';
}

/** What `createLun` takes. */
export interface AdminLunSpec {
  name?: string;
  /** A registered backend name (`block`, `ramdisk`, ...). */
  backend: string;
  path?: string;
  /** Bytes (a multiple of the block size). */
  size?: number;
  blockSize?: number;
  ctlLun?: number;
  readOnly?: boolean;
  /** A removable medium (RMB = 1; PREVENT ALLOW MEDIUM REMOVAL, eject and load). */
  removable?: boolean;
  /** Map it to this target (its every portal group) as LUN `lun` (default 0). */
  target?: string;
  lun?: number;
}

export interface AdminLunInfo {
  name: string;
  /** Its CTL LUN id, or null when it is not served (`state` `missing`). */
  ctlLun: number | null;
  backend: string;
  path: string | null;
  size: number;
  blockSize: number;
  readOnly: boolean;
  serial: string;
  /** `config`: from the file; `admin`: created by the admin CLI (not persisted). */
  origin: 'config' | 'admin';
  mappings: Array<{ target: string; lun: number }>;
  /** Storage errors the backend reported since the LUN was opened (all kinds). */
  errors: number;
  /** The same by errno name (ENOSPC, EIO...; "other" without one). */
  faults: Record<string, number>;
  /**
   * Its backing file: `ok` (or no file); `unlinked`, `moved`, `replaced`
   * (changed while served, `store-watch.ts`); `missing` (not served: the
   * file, served before, is gone; `ctlLun` is then null).
   */
  state: 'ok' | 'unlinked' | 'moved' | 'replaced' | 'missing';
  /** Why a `missing` LUN is not served. */
  problem?: string;
}

export interface AdminPortInfo {
  portNumber: number;
  name: string;
  target: string;
  alias: string | null;
  portalGroup: string | null;
  tag: number;
  state: string;
  portals: string[];
  luns: Array<{ lun: number; ctlLun: number }>;
  sessions: number;
}
