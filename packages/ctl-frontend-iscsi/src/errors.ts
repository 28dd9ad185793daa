/**
 * Errors of the iSCSI frontend, each with a stable `code`.
 *
 * What it does: the errors the frontend's public methods throw (target
 * registry, handoff validation), and `ProtocolViolation`, the reason a
 * session records when it terminates itself over an initiator's protocol
 * error (ERL 0, RFC 7143 §7.1.4 / FreeBSD freebsd-arch §5.12).
 *
 * What it does not do: these never escape `IclConn.onReceive` — the session
 * catches everything and terminates instead.
 */
import { RejectReason } from '@iscsi-target/icl-core';

export class FrontendError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FrontendError';
    this.code = code;
  }
}

/** `handoff`/`removeTarget`/`updateTarget`: no active target of that name and tag. */
export class TargetNotFoundError extends FrontendError {
  constructor(name: string, portalGroupTag: number) {
    super('CFISCSI_ERR_TARGET_NOT_FOUND', `target ${name} (portal group tag ${portalGroupTag}) not found or going away`);
    this.name = 'TargetNotFoundError';
  }
}

/** `addTarget`: a target with that name and portal group tag already exists. */
export class TargetExistsError extends FrontendError {
  constructor(name: string, portalGroupTag: number) {
    super('CFISCSI_ERR_TARGET_EXISTS', `target ${name} (portal group tag ${portalGroupTag}) already exists`);
    this.name = 'TargetExistsError';
  }
}

/** `addTarget`/`handoff`: a parameter is out of its RFC 7143 range. */
export class InvalidParameterError extends FrontendError {
  constructor(message: string) {
    super('CFISCSI_ERR_INVALID_PARAMETER', message);
    this.name = 'InvalidParameterError';
  }
}

/** The frontend is shutting down: no new targets or sessions. */
export class FrontendShutdownError extends FrontendError {
  constructor() {
    super('CFISCSI_ERR_SHUTDOWN', 'the iSCSI frontend is shutting down');
    this.name = 'FrontendShutdownError';
  }
}

/**
 * An initiator broke RFC 7143; with ERL 0 the session is dropped.
 * `rejectReason` is the Reject reason (RFC 7143 §11.17.1) for a caller that
 * answers with a Reject before dropping (the discovery session does).
 */
export class ProtocolViolation extends FrontendError {
  readonly rejectReason: number;

  constructor(message: string, rejectReason: number = RejectReason.ProtocolError) {
    super('CFISCSI_ERR_PROTOCOL', message);
    this.name = 'ProtocolViolation';
    this.rejectReason = rejectReason;
  }
}
