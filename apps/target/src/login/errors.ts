/**
 * Login failures.
 *
 * What it does: `LoginRejectError` carries the Status-Class/Status-Detail
 * pair the target answers with (RFC 7143 §11.13.5) and a message for the
 * log. Thrown by the negotiation code and the login state machine; the
 * state machine turns it into a Login Response with that status and then
 * closes the connection (RFC 7143 §6.3: a Login reject terminates it).
 *
 * What it does not do: no wire encoding (`login-pdu.ts`).
 */
import { LoginStatus, type TextKeyList } from '@iscsi-target/icl-core';

export type LoginStatusName = keyof typeof LoginStatus;

export class LoginRejectError extends Error {
  override readonly name = 'LoginRejectError';
  /** Stable code; the status name says which reject it was. */
  readonly code = 'LOGIN_ERR_REJECT';
  readonly status: LoginStatusName;
  readonly statusClass: number;
  readonly statusDetail: number;
  /** Keys sent with the reject: `TargetAddress` for a redirection (status class 1, RFC 7143 §11.13.5). */
  readonly keys: TextKeyList;

  constructor(status: LoginStatusName, message: string, keys: TextKeyList = []) {
    super(message);
    this.status = status;
    this.keys = keys;
    const [cls, detail] = LoginStatus[status];
    this.statusClass = cls;
    this.statusDetail = detail;
  }
}

/** The connection was dropped without a response (bad first PDU, timeout, transport error). */
export class LoginAbortedError extends Error {
  override readonly name = 'LoginAbortedError';
  readonly code: 'LOGIN_ERR_TIMEOUT' | 'LOGIN_ERR_PROTOCOL' | 'LOGIN_ERR_TRANSPORT' | 'LOGIN_ERR_SHUTDOWN';

  constructor(code: LoginAbortedError['code'], message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
