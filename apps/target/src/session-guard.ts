/**
 * Session isolation: an exception thrown by the code handling one
 * connection must end that connection, never the daemon.
 *
 * What it does: `guardConnection(conn)` turns `conn.onReceive` and
 * `conn.onError` into accessors that wrap whatever handler is installed —
 * by the login, the discovery session or the iSCSI frontend, now or later —
 * in a try/catch. A throwing receive handler is logged and reported to the
 * current `onError` handler, exactly as a fatal transport error would be,
 * so its owner tears the session down (ERL 0); a throwing `onError`
 * handler is logged and the connection is closed. The cost is one extra
 * call and a try/catch per PDU.
 *
 * What it does not do: no protection for timers or promises the handlers
 * start (`main.ts` logs process-level uncaught exceptions instead of
 * exiting).
 */
import type { IclConn, Pdu } from '@iscsi-target/icl-core';
import type { Logger } from './logger.js';

export function guardConnection(conn: IclConn, logger: Logger): void {
  let receive: (pdu: Pdu) => void = conn.onReceive;
  let error: (c: IclConn, err: Error) => void = conn.onError;
  let failing = false;

  const guardedError = (c: IclConn, err: Error): void => {
    try {
      error(c, err);
    } catch (e) {
      logger.error({ err: e, conn: conn.name }, 'connection error handler threw; closing the connection');
      try {
        conn.close();
      } catch {
        // Nothing more can be done for this connection.
      }
    }
  };

  const guardedReceive = (pdu: Pdu): void => {
    try {
      receive(pdu);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      logger.error({ err, conn: conn.name }, 'PDU handler threw; ending the session');
      if (failing) return;
      failing = true;
      guardedError(conn, err);
    }
  };

  Object.defineProperty(conn, 'onReceive', {
    configurable: true,
    enumerable: true,
    get: () => guardedReceive,
    set: (fn: (pdu: Pdu) => void) => {
      receive = fn;
    },
  });
  Object.defineProperty(conn, 'onError', {
    configurable: true,
    enumerable: true,
    get: () => guardedError,
    set: (fn: (c: IclConn, err: Error) => void) => {
      error = fn;
    },
  });
}
