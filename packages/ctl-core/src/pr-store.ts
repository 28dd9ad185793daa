/**
 * Persistence of persistent reservations across power loss (SPC-4 §5.13.5,
 * APTPL): the plain-JSON snapshot of a LUN's registrations and reservation,
 * and the `PrStore` interface a LUN's owner supplies to keep it durably.
 *
 * Does NOT touch the file system (ctl-core never does): `ctl-block`'s
 * `FilePrStore` implements the interface with an atomic file write. Without a
 * store the LUN reports PTPL_C = 0 and refuses APTPL = 1.
 */

/** An I_T nexus by name: the initiator port (`Ctl.addInitiator` name) and the target port (`CtlPort.name`). */
export interface PrNexus {
  readonly initiator: string;
  readonly port: string;
}

/** One registration in a snapshot; `key` is 16 lower-case hex digits (a 64-bit key). */
export interface PrSnapshotRegistration extends PrNexus {
  readonly key: string;
}

/** The snapshot saved while APTPL is in effect (plain JSON). */
export interface PrSnapshot {
  readonly version: 1;
  readonly generation: number;
  readonly registrations: readonly PrSnapshotRegistration[];
  /** `holder` is null for an All Registrants reservation. */
  readonly reservation: { readonly holder: PrNexus | null; readonly type: number; readonly scope: number } | null;
}

/**
 * Durable storage of one LUN's persistent reservation state.
 *
 * - `load()` runs once, when the LUN is added: the last snapshot saved, or
 *   null if none (never saved, or cleared).
 * - `save(snapshot)` makes `snapshot` (or, for null, "nothing persisted")
 *   durable and resolves only then; a crash during it must leave either the
 *   old or the new state, never a mix. CTL never runs two saves of one store
 *   at once, and completes the PERSISTENT RESERVE OUT command only when the
 *   promise resolves (a rejection fails the command and rolls the state back).
 *   The snapshot object belongs to the store once passed.
 */
export interface PrStore {
  load(): PrSnapshot | null;
  save(snapshot: PrSnapshot | null): Promise<void>;
}

function isNexus(v: unknown): v is PrNexus {
  if (typeof v !== 'object' || v === null) return false;
  const n = v as Record<string, unknown>;
  return typeof n['initiator'] === 'string' && n['initiator'] !== '' && typeof n['port'] === 'string' && n['port'] !== '';
}

/** Checks that a value read back from a store is a well-formed snapshot; returns it or an error message. */
export function validatePrSnapshot(v: unknown): PrSnapshot | string {
  if (typeof v !== 'object' || v === null) return 'not an object';
  const s = v as Record<string, unknown>;
  if (s['version'] !== 1) return `unknown version ${String(s['version'])}`;
  const gen = s['generation'];
  if (typeof gen !== 'number' || !Number.isInteger(gen) || gen < 0 || gen > 0xffffffff) return 'bad generation';
  const regs = s['registrations'];
  if (!Array.isArray(regs)) return 'bad registrations';
  const seen = new Set<string>();
  for (const r of regs as unknown[]) {
    if (!isNexus(r)) return 'bad registration nexus';
    const key = (r as unknown as Record<string, unknown>)['key'];
    if (typeof key !== 'string' || !/^[0-9a-f]{16}$/.test(key) || /^0+$/.test(key)) return 'bad registration key';
    const id = `${r.initiator}\n${r.port}`;
    if (seen.has(id)) return 'duplicate registration';
    seen.add(id);
  }
  const res = s['reservation'];
  if (res !== null) {
    if (typeof res !== 'object' || res === undefined) return 'bad reservation';
    const rr = res as Record<string, unknown>;
    const type = rr['type'];
    if (type !== 1 && type !== 3 && type !== 5 && type !== 6 && type !== 7 && type !== 8) return 'bad reservation type';
    if (rr['scope'] !== 0) return 'bad reservation scope';
    const holder = rr['holder'];
    const allReg = type === 7 || type === 8;
    if (allReg ? holder !== null : !isNexus(holder)) return 'bad reservation holder';
    if (!allReg && !seen.has(`${(holder as PrNexus).initiator}\n${(holder as PrNexus).port}`)) {
      return 'reservation holder is not registered';
    }
    if (allReg && regs.length === 0) return 'all-registrants reservation without registrants';
  }
  return v as PrSnapshot;
}
