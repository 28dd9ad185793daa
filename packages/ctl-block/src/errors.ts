/**
 * Error classes of the block backends, each with a stable `code` string
 * (undici `UND_ERR_*` style). These are programming or configuration errors
 * raised to the caller (the application creating a LUN, or a transport that
 * broke the reference-count contract). Storage I/O failures during a SCSI
 * command are NOT thrown to anyone: they become sense data on the I/O
 * (see `io-error.ts`).
 */

/** Base class: every error of this package carries a stable `code`. */
export class CtlBlockError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CtlBlockError';
    this.code = code;
  }
}

/** An option has an invalid value (`CTL_BLOCK_ERR_INVALID_OPTION`). */
export class InvalidOptionError extends CtlBlockError {
  constructor(message: string) {
    super('CTL_BLOCK_ERR_INVALID_OPTION', message);
    this.name = 'InvalidOptionError';
  }
}

/** A request for more pool memory than the pool can ever hold (`CTL_BLOCK_ERR_POOL_TOO_LARGE`). */
export class PoolRequestTooLargeError extends CtlBlockError {
  constructor(requested: number, maxSegments: number) {
    super('CTL_BLOCK_ERR_POOL_TOO_LARGE', `requested ${requested} segments, pool holds at most ${maxSegments}`);
    this.name = 'PoolRequestTooLargeError';
  }
}

/** A buffer released to a pool that did not lend it, or released twice (`CTL_BLOCK_ERR_POOL_RELEASE`). */
export class PoolReleaseError extends CtlBlockError {
  constructor(message: string) {
    super('CTL_BLOCK_ERR_POOL_RELEASE', message);
    this.name = 'PoolReleaseError';
  }
}

/** `kernDataRef` misuse: count below zero, resurrection, bad argument (`CTL_BLOCK_ERR_REFCOUNT`). */
export class RefCountError extends CtlBlockError {
  constructor(message: string) {
    super('CTL_BLOCK_ERR_REFCOUNT', message);
    this.name = 'RefCountError';
  }
}

/** Opening or sizing the backing store failed in a way the caller must fix (`CTL_BLOCK_ERR_OPEN`). */
export class BackendOpenError extends CtlBlockError {
  constructor(message: string, options?: ErrorOptions) {
    super('CTL_BLOCK_ERR_OPEN', message, options);
    this.name = 'BackendOpenError';
  }
}

/** `n` bytes in words: "66060288 bytes (63 MiB)". */
export function describeBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let unit = '';
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return unit === '' ? `${n} bytes` : `${n} bytes (${Number.isInteger(v) ? v : v.toFixed(1)} ${unit})`;
}

/**
 * A shrink that was not allowed (`CTL_BLOCK_ERR_SHRINK_REFUSED`): the store
 * holds `existingBytes`, the new size `requestedBytes` would discard
 * `lostBytes` at its end. The message states the loss; the caller says how
 * to allow it (the daemon: `option allow_shrink on`, `--force`).
 */
export class ShrinkRefusedError extends CtlBlockError {
  readonly existingBytes: number;
  readonly requestedBytes: number;
  readonly lostBytes: number;
  constructor(what: string, existing: number, requested: number) {
    super(
      'CTL_BLOCK_ERR_SHRINK_REFUSED',
      `${what} holds ${describeBytes(existing)}; shrinking it to ${describeBytes(requested)} would discard the last ${describeBytes(existing - requested)} of its data, so it was not shrunk`,
    );
    this.name = 'ShrinkRefusedError';
    this.existingBytes = existing;
    this.requestedBytes = requested;
    this.lostBytes = existing - requested;
  }
}

/** An operation the backing store cannot do, e.g. resizing a block device (`CTL_BLOCK_ERR_UNSUPPORTED`). */
export class UnsupportedOperationError extends CtlBlockError {
  constructor(message: string) {
    super('CTL_BLOCK_ERR_UNSUPPORTED', message);
    this.name = 'UnsupportedOperationError';
  }
}

/** The LUN was shut down (`CTL_BLOCK_ERR_SHUT_DOWN`). */
export class BackendShutDownError extends CtlBlockError {
  constructor() {
    super('CTL_BLOCK_ERR_SHUT_DOWN', 'the backend LUN is shut down');
    this.name = 'BackendShutDownError';
  }
}

/** The CTL core broke the datamove protocol, e.g. `beMoveDone` without a datamove (`CTL_BLOCK_ERR_PROTOCOL`). */
export class DatamoveProtocolError extends CtlBlockError {
  constructor(message: string) {
    super('CTL_BLOCK_ERR_PROTOCOL', message);
    this.name = 'DatamoveProtocolError';
  }
}
