/**
 * `FilePrStore`: the durable `PrStore` (ctl-core) of one LUN — its persistent
 * reservation snapshot (APTPL, SPC-4 §5.13.5) as a small JSON file, written
 * atomically: a temporary file in the same directory is written and fsynced,
 * renamed over the old file, and the directory is fsynced, so after a crash
 * at any point the file holds either the previous or the new snapshot, never
 * a mix, and a completed `save` survives power loss. `save(null)` (APTPL
 * turned off) removes the file the same durable way.
 *
 * Does NOT validate the snapshot's content (`Ctl.addLun` does), lock the file
 * against a second daemon (the pidfile does), or serialise calls (CTL never
 * runs two saves of one store at once).
 *
 * Buffer ownership: none is kept; snapshots are serialised at once.
 */
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { PrSnapshot, PrStore } from '@iscsi-target/ctl-core';

/** Suffix of the temporary file a save writes before renaming it. */
const TMP_MARK = '.tmp-';

let tmpCounter = 0;

/** A `PrStore` kept in the file at `filePath` (e.g. next to the LUN's backing file). */
export class FilePrStore implements PrStore {
  readonly filePath: string;

  constructor(filePath: string) {
    this.filePath = path.resolve(filePath);
  }

  /**
   * The last snapshot saved, or null if there is none. Leftover temporary
   * files of an interrupted save are removed. Throws if the file exists but
   * is not JSON (it cannot be half-written, so that is outside damage).
   */
  load(): PrSnapshot | null {
    this.#removeLeftovers();
    let text: string;
    try {
      text = readFileSync(this.filePath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return JSON.parse(text) as PrSnapshot;
  }

  async save(snapshot: PrSnapshot | null): Promise<void> {
    const dir = path.dirname(this.filePath);
    if (snapshot === null) {
      try {
        await unlink(this.filePath);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      await fsyncDirectory(dir);
      return;
    }
    const tmp = `${this.filePath}${TMP_MARK}${process.pid}-${++tmpCounter}`;
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(`${JSON.stringify(snapshot)}\n`, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.filePath);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    await fsyncDirectory(dir);
  }

  #removeLeftovers(): void {
    const dir = path.dirname(this.filePath);
    const prefix = `${path.basename(this.filePath)}${TMP_MARK}`;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (!n.startsWith(prefix)) continue;
      try {
        unlinkSync(path.join(dir, n));
      } catch {
        // another process may have removed it
      }
    }
  }
}

/** Makes a rename or unlink in `dir` durable (fsync of the directory). */
async function fsyncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
