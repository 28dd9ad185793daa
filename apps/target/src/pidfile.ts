/**
 * The pidfile (`pidfile` in ctl.conf; FreeBSD `pidfile(3)`).
 *
 * What it does: `acquirePidfile(path)` writes our pid, refusing to start
 * if the file names a process that is still running (another instance),
 * and replacing a stale one; `release()` removes it if it is still ours.
 * The write goes to a temporary file renamed into place, so readers never
 * see a partial pid.
 *
 * What it does not do: no advisory locking (Node has no flock); the
 * liveness check uses `process.kill(pid, 0)`.
 */
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';

export class PidfileError extends Error {
  override readonly name = 'PidfileError';
  readonly code = 'TARGET_ERR_PIDFILE';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Pidfile {
  readonly path: string;
  release(): Promise<void>;
}

export async function acquirePidfile(path: string): Promise<Pidfile> {
  let existing: string | null = null;
  try {
    existing = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new PidfileError(`${path}: ${(e as Error).message}`, { cause: e });
  }
  if (existing !== null) {
    const pid = Number.parseInt(existing.trim(), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
      throw new PidfileError(`${path}: another instance is running (pid ${pid})`);
    }
  }
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, `${process.pid}\n`, { mode: 0o644 });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw new PidfileError(`${path}: cannot write the pidfile: ${(e as Error).message}`, { cause: e });
  }
  let released = false;
  return {
    path,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      try {
        const content = await readFile(path, 'utf8');
        if (Number.parseInt(content.trim(), 10) === process.pid) await unlink(path);
      } catch {
        // Already gone.
      }
    },
  };
}
