/**
 * Maps a storage error to SCSI sense on the I/O, the way FreeBSD's block
 * backend does (`ctl_be_block_biodone` / file dispatch):
 * ENOSPC, EDQUOT → `ctl.setSpaceAllocationFailed` (thin provisioning, SBC-3
 * §4.7.3.6: SPACE ALLOCATION FAILED WRITE PROTECT); EROFS, EACCES → DATA PROTECT,
 * WRITE PROTECTED; a failed flush → HARDWARE ERROR, INTERNAL TARGET FAILURE;
 * anything else from storage → MEDIUM ERROR (UNRECOVERED READ ERROR or WRITE
 * ERROR). Errors without an errno `code` are bugs or resource failures of
 * this process and become INTERNAL TARGET FAILURE.
 *
 * Before setting sense it reports the error through the optional
 * `ctl.noteStorageError` hook (the daemon logs and counts it per LUN).
 * It only sets sense; completing the I/O is the caller's job.
 */
import type { CtlBackendServices, ScsiIo } from '@iscsi-target/ctl-core';

/** Which storage operation failed. */
export type StorageOp = 'read' | 'write' | 'flush';

function errnoCode(err: unknown): string | null {
  if (typeof err !== 'object' || err === null) return null;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : null;
}

export function setStorageErrorSense(ctl: CtlBackendServices, io: ScsiIo, err: unknown, op: StorageOp): void {
  const code = errnoCode(err);
  ctl.noteStorageError?.(io, code, op, err instanceof Error ? err.message : String(err));
  if (code === 'ENOSPC' || code === 'EDQUOT') ctl.setSpaceAllocationFailed(io);
  else if (code === 'EROFS' || code === 'EACCES') ctl.setWriteProtected(io);
  else if (code === null || op === 'flush') ctl.setInternalFailure(io);
  else ctl.setMediumError(io, op === 'read');
}
