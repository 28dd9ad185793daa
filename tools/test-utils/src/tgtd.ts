/**
 * Debian's tgtd as a reference peer behind the same {@link TargetHandle} the
 * e2e tests use for the daemon (selected with `ISCSI_E2E_PEER=tgtd`).
 *
 * What this module does: creates the default thin 1 GiB `lun0.img` in the
 * data directory, starts `tgtd -f -C <port> --iscsi portal=HOST:PORT`, creates
 * the default target with that file as tgtd LUN 1 (tgtd keeps LUN 0 for its
 * controller device, so `url(0)` addresses LUN 1), binds it to every
 * initiator and waits for the portal.
 * What it does not do: no daemon options (`args` are ignored), no config
 * files, no graceful stop (tgtd in the foreground ignores SIGTERM, so `stop()`
 * kills it). tgtd needs root.
 */
import { closeSync, ftruncateSync, openSync, rmSync } from 'node:fs';
import path from 'node:path';
import { TargetStartError } from './errors.js';
import { ManagedProcess } from './managed-process.js';
import { waitForPort } from './net.js';
import { cpuSeconds, haveCommand, run } from './process.js';
import type { TargetHandle, TargetLogs } from './target.js';

/** tgtd's LUN holding the backing file (LUN 0 is its controller). */
export const TGTD_DISK_LUN = 1;

/** @internal called by startTarget() in peer mode. */
export async function startTgtdPeer(o: {
  host: string;
  port: number;
  dataDir: string;
  iqn: string;
  cleanup: () => void;
  makeLogs: (p: ManagedProcess) => TargetLogs;
}): Promise<TargetHandle> {
  if (!haveCommand('tgtd') || !haveCommand('tgtadm')) {
    throw new TargetStartError('ISCSI_E2E_PEER=tgtd but tgtd/tgtadm are not installed (Debian package tgt)', '');
  }
  const lunFile = path.join(o.dataDir, 'lun0.img');
  const fd = openSync(lunFile, 'w');
  ftruncateSync(fd, 1024 * 1024 * 1024);
  closeSync(fd);
  // tgtd's management "port" names /var/run/tgtd/socket.<n> and must be < 32768.
  const ctl = String(1000 + (o.port % 30000));
  const proc = new ManagedProcess('tgtd', ['-f', '-C', ctl, '--iscsi', `portal=${o.host}:${o.port}`]);
  const logs = o.makeLogs(proc);
  const tgtadm = async (args: readonly string[]): Promise<void> => {
    const r = await run('tgtadm', ['-C', ctl, '--lld', 'iscsi', ...args], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`tgtadm ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  };
  try {
    for (let i = 0; ; i++) {
      try {
        await tgtadm(['--op', 'new', '--mode', 'target', '--tid', '1', '-T', o.iqn]);
        break;
      } catch (e) {
        if (!proc.alive() || i > 50) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await tgtadm(['--op', 'new', '--mode', 'logicalunit', '--tid', '1', '--lun', String(TGTD_DISK_LUN), '-b', lunFile]);
    await tgtadm(['--op', 'bind', '--mode', 'target', '--tid', '1', '-I', 'ALL']);
    await waitForPort(o.host, o.port, { timeoutMs: 10_000, isAlive: () => proc.alive() });
  } catch (e) {
    await proc.stop('SIGKILL', 1_000);
    removeControlSocket(ctl);
    throw new TargetStartError(`tgtd did not start: ${(e as Error).message}`, logs.text());
  }
  let stopped: Promise<number | null> | undefined;
  return {
    kind: 'tgtd',
    host: o.host,
    port: o.port,
    iqn: o.iqn,
    pid: proc.pid,
    dataDir: o.dataDir,
    url: (lun = 0) => `iscsi://${o.host}:${o.port}/${o.iqn}/${lun + TGTD_DISK_LUN}`,
    portalUrl: () => `iscsi://${o.host}:${o.port}`,
    wireLun: (lun = 0) => lun + TGTD_DISK_LUN,
    logs,
    alive: () => proc.alive(),
    exited: proc.exited,
    cpuSeconds: () => cpuSeconds(proc.pid),
    stop() {
      // tgtd in the foreground ignores SIGTERM; it is only a reference peer, so kill it.
      stopped ??= (async () => {
        const st = await proc.stop('SIGKILL', 5_000);
        removeControlSocket(ctl);
        o.cleanup();
        return st.code;
      })();
      return stopped;
    },
  };
}

/** A killed tgtd leaves its management socket and lock file behind. */
function removeControlSocket(ctl: string): void {
  rmSync(`/var/run/tgtd/socket.${ctl}`, { force: true });
  rmSync(`/var/run/tgtd/socket.${ctl}.lock`, { force: true });
}
