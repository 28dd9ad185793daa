/** Assertions on completed commands (exact fixed-format sense bytes). */
import { expect } from 'vitest';
import { IoStatus, ScsiStatus } from '@iscsi-target/ctl-core';
import type { ExecResult } from './harness.js';

export interface FieldPointer {
  field: number;
  bit?: number;
  /** C/D: true (default) for the CDB, false for the parameter list. */
  cd?: boolean;
}

/** CHECK CONDITION with fixed-format sense key/ASC/ASCQ and, if given, the SKSV field pointer. */
export function expectCheck(r: ExecResult, key: number, asc: number, ascq: number, fp?: FieldPointer): void {
  expect(r.status).toBe(IoStatus.ScsiError);
  expect(r.scsiStatus).toBe(ScsiStatus.CheckCondition);
  const s = r.senseData;
  expect(s).not.toBeNull();
  if (!s) return;
  expect(s.length).toBe(18);
  expect(s[0]).toBe(0x70);
  expect(s[2]).toBe(key);
  expect(s[7]).toBe(10);
  expect(s[12]).toBe(asc);
  expect(s[13]).toBe(ascq);
  if (fp) {
    const b0 = 0x80 | ((fp.cd ?? true) ? 0x40 : 0) | (fp.bit !== undefined ? 0x08 | fp.bit : 0);
    expect(s[15]).toBe(b0);
    expect(s.readUInt16BE(16)).toBe(fp.field);
  } else {
    expect(s.subarray(15, 18)).toEqual(Buffer.alloc(3));
  }
}

/** GOOD status, no sense. */
export function expectGood(r: ExecResult): void {
  expect(r.senseData).toBeNull();
  expect(r.status).toBe(IoStatus.Success);
  expect(r.scsiStatus).toBe(ScsiStatus.Good);
}

/** INVALID FIELD IN CDB (05/24/00) with the field (and bit) pointer. */
export function expectInvalidField(r: ExecResult, field: number, bit?: number): void {
  const fp: FieldPointer = { field };
  if (bit !== undefined) fp.bit = bit;
  expectCheck(r, 0x05, 0x24, 0x00, fp);
}
