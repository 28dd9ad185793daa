import { describe, expect, it } from 'vitest';
import { NicDriverRegistry, NicRegistryError, simNicDriver, type NicDriverDescriptor } from '../src/index.js';

function descriptor(name: string, priority: number, available: string | null = null): NicDriverDescriptor {
  return { name, priority, description: name, available: () => available, create: () => simNicDriver };
}

describe('NicDriverRegistry', () => {
  it('picks the available driver with the highest priority when none is named (ties: the first registered)', () => {
    const r = new NicDriverRegistry();
    r.register(descriptor('tcp', 0));
    r.register(descriptor('uring', 10, 'io_uring refused: EPERM'));
    r.register(descriptor('other', 0));
    expect(r.find().name).toBe('tcp');
    expect(r.find('').name).toBe('tcp');
    r.register(descriptor('fast', 5));
    expect(r.find().name).toBe('fast');
    expect(r.names()).toEqual(['uring', 'fast', 'tcp', 'other']);
  });

  it('returns a named driver even when unavailable, so the caller can say why', () => {
    const r = new NicDriverRegistry();
    r.register(descriptor('uring', 10, 'io_uring refused: EPERM'));
    expect(r.find('URING').available()).toBe('io_uring refused: EPERM');
    expect(() => r.find()).toThrow('no NIC driver is available');
  });

  it('refuses duplicates, bad names and priorities; names the known drivers for an unknown one', () => {
    const r = new NicDriverRegistry();
    r.register(descriptor('tcp', 0));
    expect(() => r.register(descriptor('TCP', 1))).toThrow(NicRegistryError);
    expect(() => r.register(descriptor('x y', 1))).toThrow(/must be a word/);
    expect(() => r.register(descriptor('nan', Number.NaN))).toThrow(/priority/);
    expect(() => r.find('dpdk')).toThrow('unknown NIC driver "dpdk" (known: tcp)');
    expect(r.registerOnce(descriptor('tcp', 0))).toBe(false);
    r.unregister('tcp');
    expect(r.has('tcp')).toBe(false);
  });
});
