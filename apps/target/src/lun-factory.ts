/**
 * Opening the storage of a configured LUN: `LunConfig` → the backend its
 * `backend NAME` names in the daemon's backend registry (`plug-points.ts`;
 * `block` and `ramdisk` are ctl-block's).
 *
 * What it does: maps the ctl.conf statements and the LUN options to the
 * backend's `BackendOpenParams` — identity (vendor, product, revision, naa,
 * serial, device-id), `readonly`, the backend's own options (`pblocksize`
 * and `rpm` normalized to decimal numbers), whether it may create the
 * backing store (the embedded default, and LUNs with a `size`, which
 * ctl-block creates sparse as ctld does); refuses a backend that is
 * unavailable in this process; reports failures as `LunOpenError` with the
 * LUN's position in the configuration. `checkLun` runs the backend's
 * `check` (for `--check`).
 *
 * `prStoreFor` picks where a LUN's persistent reservations are kept when an
 * initiator asks for APTPL: `<backing file>.pr.json`, next to a regular
 * backing file; a RAM disk or a device node gets no store (PTPL_C = 0).
 * `ctlLunOptions` picks the CTL LUN options (`option removable`), which are
 * not the backend's.
 *
 * What it does not do: no registration with CTL, resize or reload
 * (`daemon.ts`).
 */
import { statSync } from 'node:fs';
import type { BackendDescriptor, BackendLun, BackendLunIdentity, BackendOpenParams, BackendRegistry, PrStore } from '@iscsi-target/ctl-core';
import { BackendOpenError, describeBytes, FilePrStore, ShrinkRefusedError } from '@iscsi-target/ctl-block';
import { formatPos } from './config/errors.js';
import type { Logger } from './logger.js';
import type { LunConfig } from './config/model.js';
import { parseCount, parseSize } from './config/size.js';
import { sysErrorText } from './sys-error.js';

export class LunOpenError extends Error {
  override readonly name = 'LunOpenError';
  readonly code = 'TARGET_ERR_LUN_OPEN';
}

export interface OpenLunOptions {
  /** Make the frontend copy payload (`--copy`). */
  copyMode: boolean;
  /** The registry `lun.backend` is looked up in. */
  backends: BackendRegistry;
}

function identity(lun: LunConfig): BackendLunIdentity {
  const o = lun.options;
  const id: { -readonly [K in keyof BackendLunIdentity]: BackendLunIdentity[K] } = {};
  if (lun.serial !== null) id.serialNumber = lun.serial;
  if (lun.deviceId !== null) id.deviceId = lun.deviceId;
  const vendor = o.get('vendor');
  if (vendor !== undefined) id.vendor = vendor;
  const product = o.get('product');
  if (product !== undefined) id.product = product;
  const revision = o.get('revision');
  if (revision !== undefined) id.revision = revision;
  const naa = o.get('naa');
  if (naa !== undefined) id.naa = naa;
  return id;
}

function where(lun: LunConfig): string {
  return lun.pos.line > 0 ? `${formatPos(lun.pos)}: ` : '';
}

/** The options of `lun` addressed to backend `d` (values of the built-in ones normalized). */
function backendOptions(lun: LunConfig, d: BackendDescriptor): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of d.options) {
    const v = lun.options.get(key);
    if (v === undefined) continue;
    if (key === 'pblocksize' || key === 'capacity') out.set(key, String(parseSize(v)));
    else if (key === 'rpm') out.set(key, String(parseCount(v)));
    else out.set(key, v);
  }
  return out;
}

/** What backend `d` is told about `lun`. */
export function openParams(lun: LunConfig, d: BackendDescriptor, copyMode: boolean): BackendOpenParams {
  return {
    lunName: lun.name,
    where: where(lun),
    path: lun.path,
    size: lun.size,
    blockSize: lun.blockSize,
    readOnly: lun.options.get('readonly') === 'on',
    create: lun.create,
    allowShrink: allowsShrink(lun),
    copyMode,
    identity: identity(lun),
    options: backendOptions(lun, d),
  };
}

/** The usable descriptor of `lun`'s backend. Throws `LunOpenError`. */
function descriptorOf(lun: LunConfig, backends: BackendRegistry): BackendDescriptor {
  let d: BackendDescriptor;
  try {
    d = backends.find(lun.backend);
  } catch (e) {
    throw new LunOpenError(`${where(lun)}lun "${lun.name}": ${(e as Error).message}`, { cause: e });
  }
  const why = d.available();
  if (why !== null) throw new LunOpenError(`${where(lun)}lun "${lun.name}": backend ${d.name} is not available: ${why}`);
  return d;
}

/** A backend message ending with its system-error cause, without the cause repeating the path. */
function saidOnce(e: Error, path: string): string {
  const cause = e.cause;
  if (!(cause instanceof Error) || !e.message.endsWith(cause.message)) return e.message;
  return e.message.slice(0, e.message.length - cause.message.length) + sysErrorText(cause, path);
}

/** `option allow_shrink on`: start and reload may shrink the backing store to `size`. */
export function allowsShrink(lun: LunConfig): boolean {
  return lun.options.get('allow_shrink') === 'on';
}

/** The operator's ways out of a refused shrink at start or reload. */
export function shrinkHint(e: ShrinkRefusedError): string {
  return `; to keep the data, set "size" to at least ${describeBytes(e.existingBytes)}; to shrink anyway, add "option allow_shrink on" to the LUN`;
}

/** How many bytes opening `be` cut off its backing store (`option allow_shrink on`), or null. */
export function shrunkAtOpen(be: BackendLun): number | null {
  const inner = (be as { inner?: BackendLun }).inner ?? be;
  return (inner as { shrunkFromBytes?: number | null }).shrunkFromBytes ?? null;
}

/** Logs at warn that opening `lun` shrank its backing store (`option allow_shrink on`), if it did. */
export function warnShrunk(log: Logger, lun: LunConfig, be: BackendLun): void {
  const from = shrunkAtOpen(be);
  if (from === null) return;
  const now = be.numBlocks * be.blockSize;
  log.warn(
    { lun: lun.name, path: lun.path ?? undefined, oldSize: from, size: now, lostBytes: from - now },
    `${where(lun)}lun "${lun.name}": ${lun.path ?? 'the backing store'} shrunk from ${describeBytes(from)} to ${describeBytes(now)} (option allow_shrink on): the last ${describeBytes(from - now)} are gone`,
  );
}

function failure(lun: LunConfig, e: unknown): LunOpenError {
  if (e instanceof LunOpenError) return e;
  if (e instanceof ShrinkRefusedError) return new LunOpenError(`${where(lun)}lun "${lun.name}": ${e.message}${shrinkHint(e)}`, { cause: e });
  // A backend's open error already says "cannot open PATH ..." or what is missing: do not say it twice.
  const detail =
    e instanceof BackendOpenError
      ? saidOnce(e, lun.path ?? '')
      : `${lun.backend === 'block' ? `cannot open ${lun.path}` : lun.backend === 'ramdisk' ? 'cannot create the RAM disk' : `backend ${lun.backend}`}: ${sysErrorText(e, lun.path ?? '')}`;
  return new LunOpenError(`${where(lun)}lun "${lun.name}": ${detail}`, { cause: e });
}

/** Opens the backend of `lun`. Throws `LunOpenError`. */
export async function openLun(lun: LunConfig, options: OpenLunOptions): Promise<BackendLun> {
  const d = descriptorOf(lun, options.backends);
  try {
    return await d.open(openParams(lun, d, options.copyMode));
  } catch (e) {
    throw failure(lun, e);
  }
}

/** What start would refuse about `lun`, without opening or creating it (`--check`). Throws `LunOpenError`. */
export async function checkLun(lun: LunConfig, backends: BackendRegistry): Promise<void> {
  const d = descriptorOf(lun, backends);
  if (d.check === undefined) return;
  try {
    await d.check(openParams(lun, d, false));
  } catch (e) {
    throw failure(lun, e);
  }
}

/**
 * The CTL-level options of `lun` (`Ctl.addLun`), as opposed to the backend's:
 * `option removable on` (FreeBSD CTL_LUN_REMOVABLE) gives a removable medium.
 */
export function ctlLunOptions(lun: LunConfig): { removable?: true } {
  return lun.options.get('removable') === 'on' ? { removable: true } : {};
}

/** Suffix of the persistent reservation file next to a LUN's backing file. */
export const PR_FILE_SUFFIX = '.pr.json';

/**
 * The durable persistent reservation store of `lun`: a `FilePrStore` next to
 * a regular backing file, or undefined (RAM disk, block device: nowhere
 * sensible to write, so APTPL is refused with PTPL_C = 0).
 */
export function prStoreFor(lun: LunConfig): PrStore | undefined {
  if (lun.backend !== 'block' || lun.path === null) return undefined;
  // Synchronous: called while a LUN is registered with CTL (start, reload, admin), once per LUN.
  const st = statSync(lun.path);
  return st.isFile() ? new FilePrStore(`${lun.path}${PR_FILE_SUFFIX}`) : undefined;
}
