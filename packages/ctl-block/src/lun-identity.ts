/**
 * Identity strings of a backend LUN: T10 vendor/product/revision, unit
 * serial number (VPD 0x80), T10 device id (VPD 0x83 T10 vendor id
 * descriptor) and an 8-byte NAA designator (VPD 0x83). Given values are
 * validated; missing ones are derived from a seed (the absolute path of a
 * file LUN, the name of a RAM disk) with SHA-256, so the same backing store
 * keeps the same identity across restarts — initiators (multipath, ESXi)
 * key devices on it.
 *
 * Generated NAA: type 5h "IEEE Registered" (SPC-4 §7.8.6.6.4, 8 bytes as
 * `BackendLunInfo.naa` requires) with the fixed company-id-style prefix
 * `0x0AC7B1` — a locally administered value (X bit set, SPC-4/IEEE CID
 * format), not an OUI registered to anyone — followed by 36 bits of the
 * hash. Production deployments that own an OUI should pass `naa`.
 *
 * `IdentifiedBackendLun` carries the fields for the backend classes.
 *
 * It does not encode VPD pages; the CTL core does.
 */
import { createHash } from 'node:crypto';
import type { BackendLunIdentity, BackendLunIdentityInfo } from '@iscsi-target/ctl-core';
import { InvalidOptionError } from './errors.js';
import { DEFAULT_REVISION, DEFAULT_VENDOR } from './options.js';

/** Company-id-style prefix of generated NAA designators (see module doc). */
export const GENERATED_NAA_PREFIX = 0x0ac7b1;

/**
 * The identity a configuration may give (ctl-core's `BackendLunIdentity`,
 * what `backend NAME` descriptors receive); `naa` may also be 8 bytes.
 * Missing fields are derived from the seed.
 */
export type LunIdentityOptions = Omit<BackendLunIdentity, 'naa'> & {
  /** 8-byte NAA designator as a Buffer or 16 hex digits; NAA type 2h, 3h or 5h. */
  readonly naa?: Buffer | string;
};

/** A complete, validated identity (the fields of ctl-core's `BackendLunInfo` that say who the LUN is). */
export type LunIdentity = BackendLunIdentityInfo;

/**
 * The identity fields of a block backend class, set once from a
 * `LunIdentity` (the file and RAM disk backends extend it).
 */
export abstract class IdentifiedBackendLun implements BackendLunIdentityInfo {
  readonly vendor: string;
  readonly product: string;
  readonly revision: string;
  readonly serialNumber: string;
  readonly deviceId: string;
  readonly naa: Buffer;

  protected constructor(identity: LunIdentity) {
    this.vendor = identity.vendor;
    this.product = identity.product;
    this.revision = identity.revision;
    this.serialNumber = identity.serialNumber;
    this.deviceId = identity.deviceId;
    this.naa = identity.naa;
  }
}

// SPC-4 §4.4.1: ASCII data fields contain only graphic codes 20h..7Eh.
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function asciiField(name: string, value: string, min: number, max: number): string {
  if (!PRINTABLE_ASCII.test(value) || value.length < min || value.length > max) {
    throw new InvalidOptionError(`${name} must be ${min}..${max} printable ASCII characters, got ${JSON.stringify(value)}`);
  }
  return value;
}

function digest(kind: string, seed: string): Buffer {
  return createHash('sha256').update(kind).update('\0').update(seed).digest();
}

/** NAA 5h designator from a 24-bit prefix and 36 bits of `hash`. */
export function generatedNaa(seed: string): Buffer {
  const h = digest('naa', seed);
  const naa = Buffer.alloc(8);
  const oui = GENERATED_NAA_PREFIX;
  naa[0] = 0x50 | (oui >>> 20);
  naa[1] = (oui >>> 12) & 0xff;
  naa[2] = (oui >>> 4) & 0xff;
  naa[3] = ((oui & 0x0f) << 4) | ((h[0] as number) & 0x0f);
  h.copy(naa, 4, 1, 5);
  return naa;
}

function parseNaa(value: Buffer | string): Buffer {
  let naa: Buffer;
  if (typeof value === 'string') {
    if (!/^(0x)?[0-9a-fA-F]{16}$/.test(value)) throw new InvalidOptionError(`naa must be 16 hex digits, got ${value}`);
    naa = Buffer.from(value.replace(/^0x/, ''), 'hex');
  } else {
    if (value.length !== 8) throw new InvalidOptionError(`naa must be 8 bytes, got ${value.length}`);
    naa = Buffer.from(value);
  }
  // SPC-4 §7.8.6.6: the 8-byte NAA formats are 2h, 3h and 5h.
  const type = (naa[0] as number) >>> 4;
  if (type !== 2 && type !== 3 && type !== 5) throw new InvalidOptionError(`naa type ${type} is not an 8-byte NAA format`);
  return naa;
}

/** Validates the given identity options and derives the missing ones from `seed`. */
export function lunIdentity(seed: string, defaultProduct: string, options: LunIdentityOptions): LunIdentity {
  return {
    vendor: asciiField('vendor', options.vendor ?? DEFAULT_VENDOR, 1, 8),
    product: asciiField('product', options.product ?? defaultProduct, 1, 16),
    revision: asciiField('revision', options.revision ?? DEFAULT_REVISION, 1, 4),
    serialNumber: asciiField(
      'serialNumber',
      options.serialNumber ?? digest('serial', seed).toString('hex', 0, 8).toUpperCase(),
      1,
      64,
    ),
    deviceId: asciiField('deviceId', options.deviceId ?? digest('devid', seed).toString('hex', 0, 16), 1, 64),
    naa: options.naa === undefined ? generatedNaa(seed) : parseNaa(options.naa),
  };
}
