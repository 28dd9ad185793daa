// Starting Debian's tgtd (Linux SCSI target framework) as a reference peer, so
// benchmarks can compare against a C target on the same machine and backing
// file, and scripts can be validated while our daemon is not there.
//
// What this does: spawns `tgtd -f -C <ctl> --iscsi portal=HOST:PORT`, creates
// one target with the backing file as LUN 1 (tgtd reserves LUN 0 for its own
// controller device), binds it to all initiators, and stops it again.
// What it does NOT do: no CHAP, no ACLs, no config files, no graceful stop
// (tgtd in the foreground ignores SIGTERM; `stop()` kills it). Needs root
// (tgtd creates /var/run/tgtd/socket.<ctl>).
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { DEFAULT_IQN } from './daemon.mjs';
import { cpuSeconds, freePort, haveCommand, run, waitForPort } from './proc.mjs';

/** tgtd puts its controller at LUN 0; the backing file is this LUN. */
export const TGTD_DISK_LUN = 1;

/**
 * @param {{ backingFile: string, iqn?: string, host?: string, port?: number }} opts
 * @returns {Promise<{ host: string, port: number, iqn: string, pid: number, url: (lun?: number) => string, cpuSeconds: () => number, alive: () => boolean, output: () => string, stop: () => Promise<number | null> }>}
 *   `url(n)` addresses our LUN n as tgtd's LUN n+1.
 */
export async function startTgtd(opts) {
  if (!haveCommand('tgtd') || !haveCommand('tgtadm')) throw new Error('tgtd/tgtadm not found (Debian package tgt)');
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const iqn = opts.iqn ?? DEFAULT_IQN;
  // tgtd's management "port" names /var/run/tgtd/socket.<n> and must be < 32768.
  const ctl = String(1000 + (port % 30000));
  const child = spawn('tgtd', ['-f', '-C', ctl, '--iscsi', `portal=${host}:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks = [];
  child.stdout.on('data', (b) => chunks.push(b));
  child.stderr.on('data', (b) => chunks.push(b));
  let exited = false;
  /** @type {number | null} */
  let code = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (c) => {
      exited = true;
      code = c;
      resolve(c);
    });
  });
  const output = () => Buffer.concat(chunks).toString('utf8');
  const tgtadm = async (args) => {
    const r = await run('tgtadm', ['-C', ctl, '--lld', 'iscsi', ...args], { timeoutMs: 10_000 });
    if (r.code !== 0) throw new Error(`tgtadm ${args.join(' ')}: ${r.stderr || r.stdout}`);
  };
  try {
    // The management socket appears shortly after start: retry the first command.
    for (let i = 0; ; i++) {
      try {
        await tgtadm(['--op', 'new', '--mode', 'target', '--tid', '1', '-T', iqn]);
        break;
      } catch (e) {
        if (exited || i > 50) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await tgtadm(['--op', 'new', '--mode', 'logicalunit', '--tid', '1', '--lun', String(TGTD_DISK_LUN), '-b', opts.backingFile]);
    await tgtadm(['--op', 'bind', '--mode', 'target', '--tid', '1', '-I', 'ALL']);
    await waitForPort(host, port, { timeoutMs: 10_000, isAlive: () => !exited });
  } catch (e) {
    child.kill('SIGKILL');
    await exitPromise;
    removeControlSocket(ctl);
    throw new Error(`tgtd did not start: ${/** @type {Error} */ (e).message}\n${output()}`);
  }
  const pid = /** @type {number} */ (child.pid);
  return {
    host,
    port,
    iqn,
    pid,
    url: (lun = 0) => `iscsi://${host}:${port}/${iqn}/${lun + TGTD_DISK_LUN}`,
    cpuSeconds: () => cpuSeconds(pid),
    alive: () => !exited,
    output,
    /** tgtd in the foreground ignores SIGTERM; as a reference peer it is simply killed. */
    async stop() {
      if (!exited) {
        child.kill('SIGKILL');
        await exitPromise;
      }
      removeControlSocket(ctl);
      return code;
    },
  };
}

/** A killed tgtd leaves its management socket and lock file behind. */
function removeControlSocket(ctl) {
  rmSync(`/var/run/tgtd/socket.${ctl}`, { force: true });
  rmSync(`/var/run/tgtd/socket.${ctl}.lock`, { force: true });
}
