/**
 * What a normal session answers to the keys of a full feature phase Text
 * Request (RFC 7143 §6.2, §12.3, §13.12) — the content, once `text-request.ts`
 * has reassembled and parsed the request.
 *
 * What it does: applies MaxRecvDataSegmentLength (declarative, allowed in
 * full feature phase; never raised above what login negotiated, the
 * driver's cap) and leaves it unanswered; asks the frontend's
 * `onTextRequest` hook for the other keys, or without one answers
 * `SendTargets` with this target's name only (RFC 7143 Appendix C, the
 * current connection's address); answers `NotUnderstood` for every other
 * key the answer does not cover (§6.2).
 *
 * What it does not do: no PDUs, continuation or TTTs (`text-request.ts`), no
 * discovery-session answers (the daemon's `discovery.ts`).
 */
import type { IclConn } from '@iscsi-target/icl-core';
import type { TextRequestHandler } from './options.js';
import type { IscsiSession } from './session.js';

export interface TextAnswerContext {
  readonly session: IscsiSession;
  /** Its `maxSendDataSegmentLength` follows the initiator's declaration. */
  readonly conn: IclConn;
  readonly onTextRequest: TextRequestHandler | null;
  /** Told when `onTextRequest` throws (every asked key is then NotUnderstood). */
  logError(obj: Record<string, unknown>, msg: string): void;
}

/** The answer to the keys of one complete Text Request, in order. */
export function answerTextKeys(ctx: TextAnswerContext, keys: Array<[string, string]>): Array<[string, string]> {
  const conn = ctx.conn;
  const asked: Array<[string, string]> = [];
  for (const kv of keys) {
    if (kv[0] === 'MaxRecvDataSegmentLength') {
      // RFC 7143 §13.12: declarative, allowed in full feature phase. Never
      // raised above what was negotiated at login (the driver's cap).
      const v = Number(kv[1]);
      if (Number.isInteger(v) && v >= 512 && v <= 0xffffff) {
        conn.maxSendDataSegmentLength = Math.min(v, conn.maxSendDataSegmentLength);
      }
      continue;
    }
    asked.push(kv);
  }
  let answer: Array<[string, string]> = [];
  const handler = ctx.onTextRequest;
  if (handler !== null) {
    try {
      answer = handler(ctx.session, asked);
    } catch (err) {
      ctx.logError({ err: String(err) }, 'onTextRequest failed');
      answer = [];
    }
  } else {
    const targetName = ctx.session.target.targetName;
    for (const [key, value] of asked) {
      // Without the daemon's data, SendTargets in a normal session can only
      // name this target (RFC 7143 Appendix C, current connection's address).
      if (key === 'SendTargets' && (value === '' || value.toLowerCase() === targetName.toLowerCase())) {
        answer.push(['TargetName', targetName]);
      }
    }
  }
  const answered = new Set(answer.map((kv) => kv[0]));
  for (const [key] of asked) {
    // RFC 7143 §6.2: keys the target does not understand get NotUnderstood.
    if (key !== 'SendTargets' && !answered.has(key)) {
      answer.push([key, 'NotUnderstood']);
      answered.add(key);
    }
  }
  return answer;
}
