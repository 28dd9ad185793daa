/**
 * Third-party copy command handlers (SPC-4 §6.4 EXTENDED COPY, §6.18 RECEIVE
 * COPY RESULTS): CDB decoding, the parameter list transfer, and the RECEIVE
 * COPY RESULTS responses built from the copy manager's results.
 *
 * Does NOT run copies or decode parameter lists (tpc.ts, tpc-parse.ts).
 * Response buffers are fresh and owned by the I/O once sent.
 */
import { checkCondition, good, invalidFieldInCdb, type CommandHost } from './command.js';
import type { IoState } from './io-state.js';
import { SenseKey } from './scsi-proto.js';
import {
  buildOperatingParameters,
  CopyManagerStatus,
  PARAMETER_LIST_HEADER_SIZE,
  ReceiveCopyResultsSa,
  TpcAsc,
} from './tpc-proto.js';

/** EXTENDED COPY (LID1) (SPC-4 §6.4.2). */
export function extendedCopy(state: IoState, host: CommandHost): void {
  const length = state.io.cdb.readUInt32BE(10);
  // SPC-4 §6.4.2: a PARAMETER LIST LENGTH of zero transfers nothing and is not an error.
  if (length === 0) return good(state, host);
  // SPC-4 §6.4.3: shorter than the header, or longer than a header plus the longest
  // descriptor lists accepted (no inline data): refused before any data is transferred.
  if (length < PARAMETER_LIST_HEADER_SIZE || length > PARAMETER_LIST_HEADER_SIZE + host.tpc.limits.maxDescriptorListLength) {
    return checkCondition(state, host, SenseKey.IllegalRequest, TpcAsc.ParameterListLengthError);
  }
  host.receiveData(state, length, (data) => host.tpc.extendedCopy(state, host, data));
}

/** RECEIVE COPY RESULTS (SPC-4 §6.18): COPY STATUS, OPERATING PARAMETERS, FAILED SEGMENT DETAILS. */
export function receiveCopyResults(state: IoState, host: CommandHost): void {
  const cdb = state.io.cdb;
  const sa = (cdb[1] ?? 0) & 0x1f;
  const listId = cdb[2] ?? 0;
  const allocationLength = cdb.readUInt32BE(10);
  if (sa === ReceiveCopyResultsSa.OperatingParameters) {
    return host.sendData(state, buildOperatingParameters(host.tpc.limits), allocationLength);
  }
  const result = host.tpc.findResult(state, listId);
  // SPC-4 §6.18.2: a LIST IDENTIFIER naming no EXTENDED COPY of this I_T nexus whose
  // results are held: INVALID FIELD IN CDB at the LIST IDENTIFIER.
  if (!result) return invalidFieldInCdb(state, host, 2);
  if (sa === ReceiveCopyResultsSa.CopyStatus) {
    // SPC-4 §6.18.3 COPY STATUS (LID1) response, 12 bytes.
    const buf = Buffer.alloc(12);
    buf.writeUInt32BE(8, 0); // AVAILABLE DATA
    buf[4] = !result.completed
      ? CopyManagerStatus.InProgress
      : result.failed
        ? CopyManagerStatus.CompletedError
        : CopyManagerStatus.CompletedGood; // HDD = 0: no held data
    buf.writeUInt16BE(Math.min(0xffff, result.segmentsProcessed), 5);
    let count = result.bytesCopied;
    let units = 0; // TRANSFER COUNT UNITS: 00h bytes, 01h KiB, 02h MiB, ...
    while (count > 0xffffffff) {
      count = Math.floor(count / 1024);
      units++;
    }
    buf[7] = units;
    buf.writeUInt32BE(count, 8);
    host.tpc.discardResult(result);
    return host.sendData(state, buf, allocationLength);
  }
  // FAILED SEGMENT DETAILS (SPC-4 §6.18.5): only for a completed command.
  if (!result.completed) return invalidFieldInCdb(state, host, 2);
  const sense = result.failed ? (result.sense ?? Buffer.alloc(0)) : Buffer.alloc(0);
  const buf = Buffer.alloc(60 + sense.length);
  if (result.failed) {
    buf.writeUInt32BE(buf.length - 4, 0); // AVAILABLE DATA
    buf[56] = CopyManagerStatus.CompletedError; // COPY COMMAND STATUS
  }
  buf.writeUInt16BE(sense.length, 58); // SENSE DATA LENGTH
  sense.copy(buf, 60);
  host.tpc.discardResult(result);
  host.sendData(state, buf, allocationLength);
}
