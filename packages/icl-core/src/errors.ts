/**
 * Error classes of the ICL core, each with a stable `code` (undici's
 * `UND_ERR_*` habit): callers switch on `code`, never on messages.
 *
 * What it does: declares the errors thrown by the codec, the text-key
 * parser and the driver registry.
 *
 * What it does not do: no logging, no mapping to iSCSI Reject reasons or
 * login status codes (the iSCSI frontend and the login code decide that).
 */

/** Base class of every ICL error. */
export class IclError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'IclError';
    this.code = code;
  }
}

export type IclDigestErrorCode = 'ICL_ERR_HEADER_DIGEST' | 'ICL_ERR_DATA_DIGEST';

/**
 * A received header or data digest did not match (RFC 7143 §11.2.3). A
 * header digest error is fatal to the connection; a data digest error lets
 * the receiver reject the PDU (RFC 7143 §7.8), but the parser itself stays
 * failed — its user decides whether to drop the connection.
 */
export class IclDigestError extends IclError {
  override readonly code: IclDigestErrorCode;
  /** The digest computed over the received bytes. */
  readonly expected: number;
  /** The digest found on the wire. */
  readonly received: number;
  /** The BHS of the offending PDU (a view or a copy; do not modify). */
  readonly bhs: Buffer | null;

  constructor(code: IclDigestErrorCode, expected: number, received: number, bhs: Buffer | null = null) {
    super(
      code,
      `${code === 'ICL_ERR_HEADER_DIGEST' ? 'header' : 'data'} digest mismatch: ` +
        `computed 0x${expected.toString(16).padStart(8, '0')}, received 0x${received.toString(16).padStart(8, '0')}`,
    );
    this.name = 'IclDigestError';
    this.code = code;
    this.expected = expected;
    this.received = received;
    this.bhs = bhs;
  }
}

/** DataSegmentLength exceeds our MaxRecvDataSegmentLength (RFC 7143 §13.12). */
export class IclDataSegmentTooLongError extends IclError {
  readonly dataSegmentLength: number;
  readonly maxRecvDataSegmentLength: number;

  constructor(dataSegmentLength: number, maxRecvDataSegmentLength: number) {
    super(
      'ICL_ERR_DSL_EXCEEDED',
      `DataSegmentLength ${dataSegmentLength} exceeds MaxRecvDataSegmentLength ${maxRecvDataSegmentLength}`,
    );
    this.name = 'IclDataSegmentTooLongError';
    this.dataSegmentLength = dataSegmentLength;
    this.maxRecvDataSegmentLength = maxRecvDataSegmentLength;
  }
}

/** A PDU carries an Additional Header Segment, which this target does not support. */
export class IclAhsNotSupportedError extends IclError {
  readonly totalAhsLength: number;

  constructor(totalAhsLength: number) {
    super('ICL_ERR_AHS', `AHS not supported (TotalAHSLength ${totalAhsLength} bytes)`);
    this.name = 'IclAhsNotSupportedError';
    this.totalAhsLength = totalAhsLength;
  }
}

/** Malformed protocol data (text keys, lengths, sequences). */
export class IclProtocolError extends IclError {
  constructor(message: string, options?: ErrorOptions) {
    super('ICL_ERR_PROTOCOL', message, options);
    this.name = 'IclProtocolError';
  }
}

/** The connection is closed or closing. */
export class IclConnClosedError extends IclError {
  constructor(message = 'connection closed', options?: ErrorOptions) {
    super('ICL_ERR_CONN_CLOSED', message, options);
    this.name = 'IclConnClosedError';
  }
}

/** A driver reported limits outside the RFC 7143 ranges. */
export class IclLimitsError extends IclError {
  constructor(message: string) {
    super('ICL_ERR_LIMITS', message);
    this.name = 'IclLimitsError';
  }
}

/** Unknown driver, duplicate driver name, or a driver refusing an operation. */
export class IclDriverError extends IclError {
  constructor(message: string) {
    super('ICL_ERR_DRIVER', message);
    this.name = 'IclDriverError';
  }
}
