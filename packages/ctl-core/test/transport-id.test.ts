/** iSCSI TransportIDs (SPC-4 §7.6.4.6): encoding for READ FULL STATUS, decoding for REGISTER AND MOVE. */
import { describe, expect, it } from 'vitest';
import { decodeIscsiTransportId, encodeIscsiTransportId } from '@iscsi-target/ctl-core';

const PORT = 'iqn.1994-05.com.redhat:host1,i,0x023d00000001';

describe('iSCSI TransportID', () => {
  it('encodes an initiator port name as FORMAT CODE 01b, NUL-terminated, padded to a multiple of 4', () => {
    const t = encodeIscsiTransportId(PORT);
    const addl = (PORT.length + 1 + 3) & ~3;
    expect(t.length).toBe(4 + addl);
    expect([...t.subarray(0, 4)]).toEqual([0x45, 0, addl >> 8, addl & 0xff]);
    expect(t.subarray(4, 4 + PORT.length).toString()).toBe(PORT);
    expect([...t.subarray(4 + PORT.length)]).toEqual(new Array<number>(addl - PORT.length).fill(0));
  });

  it('a name without ",i,0x" is FORMAT CODE 00b, and short names still get 20 bytes', () => {
    const t = encodeIscsiTransportId('iqn.x:y');
    expect([...t.subarray(0, 4)]).toEqual([0x05, 0, 0, 20]);
    expect(t.length).toBe(24);
  });

  it('decodes what it encodes, normalising the ISID to lower case', () => {
    expect(decodeIscsiTransportId(encodeIscsiTransportId(PORT))).toEqual({ ok: true, initiatorPortName: PORT, length: encodeIscsiTransportId(PORT).length });
    const upper = encodeIscsiTransportId('iqn.1994-05.com.redhat:host1,i,0x023D0000000A');
    const d = decodeIscsiTransportId(upper);
    expect(d.ok && d.initiatorPortName).toBe('iqn.1994-05.com.redhat:host1,i,0x023d0000000a');
  });

  it('refuses other protocols and formats, bad lengths, missing NUL, separator or ISID', () => {
    const good = encodeIscsiTransportId(PORT);
    const mut = (f: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(good);
      f(b);
      return b;
    };
    expect(decodeIscsiTransportId(Buffer.alloc(3))).toEqual({ ok: false, byte: 0 });
    expect(decodeIscsiTransportId(mut((b) => (b[0] = 0x41)))).toEqual({ ok: false, byte: 0 }); // SAS
    expect(decodeIscsiTransportId(mut((b) => (b[0] = 0x05)))).toEqual({ ok: false, byte: 0 }); // format 00b
    expect(decodeIscsiTransportId(mut((b) => b.writeUInt16BE(18, 2)))).toEqual({ ok: false, byte: 2 });
    expect(decodeIscsiTransportId(mut((b) => b.writeUInt16BE(b.length, 2)))).toEqual({ ok: false, byte: 2 });
    expect(decodeIscsiTransportId(mut((b) => b.fill(0x41, 4)))).toEqual({ ok: false, byte: 4 }); // no NUL
    expect(decodeIscsiTransportId(encodeIscsiTransportId('iqn.1994-05.com.redhat:host1'.padEnd(30, 'x')).fill(0x45, 0, 1))).toEqual({ ok: false, byte: 4 });
    const shortIsid = encodeIscsiTransportId('iqn.a:b,i,0x1234').fill(0x45, 0, 1);
    expect(decodeIscsiTransportId(shortIsid)).toEqual({ ok: false, byte: 4 + 'iqn.a:b,i,0x'.length });
  });
});
