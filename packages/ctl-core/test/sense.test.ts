import { describe, expect, it } from 'vitest';
import {
  buildDescriptorSense,
  buildFixedSense,
  buildSense,
  decodeSense,
  IoStatus,
  newScsiIo,
  ScsiStatus,
  setSense,
  TagType,
} from '@iscsi-target/ctl-core';

describe('fixed-format sense (SPC-4 §4.5.3)', () => {
  it('lays out key, ASC, ASCQ and additional length', () => {
    const s = buildFixedSense(0x05, 0x20, 0x00);
    expect([...s]).toEqual([0x70, 0, 0x05, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0x00, 0, 0, 0, 0]);
  });

  it('encodes the field pointer with SKSV, C/D and bit pointer', () => {
    const s = buildFixedSense(0x05, 0x24, 0x00, { fieldPointer: 0x0102, bitPointer: 5, command: true });
    expect([...s.subarray(15, 18)]).toEqual([0x80 | 0x40 | 0x08 | 5, 0x01, 0x02]);
    const p = buildFixedSense(0x05, 0x26, 0x00, { fieldPointer: 3, command: false });
    expect([...p.subarray(15, 18)]).toEqual([0x80, 0x00, 0x03]);
  });

  it('sets VALID and INFORMATION when it fits in 32 bits', () => {
    const s = buildFixedSense(0x03, 0x11, 0x00, { information: 0x12345678 });
    expect(s[0]).toBe(0xf0);
    expect(s.readUInt32BE(3)).toBe(0x12345678);
    const big = buildFixedSense(0x03, 0x11, 0x00, { information: 0x1_0000_0000n });
    expect(big[0]).toBe(0x70);
  });
});

describe('descriptor-format sense (SPC-4 §4.5.2)', () => {
  it('is 8 bytes without descriptors', () => {
    expect([...buildDescriptorSense(0x06, 0x29, 0x00)]).toEqual([0x72, 0x06, 0x29, 0x00, 0, 0, 0, 0]);
  });

  it('carries information and sense-key specific descriptors', () => {
    const s = buildDescriptorSense(0x05, 0x24, 0x00, { information: 7n, fieldPointer: 2, bitPointer: 1 });
    expect(s.length).toBe(8 + 12 + 8);
    expect(s[7]).toBe(20);
    expect([...s.subarray(8, 20)]).toEqual([0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
    expect([...s.subarray(20, 28)]).toEqual([0x02, 0x06, 0, 0, 0xc9, 0x00, 0x02, 0]);
  });

  it('round-trips through decodeSense in both formats', () => {
    for (const descriptor of [false, true]) {
      const s = buildSense(0x05, 0x24, 0x00, { fieldPointer: 10, bitPointer: 3, command: false, descriptor });
      expect(decodeSense(s)).toEqual({ senseKey: 5, asc: 0x24, ascq: 0, fieldPointer: 10, bitPointer: 3, command: false });
    }
    expect(decodeSense(Buffer.from([0x00, 1, 2]))).toBeNull();
  });
});

describe('setSense', () => {
  it('completes the I/O with CHECK CONDITION', () => {
    const io = newScsiIo({
      nexus: { initiatorIndex: 0, targetPort: 0, lun: 0 },
      tagNum: 1,
      tagType: TagType.Simple,
      cdb: Buffer.alloc(6),
      expectedDataTransferLength: 0,
    });
    setSense(io, 0x07, 0x27, 0x00);
    expect(io.status).toBe(IoStatus.ScsiError);
    expect(io.scsiStatus).toBe(ScsiStatus.CheckCondition);
    expect(decodeSense(io.senseData ?? Buffer.alloc(0))).toEqual({ senseKey: 7, asc: 0x27, ascq: 0 });
  });
});
