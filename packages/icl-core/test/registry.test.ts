/** The ICL driver registry: FreeBSD icl.c semantics (names, priorities, iSER, limits). */
import { describe, expect, it } from 'vitest';
import type { IclConn, IclConnOptions, IclDriver, IclDrvLimits } from '../src/conn.js';
import { IclDriverError, IclLimitsError } from '../src/errors.js';
import type { NicConn } from '../src/nic.js';
import {
  defaultRegistry,
  findDriver,
  iclLimits,
  iclNewConn,
  IclRegistry,
  registerDriver,
  unregisterDriver,
  validateLimits,
} from '../src/registry.js';

const LIMITS: IclDrvLimits = {
  maxRecvDataSegmentLength: 262144,
  maxSendDataSegmentLength: 262144,
  maxBurstLength: 1048576,
  firstBurstLength: 1048576,
};

interface FakeDriver extends IclDriver {
  created: IclConnOptions[];
  limitCalls: Array<NicConn | null>;
}

function driver(name: string, priority: number, opts: { iser?: boolean; limits?: Partial<IclDrvLimits> } = {}): FakeDriver {
  const created: IclConnOptions[] = [];
  const limitCalls: Array<NicConn | null> = [];
  return {
    name,
    priority,
    iser: opts.iser ?? false,
    created,
    limitCalls,
    limits(nic) {
      limitCalls.push(nic);
      return { ...LIMITS, ...opts.limits };
    },
    newConn(options) {
      created.push(options);
      return { offload: name, name: options.name } as unknown as IclConn;
    },
  };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'no error';
}

describe('IclRegistry', () => {
  it('registers, finds case-insensitively, lists and unregisters', () => {
    const r = new IclRegistry();
    const soft = driver('none', 0);
    r.register(soft);
    expect(r.find('none')).toBe(soft);
    expect(r.find('NONE')).toBe(soft);
    expect(r.find('None')).toBe(soft);
    expect(r.names()).toEqual(['none']);
    r.unregister('NoNe');
    expect(r.names()).toEqual([]);
    expect(code(() => r.find('none'))).toBe('ICL_ERR_DRIVER');
  });

  it('refuses duplicate names in any case, empty names, and unknown unregister', () => {
    const r = new IclRegistry();
    r.register(driver('cxgbei', -100));
    expect(() => r.register(driver('CXGBEI', 5))).toThrow(IclDriverError);
    expect(code(() => r.register(driver('', 0)))).toBe('ICL_ERR_DRIVER');
    expect(code(() => r.unregister('nope'))).toBe('ICL_ERR_DRIVER');
    expect(r.names()).toEqual(['cxgbei']);
  });

  it('with no name picks the highest priority driver of the asked kind', () => {
    const r = new IclRegistry();
    expect(code(() => r.find())).toBe('ICL_ERR_DRIVER');
    const offload = driver('cxgbei', -100);
    const soft = driver('none', 0);
    const iser = driver('iser', 10, { iser: true });
    r.register(offload);
    expect(r.find()).toBe(offload); // the only one
    r.register(soft);
    r.register(iser);
    expect(r.find()).toBe(soft);
    expect(r.find('')).toBe(soft);
    expect(r.find(undefined, true)).toBe(iser);
    expect(r.names()).toEqual(['iser', 'none', 'cxgbei']);
    const tie = driver('other', 0);
    r.register(tie);
    expect(r.find()).toBe(soft); // ties: first registered
  });

  it('a named lookup rejects an iSER/non-iSER mismatch', () => {
    const r = new IclRegistry();
    r.register(driver('iser', 10, { iser: true }));
    r.register(driver('none', 0));
    expect(code(() => r.find('iser'))).toBe('ICL_ERR_DRIVER');
    expect(r.find('iser', true).name).toBe('iser');
    expect(code(() => r.find('none', true))).toBe('ICL_ERR_DRIVER');
  });

  it('newConn goes to the named or default driver', () => {
    const r = new IclRegistry();
    const soft = driver('none', 0);
    const offload = driver('cxgbei', -100);
    r.register(soft);
    r.register(offload);
    expect(r.newConn(undefined, { name: 'a' }).offload).toBe('none');
    expect(r.newConn('CXGBEI', { name: 'b' }).offload).toBe('cxgbei');
    expect(soft.created).toEqual([{ name: 'a' }]);
    expect(offload.created).toEqual([{ name: 'b' }]);
    expect(code(() => r.newConn('missing', { name: 'c' }))).toBe('ICL_ERR_DRIVER');
  });

  it('limits passes the NIC connection, validates and returns a copy', () => {
    const r = new IclRegistry();
    const soft = driver('none', 0);
    r.register(soft);
    const nic = { remoteAddress: '127.0.0.1' } as NicConn;
    const l = r.limits(undefined, nic);
    expect(l).toEqual(LIMITS);
    expect(soft.limitCalls).toEqual([nic]);
    r.register(driver('bad', -1, { limits: { maxRecvDataSegmentLength: 511 } }));
    expect(() => r.limits('bad', null)).toThrow(IclLimitsError);
    expect(() => r.limits('bad', null)).toThrow(/bad/);
  });
});

describe('validateLimits', () => {
  it('accepts 0 (no opinion) and the RFC range bounds', () => {
    expect(() => validateLimits({ maxRecvDataSegmentLength: 0, maxSendDataSegmentLength: 0, maxBurstLength: 0, firstBurstLength: 0 })).not.toThrow();
    expect(() => validateLimits({ maxRecvDataSegmentLength: 512, maxSendDataSegmentLength: 16777215, maxBurstLength: 16777215, firstBurstLength: 512 })).not.toThrow();
    // firstBurst > maxBurst is only checked when both are set.
    expect(() => validateLimits({ ...LIMITS, maxBurstLength: 0, firstBurstLength: 65536 })).not.toThrow();
  });

  for (const field of ['maxRecvDataSegmentLength', 'maxSendDataSegmentLength', 'maxBurstLength', 'firstBurstLength'] as const) {
    it(`rejects ${field} out of 512..16777215 or not an integer`, () => {
      for (const bad of [1, 511, 16777216, 1000.5, -1, Number.NaN]) {
        const l = { ...LIMITS, maxBurstLength: 16777215, [field]: bad };
        expect(code(() => validateLimits(l)), `${field}=${bad}`).toBe('ICL_ERR_LIMITS');
      }
    });
  }

  it('rejects firstBurstLength > maxBurstLength', () => {
    expect(code(() => validateLimits({ ...LIMITS, firstBurstLength: 65537, maxBurstLength: 65536 }))).toBe('ICL_ERR_LIMITS');
    expect(() => validateLimits({ ...LIMITS, firstBurstLength: 65536, maxBurstLength: 65536 })).not.toThrow();
  });
});

describe('default registry free functions', () => {
  it('operate on defaultRegistry', () => {
    const name = `test-drv-${process.pid}`;
    const d = driver(name, -50);
    registerDriver(d);
    try {
      expect(defaultRegistry.names()).toContain(name);
      expect(findDriver(name.toUpperCase())).toBe(d);
      expect(iclNewConn(name, { name: 'x' }).offload).toBe(name);
      expect(iclLimits(name, null)).toEqual(LIMITS);
    } finally {
      unregisterDriver(name);
    }
    expect(defaultRegistry.names()).not.toContain(name);
  });
});
