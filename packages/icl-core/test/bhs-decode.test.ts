/** decodeBhs against hand-written golden BHS bytes of every PDU type. */
import { describe, expect, it } from 'vitest';
import { decodeBhs } from '../src/bhs-decode.js';
import { BHS_GOLDENS } from './fixtures/goldens.js';

describe('decodeBhs', () => {
  for (const g of BHS_GOLDENS) {
    it(g.name, () => {
      expect(g.bhs.length).toBe(48);
      const d = decodeBhs(g.bhs);
      expect(d).toMatchObject(g.decoded);
      expect(d.totalAhsLength).toBe(0);
      expect(d.opcode).toBe(g.bhs[0]! & 0x3f);
    });
  }

  it('covers every opcode type of the union', () => {
    const types = new Set(BHS_GOLDENS.map((g) => decodeBhs(g.bhs).type));
    for (const t of [
      'NopOut', 'ScsiCommand', 'TaskManagementRequest', 'LoginRequest', 'TextRequest', 'DataOut', 'LogoutRequest',
      'Snack', 'NopIn', 'ScsiResponse', 'TaskManagementResponse', 'LoginResponse', 'TextResponse', 'DataIn',
      'LogoutResponse', 'R2t', 'AsyncMessage', 'Reject', 'Unknown',
    ]) {
      expect(types.has(t as never), t).toBe(true);
    }
  });

  it('returns LUN, ISID and CDB as views of the BHS', () => {
    const bhs = Buffer.from(BHS_GOLDENS[1]!.bhs);
    const d = decodeBhs(bhs);
    if (d.type !== 'ScsiCommand') throw new Error('expected ScsiCommand');
    expect(d.cdb.buffer).toBe(bhs.buffer);
    expect(d.cdb.byteOffset).toBe(bhs.byteOffset + 32);
    expect(d.lun.length).toBe(8);
    bhs[32] = 0x88;
    expect(d.cdb[0]).toBe(0x88);
    const login = Buffer.from(BHS_GOLDENS[4]!.bhs);
    const l = decodeBhs(login);
    if (l.type !== 'LoginRequest') throw new Error('expected LoginRequest');
    expect(l.isid.length).toBe(6);
    expect(l.isid.byteOffset).toBe(login.byteOffset + 8);
  });

  it('reports TotalAHSLength in bytes and the 24-bit DataSegmentLength', () => {
    const bhs = Buffer.from(BHS_GOLDENS[0]!.bhs);
    bhs[4] = 2;
    bhs.writeUIntBE(0xabcdef, 5, 3);
    const d = decodeBhs(bhs);
    expect(d.totalAhsLength).toBe(8);
    expect(d.dataSegmentLength).toBe(0xabcdef);
  });

  it('rejects a short buffer', () => {
    expect(() => decodeBhs(Buffer.alloc(47))).toThrow(RangeError);
  });
});
