/**
 * The admin commands: what each request of the admin protocol does to the
 * running daemon (ctladm's `devlist`/`create`/`remove`/`modify -s`,
 * `islist`/`isterminate`, `portlist`; ctlstat's counters; ctld's reload).
 *
 * What it does: `adminHandler(daemon, reload)` returns the handler the
 * admin server calls: it checks the arguments (`protocol.ts` readers;
 * sizes as numbers of bytes or strings like "64M") and calls the
 * daemon's administration methods. `reload` is supplied by `main.ts`
 * (it re-reads the configuration file the daemon was started with).
 *
 * What it does not do: no socket I/O, no formatting for people (the CLI).
 */
import { parseSize } from '../config/size.js';
import type { TargetDaemon } from '../daemon.js';
import type { ReloadReport } from '../reload/report.js';
import type { AdminHandler } from './admin-server.js';
import { AdminCommand, argInt, argOptInt, argOptString, argString, type AdminRequest } from './protocol.js';

function sizeArg(args: Record<string, unknown>, key: string): number | undefined {
  const v = args[key];
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v;
  if (typeof v === 'string') {
    const n = parseSize(v);
    if (n !== null && n > 0) return n;
  }
  throw new Error(`"${key}" must be a positive size (bytes, or like 64M, 10G)`);
}

export interface AdminContext {
  readonly daemon: TargetDaemon;
  /** Re-reads and applies the configuration; rejects with why it was refused. */
  readonly reload: () => Promise<ReloadReport>;
  readonly version: string;
}

export function adminHandler(ctx: AdminContext): AdminHandler {
  const d = ctx.daemon;
  return async (req: AdminRequest): Promise<unknown> => {
    const a = req.args ?? {};
    switch (req.cmd) {
      case AdminCommand.Version:
        return { version: ctx.version, pid: process.pid, config: d.config.source };
      case AdminCommand.LunList:
        return d.lunList();
      case AdminCommand.LunCreate: {
        const backend = argString(a, 'backend');
        if (backend !== 'ramdisk' && backend !== 'block' && backend !== 'file') throw new Error('"backend" must be "ramdisk" or "file"');
        const spec: Parameters<TargetDaemon['createLun']>[0] = { backend: backend === 'ramdisk' ? 'ramdisk' : 'block' };
        const name = argOptString(a, 'name');
        if (name !== undefined) spec.name = name;
        const path = argOptString(a, 'path');
        if (path !== undefined) spec.path = path;
        const size = sizeArg(a, 'size');
        if (size !== undefined) spec.size = size;
        const blockSize = argOptInt(a, 'blockSize');
        if (blockSize !== undefined) spec.blockSize = blockSize;
        const ctlLun = argOptInt(a, 'ctlLun');
        if (ctlLun !== undefined) spec.ctlLun = ctlLun;
        const target = argOptString(a, 'target');
        if (target !== undefined) spec.target = target;
        const lun = argOptInt(a, 'lun');
        if (lun !== undefined) spec.lun = lun;
        if (a['readOnly'] === true) spec.readOnly = true;
        if (a['removable'] === true) spec.removable = true;
        return d.createLun(spec);
      }
      case AdminCommand.LunRemove:
        await d.destroyLun(String(argString(a, 'lun')));
        return { removed: a['lun'] };
      case AdminCommand.LunResize: {
        const size = sizeArg(a, 'size');
        if (size === undefined) throw new Error('"size" is required');
        return d.resizeLun(argString(a, 'lun'), size, a['force'] === true);
      }
      case AdminCommand.SessionList:
        return d.sessionList();
      case AdminCommand.SessionKill: {
        const id = argInt(a, 'id');
        if (!(await d.killSession(id))) throw new Error(`no session ${id}`);
        return { terminated: id };
      }
      case AdminCommand.PortList:
        return { portals: d.portals(), ports: d.portList() };
      case AdminCommand.Stat:
        // `time` is wall-clock (display); `uptimeMs` is monotonic with sub-millisecond resolution, so
        // two snapshots taken within one millisecond still give a non-zero interval.
        return { time: Date.now(), uptimeMs: performance.now(), luns: d.lunStats() };
      case AdminCommand.Reload:
        return ctx.reload();
      default:
        throw new Error(`unknown command "${req.cmd}"`);
    }
  };
}
