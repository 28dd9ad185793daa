import { describe, expect, it } from 'vitest';
import { GENERATED_NAA_PREFIX, generatedNaa, lunIdentity } from '../src/lun-identity.js';
import { InvalidOptionError } from '../src/index.js';

describe('LUN identity', () => {
  it('derives a stable serial, device id and NAA 5h from the seed', () => {
    const a = lunIdentity('/srv/disk0.img', 'CTL BLOCK', {});
    const b = lunIdentity('/srv/disk0.img', 'CTL BLOCK', {});
    const c = lunIdentity('/srv/disk1.img', 'CTL BLOCK', {});
    expect(a).toEqual(b);
    expect(a.serialNumber).toMatch(/^[0-9A-F]{16}$/);
    expect(a.deviceId).toMatch(/^[0-9a-f]{32}$/);
    expect(c.serialNumber).not.toBe(a.serialNumber);
    expect(c.naa.equals(a.naa)).toBe(false);
    expect(a.naa).toHaveLength(8);
    expect(a.naa[0]! >> 4).toBe(5);
    const prefix = ((a.naa.readUInt32BE(0) >>> 4) & 0xffffff);
    expect(prefix).toBe(GENERATED_NAA_PREFIX);
    expect(a.vendor).toBe('ISCSITGT');
    expect(a.product).toBe('CTL BLOCK');
    expect(generatedNaa('/srv/disk0.img').equals(a.naa)).toBe(true);
  });

  it('accepts given values and validates them', () => {
    const id = lunIdentity('x', 'P', {
      serialNumber: 'SN-1',
      deviceId: 'dev 1',
      vendor: 'ACME',
      product: 'Disk',
      revision: '1.0',
      naa: '0x6001405abcdef012'.replace('6', '5'),
    });
    expect(id).toMatchObject({ serialNumber: 'SN-1', deviceId: 'dev 1', vendor: 'ACME', product: 'Disk', revision: '1.0' });
    expect(id.naa.toString('hex')).toBe('5001405abcdef012');
    expect(lunIdentity('x', 'P', { naa: Buffer.from('3000000000000001', 'hex') }).naa[0]).toBe(0x30);
    expect(() => lunIdentity('x', 'P', { vendor: 'TOO-LONG-VENDOR' })).toThrow(InvalidOptionError);
    expect(() => lunIdentity('x', 'P', { product: 'é' })).toThrow(InvalidOptionError);
    expect(() => lunIdentity('x', 'P', { revision: '12345' })).toThrow(InvalidOptionError);
    expect(() => lunIdentity('x', 'P', { serialNumber: '' })).toThrow(InvalidOptionError);
    expect(() => lunIdentity('x', 'P', { naa: '6001405abcdef012' })).toThrow(InvalidOptionError); // 16-byte type
    expect(() => lunIdentity('x', 'P', { naa: Buffer.alloc(16) })).toThrow(InvalidOptionError);
    expect(() => lunIdentity('x', 'P', { naa: 'xyz' })).toThrow(InvalidOptionError);
  });
});
