import { describe, expect, it } from 'vitest';
import { BackendRegistry, BackendRegistryError, type BackendDescriptor } from '../src/index.js';

function descriptor(name: string, available: string | null = null): BackendDescriptor {
  return {
    name,
    description: `${name} backend`,
    options: [],
    needsPath: false,
    needsSize: true,
    available: () => available,
    open: () => Promise.reject(new Error('not opened in this test')),
  };
}

describe('BackendRegistry', () => {
  it('finds backends case-insensitively and lists them in registration order', () => {
    const r = new BackendRegistry();
    r.register(descriptor('block'));
    r.register(descriptor('RamDisk'));
    expect(r.find('BLOCK').name).toBe('block');
    expect(r.find('ramdisk').name).toBe('RamDisk');
    expect(r.has('RAMDISK')).toBe(true);
    expect(r.names()).toEqual(['block', 'RamDisk']);
  });

  it('refuses duplicate names in any case, and names that are not a word', () => {
    const r = new BackendRegistry();
    r.register(descriptor('rbd'));
    expect(() => r.register(descriptor('RBD'))).toThrow(BackendRegistryError);
    expect(r.registerOnce(descriptor('rbd'))).toBe(false);
    expect(r.registerOnce(descriptor('null'))).toBe(true);
    for (const bad of ['', 'a b', '-x', 'x{']) expect(() => r.register(descriptor(bad))).toThrow(/must be a word/);
  });

  it('says which backends exist when a name is unknown; unregister removes one', () => {
    const r = new BackendRegistry();
    r.register(descriptor('block'));
    r.register(descriptor('ramdisk', 'not in this build'));
    expect(() => r.find('zfs')).toThrow('unknown backend "zfs" (known: block, ramdisk)');
    // An unavailable backend is still found by name: the caller reports why it cannot be used.
    expect(r.find('ramdisk').available()).toBe('not in this build');
    r.unregister('RAMDISK');
    expect(() => r.find('ramdisk')).toThrow(BackendRegistryError);
    expect(() => r.unregister('ramdisk')).toThrow('CTL backend "ramdisk" not found');
  });
});
