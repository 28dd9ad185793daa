import { describe, expect, it } from 'vitest';
import {
  CmdSnVerdict,
  CmdSnWindow,
  checkCmdSn,
  computeMaxCmdSn,
  snAdd,
  snGt,
  snGte,
  snLt,
  snLte,
} from '../src/cmdsn.js';

describe('serial number arithmetic (RFC 1982, 32 bits)', () => {
  it('adds modulo 2^32', () => {
    expect(snAdd(0xffffffff, 1)).toBe(0);
    expect(snAdd(0, -1)).toBe(0xffffffff);
    expect(snAdd(5, 3)).toBe(8);
  });

  it('compares across the wrap', () => {
    expect(snLt(0xfffffff0, 5)).toBe(true);
    expect(snGt(5, 0xfffffff0)).toBe(true);
    expect(snLt(5, 0xfffffff0)).toBe(false);
    expect(snLt(1, 2)).toBe(true);
    expect(snLt(2, 2)).toBe(false);
    expect(snLte(2, 2)).toBe(true);
    expect(snGte(2, 2)).toBe(true);
    expect(snGte(0, 0xffffffff)).toBe(true);
    expect(snLt(0, 0x7fffffff)).toBe(true);
    expect(snGt(0, 0x80000001)).toBe(true);
  });
});

describe('CmdSN window', () => {
  it('accepts the expected CmdSN, ignores outside the window, flags an in-window gap', () => {
    expect(checkCmdSn(10, 10, 4)).toBe(CmdSnVerdict.Accept);
    expect(checkCmdSn(9, 10, 4)).toBe(CmdSnVerdict.Ignore); // already received
    expect(checkCmdSn(14, 10, 4)).toBe(CmdSnVerdict.Ignore); // beyond ExpCmdSN - 1 + maxTags = 13
    expect(checkCmdSn(13, 10, 4)).toBe(CmdSnVerdict.Gap);
    expect(checkCmdSn(11, 10, 4)).toBe(CmdSnVerdict.Gap);
  });

  it('works across the 2^32 wrap', () => {
    expect(checkCmdSn(0xffffffff, 0xffffffff, 4)).toBe(CmdSnVerdict.Accept);
    expect(checkCmdSn(1, 0xffffffff, 4)).toBe(CmdSnVerdict.Gap);
    expect(checkCmdSn(3, 0xffffffff, 4)).toBe(CmdSnVerdict.Ignore);
    const w = new CmdSnWindow(0xffffffff, 8);
    expect(w.receive(0xffffffff, false)).toBe(CmdSnVerdict.Accept);
    expect(w.expCmdSn).toBe(0);
  });

  it('does not check or advance for immediate PDUs', () => {
    const w = new CmdSnWindow(10, 8);
    expect(w.receive(12345, true)).toBe(CmdSnVerdict.Accept);
    expect(w.expCmdSn).toBe(10);
    expect(w.receive(10, false)).toBe(CmdSnVerdict.Accept);
    expect(w.expCmdSn).toBe(11);
  });

  it('MaxCmdSN shrinks with outstanding I/O and never goes below ExpCmdSN - 1', () => {
    expect(computeMaxCmdSn(10, 256, 0)).toBe(265);
    expect(computeMaxCmdSn(10, 256, 6)).toBe(259);
    expect(computeMaxCmdSn(10, 256, 256)).toBe(9);
    expect(computeMaxCmdSn(10, 256, 300)).toBe(9);
    expect(computeMaxCmdSn(0, 4, 4)).toBe(0xffffffff);
  });
});
