/**
 * Errors thrown by the CTL core's management API (adding/removing LUNs,
 * unknown ports, misuse of an I/O). SCSI-level failures are never thrown:
 * they complete the I/O with CHECK CONDITION and sense data (see sense.ts).
 */

/** Stable error codes of `CtlError`. */
export const CtlErrorCode = {
  /** `addLun` with an id that is already in use. */
  LunExists: 'CTL_ERR_LUN_EXISTS',
  /** No LUN with that id. */
  NoSuchLun: 'CTL_ERR_NO_SUCH_LUN',
  /** LUN id outside 0..maxLunId, or no free id left. */
  InvalidLunId: 'CTL_ERR_INVALID_LUN_ID',
  /** The backend's LUN description is unusable (block size, capacity, NAA...). */
  InvalidBackend: 'CTL_ERR_INVALID_BACKEND',
  /** A port number that is not registered. */
  NoSuchPort: 'CTL_ERR_NO_SUCH_PORT',
  /** `run` with an I/O that CTL is still processing. */
  IoBusy: 'CTL_ERR_IO_BUSY',
  /** `addLun`: the LUN's `PrStore` returned a malformed persistent reservation snapshot. */
  InvalidPrState: 'CTL_ERR_INVALID_PR_STATE',
  /** `registerPort`: the port's ALUA topology is inconsistent (alua.ts `validatePortAlua`). */
  InvalidPortAlua: 'CTL_ERR_INVALID_PORT_ALUA',
} as const;
export type CtlErrorCode = (typeof CtlErrorCode)[keyof typeof CtlErrorCode];

export class CtlError extends Error {
  override readonly name = 'CtlError';
  readonly code: CtlErrorCode;

  constructor(code: CtlErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
