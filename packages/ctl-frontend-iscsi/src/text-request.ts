/**
 * Text Request / Text Response exchanges in full feature phase (RFC 7143
 * §11.10-11.11), e.g. `SendTargets` in a normal session.
 *
 * What it does: reassembles a request split with the C bit (answering each
 * partial request with an empty Text Response, F=0 and a valid TTT,
 * §11.10.2/§11.11.4), parses the keys, asks the session for the answer,
 * splits a long answer into PDUs of at most the initiator's
 * MaxRecvDataSegmentLength (C=1, F=0, a valid TTT on all but the last),
 * sends the next piece when the initiator continues with the TTT, and
 * starts over on a request with TTT 0xffffffff (§11.10.4).
 *
 * What it does not do: no key semantics — the session (and the daemon's
 * `onTextRequest`), or the daemon's discovery session, decide the answer;
 * no CmdSN checks.
 *
 * Buffer ownership: request data is taken as views of the received PDU
 * (received memory is never reused) and, if split over PDUs, concatenated
 * once — text is control traffic, never payload. Response pieces are views
 * of one freshly encoded Buffer, appended without a copy.
 */
import {
  Flag,
  RejectReason,
  RESERVED_TAG,
  TargetOpcode,
  TextBhs,
  TextReassembler,
  bhsSetOpcode,
  encodeTextKeys,
  parseTextKeys,
  splitTextResponse,
  type IclConn,
  type Pdu,
} from '@iscsi-target/icl-core';
import { ProtocolViolation } from './errors.js';

export interface TextHost {
  readonly conn: IclConn;
  readonly maxTextRequestLength: number;
  /** A fresh Target Transfer Tag, never 0xffffffff. */
  allocTtt(): number;
  /** Writes StatSN/ExpCmdSN/MaxCmdSN and queues the PDU. */
  send(pdu: Pdu): void;
  /** The answer to a complete request. */
  answer(keys: Array<[string, string]>): Array<[string, string]>;
}

export class TextExchange {
  readonly #host: TextHost;
  readonly #reassembler: TextReassembler;
  /** ITT of the exchange in progress, or null. */
  #itt: number | null = null;
  /** TTT the initiator must echo to continue, or RESERVED_TAG. */
  #ttt = RESERVED_TAG;
  /** Response pieces not sent yet. */
  #pending: Buffer[] = [];
  #lunHi = 0;
  #lunLo = 0;

  constructor(host: TextHost) {
    this.#host = host;
    this.#reassembler = new TextReassembler(host.maxTextRequestLength);
  }

  /** Drops any exchange in progress. */
  reset(): void {
    this.#itt = null;
    this.#ttt = RESERVED_TAG;
    this.#pending = [];
    this.#reassembler.reset();
  }

  /**
   * Handles one Text Request. Does not take ownership of `pdu` (the caller
   * frees it). Throws `ProtocolViolation` on flag/tag misuse or bad text.
   */
  handle(pdu: Pdu): void {
    const bhs = pdu.bhs;
    const flags = pdu.flags;
    const final = (flags & Flag.Final) !== 0;
    const cont = (flags & Flag.Continue) !== 0;
    const itt = pdu.initiatorTaskTag;
    const ttt = bhs.readUInt32BE(TextBhs.targetTransferTag);
    // RFC 7143 §11.10.2: a request with C=1 must have F=0.
    if (cont && final) throw new ProtocolViolation('Text Request with both C and F bits');
    if (itt === RESERVED_TAG) throw new ProtocolViolation('Text Request with the reserved ITT');
    if (ttt === RESERVED_TAG) {
      // RFC 7143 §11.10.4: a new request; any state for an earlier one is reset.
      this.reset();
      this.#itt = itt;
    } else if (ttt !== this.#ttt || itt !== this.#itt) {
      throw new ProtocolViolation(`Text Request continues unknown TTT 0x${ttt.toString(16)}`, RejectReason.InvalidPduField);
    }
    this.#lunHi = bhs.readUInt32BE(TextBhs.lun);
    this.#lunLo = bhs.readUInt32BE(TextBhs.lun + 4);

    if (this.#pending.length > 0) {
      // The initiator asks for the next piece of our response (§11.11.4).
      if (pdu.dataLength !== 0) throw new ProtocolViolation('Text Request with data while a response is pending');
      this.#sendPiece(itt);
      return;
    }

    const conn = this.#host.conn;
    const views = pdu.dataLength > 0 ? conn.pduDataViews(pdu, 0, pdu.dataLength) : [];
    const data = views.length === 1 ? views[0]! : Buffer.concat(views, pdu.dataLength);
    let whole: Buffer | null;
    try {
      whole = this.#reassembler.push(data, cont);
    } catch (err) {
      throw new ProtocolViolation(`Text Request: ${(err as Error).message}`);
    }
    if (whole === null) {
      // RFC 7143 §11.10.2: answer a partial request with an empty response
      // whose TTT the initiator echoes in the next piece.
      this.#ttt = this.#host.allocTtt();
      this.#sendResponse(itt, Buffer.alloc(0), false, false, this.#ttt);
      return;
    }
    let keys: Array<[string, string]>;
    try {
      keys = parseTextKeys(whole);
    } catch (err) {
      throw new ProtocolViolation(`Text Request: ${(err as Error).message}`);
    }
    const encoded = encodeTextKeys(this.#host.answer(keys));
    this.#pending = splitTextResponse(encoded, conn.maxSendDataSegmentLength);
    this.#ttt = RESERVED_TAG;
    this.#sendPiece(itt);
  }

  #sendPiece(itt: number): void {
    const piece = this.#pending.shift()!;
    const last = this.#pending.length === 0;
    if (last) {
      this.#ttt = RESERVED_TAG;
      this.#itt = null;
      // RFC 7143 §11.11.4: F=1 carries TTT 0xffffffff.
      this.#sendResponse(itt, piece, true, false, RESERVED_TAG);
    } else {
      // RFC 7143 §11.11.2: C=1 (the text continues), F=0, a valid TTT — one
      // for every piece of this response.
      if (this.#ttt === RESERVED_TAG) this.#ttt = this.#host.allocTtt();
      this.#sendResponse(itt, piece, false, true, this.#ttt);
    }
  }

  #sendResponse(itt: number, data: Buffer, final: boolean, cont: boolean, ttt: number): void {
    const conn = this.#host.conn;
    const pdu = conn.newPdu();
    const bhs = pdu.bhs;
    bhsSetOpcode(bhs, TargetOpcode.TextResponse);
    bhs[TextBhs.flags] = (final ? Flag.Final : 0) | (cont ? Flag.Continue : 0);
    bhs.writeUInt32BE(this.#lunHi, TextBhs.lun);
    bhs.writeUInt32BE(this.#lunLo, TextBhs.lun + 4);
    bhs.writeUInt32BE(itt, TextBhs.initiatorTaskTag);
    bhs.writeUInt32BE(ttt, TextBhs.targetTransferTag);
    if (data.length > 0) conn.pduAppendData(pdu, data, { noCopy: true });
    this.#host.send(pdu);
  }
}
