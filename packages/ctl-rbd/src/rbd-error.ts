/**
 * Errors of the RBD binding: librbd's negative errno turned into an Error
 * with a Node-style `code` (ENOENT, EIO, ETIMEDOUT, ...) and `errno`, so the
 * block engine's storage-error mapping (ENOSPC → SPACE ALLOCATION FAILED,
 * EROFS → WRITE PROTECTED, others → MEDIUM ERROR) applies unchanged.
 * Does nothing else.
 */
import { constants } from 'node:os';

const names = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

export class RbdError extends Error {
  override readonly name = 'RbdError';
  readonly code: string;
  readonly errno: number;
  /**
   * The cluster or the image is out of reach (connect failed, pool or image
   * missing): the daemon then fails only this LUN and serves the others.
   */
  storageUnavailable = false;

  constructor(what: string, ret: number) {
    const code = names.get(-ret) ?? `E${-ret}`;
    super(`${what}: ${code} (${ret})`);
    this.code = code;
    this.errno = ret;
  }
}

/** Throws `RbdError` if `ret` is negative. */
export function check(what: string, ret: number): void {
  if (ret < 0) throw new RbdError(what, ret);
}
