/**
 * Shared helpers for the project's end-to-end tests (private package
 * `@iscsi-target/test-utils`).
 *
 * What this package does: start the built daemon (or the tgtd reference peer)
 * on a free port with a temporary data directory and stop it; run external
 * initiator tools with timeouts; talk raw iSCSI (hand-built Login, SCSI
 * Command, NOP-Out, Logout PDUs) for bad-input tests.
 * What it does not do: it never imports the project's own packages — the
 * tests must not share the implementation's codec — and it does not depend on
 * vitest, so scripts can use it too.
 */
export { PduReadError, RawProtocolError, TargetStartError, TestUtilsError, type PduReadErrorCode } from './errors.js';
export { ManagedProcess, type ExitStatus } from './managed-process.js';
export { canConnect, freePort, waitForPort, type WaitForPortOptions } from './net.js';
export { cpuSeconds, haveCommand, pidAlive, run, type RunOptions, type RunResult } from './process.js';
export {
  attachReader,
  BHS_SIZE,
  encodeLun,
  FINAL_BIT,
  IMMEDIATE_BIT,
  MAX_READ_DATA_SEGMENT,
  newBhs,
  Opcode,
  readPdu,
  RejectReason,
  RESERVED_TAG,
  sendPdu,
  waitForClose,
  writeRaw,
  type BhsFields,
  type CloseObservation,
  type RawPdu,
  type SendPduOptions,
} from './raw-pdu.js';
export { decodeText, encodeText, type TextEntry } from './raw-text.js';
export {
  LoginStage,
  LoginStatus,
  RAW_INITIATOR_NAME,
  rawClose,
  rawConnect,
  rawLogin,
  rawLogout,
  rawNopOut,
  type RawLoginOptions,
  type RawSession,
} from './raw-login.js';
export { rawInquiry, rawScsiCommand, rawTestUnitReady, ScsiStatus, SenseKey, type RawScsiOptions, type RawScsiResult } from './raw-scsi.js';
export {
  daemonBin,
  DEFAULT_BLOCK_SIZE,
  DEFAULT_IQN,
  DEFAULT_LUN_BYTES,
  e2ePeer,
  repoRoot,
  startTarget,
  type StartTargetOptions,
  type TargetHandle,
  type TargetKind,
  type TargetLogs,
} from './target.js';
export { TGTD_DISK_LUN } from './tgtd.js';
