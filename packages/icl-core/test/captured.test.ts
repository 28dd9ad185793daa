/**
 * The codec against PDUs captured from a real initiator (libiscsi
 * `iscsi-inq`, see fixtures/regenerate.ts): framing, a header digest computed
 * by another implementation, BHS decoding and the login text keys.
 */
import { describe, expect, it } from 'vitest';
import { decodeBhs } from '../src/bhs-decode.js';
import { IclDigestError } from '../src/errors.js';
import { PduParser, serializePdu } from '../src/pdu-codec.js';
import { parseTextKeys } from '../src/text.js';
import {
  CAPTURE_INITIATOR,
  CAPTURE_TARGET,
  LIBISCSI_FIRST_COMMAND_HEADER_DIGEST,
  LIBISCSI_LOGIN_REQUEST,
} from './fixtures/captured.js';

describe('libiscsi captures', () => {
  it('parses the Login Request and its text keys', () => {
    const p = new PduParser({ headerDigest: false, dataDigest: false, maxRecvDataSegmentLength: 8192 });
    p.push(Buffer.from(LIBISCSI_LOGIN_REQUEST));
    const pdu = p.next();
    expect(p.next()).toBeNull();
    expect(p.bufferedBytes).toBe(0);
    const d = decodeBhs(pdu!.bhs);
    expect(d).toMatchObject({ type: 'LoginRequest', immediate: true, transit: true, csg: 1, nsg: 3, versionMax: 0, versionMin: 0, tsih: 0 });
    const keys = parseTextKeys(Buffer.concat(pdu!.data.map((c) => c.buf)));
    const map = new Map(keys);
    expect(map.get('InitiatorName')).toBe(CAPTURE_INITIATOR);
    expect(map.get('TargetName')).toBe(CAPTURE_TARGET);
    expect(map.get('SessionType')).toBe('Normal');
    expect(map.get('HeaderDigest')).toBe('None,CRC32C');
    expect(keys.length).toBe(map.size); // no duplicates
    // Re-serializing the parsed PDU gives back the captured bytes.
    expect(Buffer.concat(serializePdu(pdu!, { headerDigest: false, dataDigest: false }))).toEqual(LIBISCSI_LOGIN_REQUEST);
  });

  it("accepts libiscsi's header digest and produces the same one", () => {
    const opts = { headerDigest: true, dataDigest: false };
    const p = new PduParser({ ...opts, maxRecvDataSegmentLength: 262144 });
    p.push(Buffer.from(LIBISCSI_FIRST_COMMAND_HEADER_DIGEST));
    const pdu = p.next();
    expect(pdu).not.toBeNull();
    const d = decodeBhs(pdu!.bhs);
    expect(d.type).toBe('ScsiCommand');
    expect(Buffer.concat(serializePdu(pdu!, opts))).toEqual(LIBISCSI_FIRST_COMMAND_HEADER_DIGEST);
  });

  it('rejects the capture with one bit of its header digest flipped', () => {
    const w = Buffer.from(LIBISCSI_FIRST_COMMAND_HEADER_DIGEST);
    w[50]! ^= 0x80;
    const p = new PduParser({ headerDigest: true, dataDigest: false, maxRecvDataSegmentLength: 262144 });
    p.push(w);
    expect(() => p.next()).toThrow(IclDigestError);
  });
});
