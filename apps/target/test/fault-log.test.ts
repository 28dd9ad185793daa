// Backend faults made visible (issue 13 item 6): the metered LUN counts the
// storage errors a backend reports through `noteStorageError` and passes
// them to its listener; the fault log writes them with the LUN's name — warn
// for no space, error for the rest — rate-limited per (LUN, errno).
import { describe, expect, it } from 'vitest';
import type { BackendLun, BlockRequest, CtlBackendServices, ScsiIo } from '@iscsi-target/ctl-core';
import { FaultLog } from '../src/fault-log.js';
import { LunInventory } from '../src/inventory.js';
import type { Logger } from '../src/logger.js';
import { meterBackend, type BackendFault } from '../src/lun-stats.js';
import type { LunConfig } from '../src/config/model.js';

function recordingLogger(): Logger & { lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg?: string) => lines.push({ level, obj, msg: msg ?? '' });
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/** A backend whose every request fails with `code` the way ctl-block reports it. */
function failingBackend(code: string): BackendLun {
  return {
    blockSize: 512,
    numBlocks: 100,
    submit(io: ScsiIo, _r: BlockRequest, ctl: CtlBackendServices): void {
      ctl.noteStorageError?.(io, code, 'write', `${code}: no luck`);
      ctl.setSpaceAllocationFailed(io);
      ctl.dataSubmitDone(io);
    },
    shutdown: () => Promise.resolve(),
  } as unknown as BackendLun;
}

const ctl = { setSpaceAllocationFailed() {}, dataSubmitDone() {} } as unknown as CtlBackendServices;
const io = {} as ScsiIo;
const write: BlockRequest = { op: 'write', lba: 0, blocks: 1, fua: false };

describe('backend faults', () => {
  it('the metered LUN counts storage errors by errno and calls its listener', () => {
    const be = meterBackend(failingBackend('ENOSPC'));
    const seen: BackendFault[] = [];
    be.onFault = (f) => seen.push(f);
    be.submit(io, write, ctl);
    be.submit(io, write, ctl);
    expect(be.stats.errors).toBe(2);
    expect(Object.fromEntries(be.faults)).toEqual({ ENOSPC: 2 });
    expect(seen).toEqual([
      { code: 'ENOSPC', op: 'write', message: 'ENOSPC: no luck' },
      { code: 'ENOSPC', op: 'write', message: 'ENOSPC: no luck' },
    ]);
  });

  it('the inventory points a LUN\'s faults at the sink with the LUN name', () => {
    const got: string[] = [];
    const inv = new LunInventory((lun, f) => got.push(`${lun}:${f.code}`));
    const be = meterBackend(failingBackend('EIO'));
    inv.add('disk0', 0, {} as LunConfig, be);
    be.submit(io, write, ctl);
    expect(got).toEqual(['disk0:EIO']);
  });

  it('logs ENOSPC at warn and EIO at error, with the LUN, rate-limited per (LUN, errno)', () => {
    const log = recordingLogger();
    let now = 1_000_000;
    const faults = new FaultLog(log, { intervalMs: 10_000, now: () => now });
    const nospc: BackendFault = { code: 'ENOSPC', op: 'write', message: 'ENOSPC: no space left on device, write' };
    for (let i = 0; i < 50; i++) faults.report('disk0', nospc);
    faults.report('disk0', { code: 'EIO', op: 'read', message: 'EIO: i/o error, read' });
    faults.report('disk1', nospc);
    expect(log.lines.map((l) => [l.level, l.obj['lun'], l.obj['code']])).toEqual([
      ['warn', 'disk0', 'ENOSPC'],
      ['error', 'disk0', 'EIO'],
      ['warn', 'disk1', 'ENOSPC'],
    ]);
    expect(log.lines[0]!.msg).toMatch(/^lun "disk0": no space left for the backing store: ENOSPC on write/);
    now += 10_000;
    faults.report('disk0', nospc);
    expect(log.lines.at(-1)!.msg).toContain('(49 more since the last report)');
    expect(log.lines.at(-1)!.obj['suppressed']).toBe(49);
  });
});
