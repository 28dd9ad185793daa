/**
 * Errors thrown by the test helpers, each with a stable `code`.
 *
 * What this module does: defines the error classes. What it does not do: no
 * retries, no logging; callers decide whether an error fails the test.
 */

/** Base class of every error thrown by `@iscsi-target/test-utils`. */
export class TestUtilsError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'TestUtilsError';
    this.code = code;
  }
}

/** The daemon (or a peer target) could not be started or did not become ready. */
export class TargetStartError extends TestUtilsError {
  /** Everything the process wrote before it failed. */
  readonly output: string;
  constructor(message: string, output: string) {
    super('TEST_ERR_TARGET_START', `${message}\n--- target output ---\n${output}`);
    this.name = 'TargetStartError';
    this.output = output;
  }
}

/** Why a raw PDU could not be read. */
export type PduReadErrorCode = 'RAW_ERR_CLOSED' | 'RAW_ERR_TIMEOUT' | 'RAW_ERR_TOO_LARGE';

/** Reading a PDU from a raw iSCSI socket failed. */
export class PduReadError extends TestUtilsError {
  declare readonly code: PduReadErrorCode;
  constructor(code: PduReadErrorCode, message: string) {
    super(code, message);
    this.name = 'PduReadError';
  }
}

/** The target answered the raw client with something the exchange does not allow. */
export class RawProtocolError extends TestUtilsError {
  constructor(message: string) {
    super('RAW_ERR_PROTOCOL', message);
    this.name = 'RawProtocolError';
  }
}
