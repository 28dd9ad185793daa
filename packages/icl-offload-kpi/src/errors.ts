/**
 * Errors raised by the NIC drivers of this package, each with a stable
 * `code` (callers switch on `code`, never on messages).
 *
 * What it does: names the two ways a NIC send can fail without an OS error
 * of its own — the connection was closed (or is closing) locally, or it was
 * reset (by the peer, or by the simulator's fault injection).
 *
 * What it does not do: wrap OS errors. A `net.Socket` error (`ECONNRESET`,
 * `EPIPE`, ...) is passed up as the `Error` Node produced, with its own
 * `code`.
 */
import { IclError } from '@iscsi-target/icl-core/kpi';

/** The NIC connection is closed or closing; the bytes were (or may have been) not sent. */
export class NicClosedError extends IclError {
  constructor(message = 'NIC connection closed', options?: ErrorOptions) {
    super('NIC_ERR_CLOSED', message, options);
    this.name = 'NicClosedError';
  }
}

/** The NIC connection was reset; queued and in-flight bytes are lost. */
export class NicResetError extends IclError {
  constructor(message = 'NIC connection reset', options?: ErrorOptions) {
    super('NIC_ERR_RESET', message, options);
    this.name = 'NicResetError';
  }
}

/** Listening or connecting failed in the simulator (address in use, nobody listening). */
export class NicAddressError extends IclError {
  constructor(message: string) {
    super('NIC_ERR_ADDRESS', message);
    this.name = 'NicAddressError';
  }
}
