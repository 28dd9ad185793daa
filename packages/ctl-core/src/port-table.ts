/**
 * CTL's port and initiator bookkeeping (FreeBSD `ctl_port_register`,
 * `ctl_add_initiator`/`ctl_remove_initiator`, `ctl_lun_map_from_port`):
 * which frontend ports are registered, the initiator index of each
 * (port, initiator name) pair with LRU reuse of idle indexes, and how a
 * port's LUN map turns the LUN number an initiator addresses into a CTL LUN.
 *
 * Does NOT abort commands, raise unit attentions or release reservations
 * when an initiator is forgotten: it calls `onForget` and the core does
 * those (ctl.ts). Holds no Buffers.
 */
import { CtlError, CtlErrorCode } from './errors.js';
import type { CtlPort } from './frontend.js';
import type { CtlLun } from './lun.js';
import { MAX_FLAT_LUN } from './report-luns.js';

/** One initiator index: an initiator name as seen through one port. */
export interface InitiatorEntry {
  readonly index: number;
  readonly name: string;
  readonly targetPort: number;
  /** Sessions currently using the index (`addInitiator` minus `releaseInitiator`). */
  inUse: number;
  /** Logical clock of the last add/remove, for LRU eviction. */
  lastUse: number;
}

/** A registered frontend port. */
export interface PortEntry {
  readonly port: CtlPort;
  readonly targetPort: number;
  /** initiator name → entry */
  readonly initiators: Map<string, InitiatorEntry>;
}

export class CtlPortTable {
  readonly #ports = new Map<number, PortEntry>();
  readonly #initiators = new Map<number, InitiatorEntry>();
  #nextInitiator = 0;
  #clock = 0;
  readonly #luns: ReadonlyMap<number, CtlLun>;
  readonly #maxInitiatorsPerPort: number;
  readonly #onForget: (ie: InitiatorEntry) => void;

  /**
   * @param luns the core's LUNs by CTL LUN id (read, never changed here)
   * @param maxInitiatorsPerPort above this, the least recently used idle index of the port is forgotten
   * @param onForget called when an initiator index is forgotten (LRU eviction or port removal)
   */
  constructor(
    luns: ReadonlyMap<number, CtlLun>,
    maxInitiatorsPerPort: number,
    onForget: (ie: InitiatorEntry) => void,
  ) {
    this.#luns = luns;
    this.#maxInitiatorsPerPort = maxInitiatorsPerPort;
    this.#onForget = onForget;
  }

  /** Registers a port under the lowest free target port number. */
  register(port: CtlPort): number {
    let n = 0;
    while (this.#ports.has(n)) n++;
    if (n > 0xfffe) throw new CtlError(CtlErrorCode.NoSuchPort, 'too many ports');
    this.#ports.set(n, { port, targetPort: n, initiators: new Map() });
    return n;
  }

  /** Forgets a port and every initiator index of it; returns false for an unknown port. */
  remove(targetPort: number): boolean {
    const pe = this.#ports.get(targetPort);
    if (!pe) return false;
    for (const ie of pe.initiators.values()) this.#forget(pe, ie);
    this.#ports.delete(targetPort);
    return true;
  }

  has(targetPort: number): boolean {
    return this.#ports.has(targetPort);
  }

  /** The port's entry; throws `CtlError` NoSuchPort for an unregistered one. */
  entry(targetPort: number): PortEntry {
    const pe = this.#ports.get(targetPort);
    if (!pe) throw new CtlError(CtlErrorCode.NoSuchPort, `no port ${targetPort}`);
    return pe;
  }

  /** The port registered under a target port number, if any. */
  port(targetPort: number): CtlPort | undefined {
    return this.#ports.get(targetPort)?.port;
  }

  entries(): IterableIterator<PortEntry> {
    return this.#ports.values();
  }

  /**
   * The initiator index of `name` on the port: the same index for a name
   * that logs in again, a new one otherwise (evicting the least recently
   * used idle index when the port is full).
   */
  addInitiator(targetPort: number, name: string): number {
    const pe = this.entry(targetPort);
    const existing = pe.initiators.get(name);
    if (existing) {
      existing.inUse++;
      existing.lastUse = ++this.#clock;
      return existing.index;
    }
    if (pe.initiators.size >= this.#maxInitiatorsPerPort) {
      let lru: InitiatorEntry | null = null;
      for (const ie of pe.initiators.values()) {
        if (ie.inUse === 0 && (lru === null || ie.lastUse < lru.lastUse)) lru = ie;
      }
      if (lru) this.#forget(pe, lru);
    }
    const ie: InitiatorEntry = { index: this.#nextInitiator++, name, targetPort, inUse: 1, lastUse: ++this.#clock };
    pe.initiators.set(name, ie);
    this.#initiators.set(ie.index, ie);
    return ie.index;
  }

  /**
   * One session of the initiator ended. The index stays reserved for the
   * name. Returns false when the index is unknown or not of this port.
   */
  releaseInitiator(targetPort: number, initiatorIndex: number): boolean {
    const ie = this.#initiators.get(initiatorIndex);
    if (!ie || ie.targetPort !== targetPort) return false;
    ie.inUse = Math.max(0, ie.inUse - 1);
    ie.lastUse = ++this.#clock;
    return true;
  }

  initiator(initiatorIndex: number): InitiatorEntry | undefined {
    return this.#initiators.get(initiatorIndex);
  }

  // ------------------------------------------------------------ LUN maps

  /** The CTL LUN an initiator of `port` addresses as `portLun`, or null. */
  mapLun(port: CtlPort, portLun: number): CtlLun | null {
    const id = port.lunMap ? port.lunMap.get(portLun) : portLun;
    if (id === undefined) return null;
    return this.#luns.get(id) ?? null;
  }

  /** The LUN numbers an initiator of `port` can address, ascending. */
  visibleLuns(port: CtlPort): number[] {
    const out: number[] = [];
    if (port.lunMap) {
      for (const [portLun, id] of port.lunMap) {
        if (portLun >= 0 && portLun <= MAX_FLAT_LUN && this.#luns.has(id)) out.push(portLun);
      }
    } else {
      for (const id of this.#luns.keys()) out.push(id);
    }
    return out.sort((a, b) => a - b);
  }

  /** The CTL LUNs an initiator of `port` can address (for the copy manager). */
  portLuns(port: CtlPort): CtlLun[] {
    const out: CtlLun[] = [];
    for (const portLun of this.visibleLuns(port)) {
      const lun = this.mapLun(port, portLun);
      if (lun) out.push(lun);
    }
    return out;
  }

  /** The CTL LUN ids the port's map reaches (every LUN without a map). */
  mappedLunIds(port: CtlPort): number[] {
    return port.lunMap ? [...port.lunMap.values()] : [...this.#luns.keys()];
  }

  #forget(pe: PortEntry, ie: InitiatorEntry): void {
    pe.initiators.delete(ie.name);
    this.#initiators.delete(ie.index);
    this.#onForget(ie);
  }
}
