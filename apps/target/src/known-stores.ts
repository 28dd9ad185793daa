/**
 * The backing files this daemon has served, kept in a small state file in
 * its data directory (`<data-dir>/known-stores.json`), so that a LUN file
 * that existed and is now missing is told apart from one never created: the
 * first is an error (an initiator would see the same serial with its data
 * gone), the second is created sparse on first start as before.
 *
 * What it does: `KnownStores.load(dir)` reads the file (a missing or
 * unreadable file is an empty record, with the reason kept in `loadProblem`);
 * `get(realPath)`; `record(realPath, entry)` writes the whole file again
 * (write to a temporary file, fsync, rename: a crash leaves the old or the
 * new file, never half of one). Synchronous: called once per LUN opened.
 *
 * What it does not do: no decisions (`lun-factory.ts` refuses the missing
 * file), no locking (one daemon per data directory: the pidfile and the
 * admin socket already assume it).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const KNOWN_STORES_FILE = 'known-stores.json';

/** What is remembered of one served backing file. */
export interface KnownStore {
  /** The LUN's serial number when it was last opened. */
  readonly serial: string;
  /** Its capacity in bytes when it was last opened. */
  readonly size: number;
  /** ISO time of the first and of the latest open. */
  readonly firstServed: string;
  readonly lastServed: string;
  /** The LUN name it was served as. */
  readonly lun: string;
}

export class KnownStores {
  readonly path: string;
  /** Why the file could not be read (it is then treated as empty), or null. */
  readonly loadProblem: string | null;
  readonly #entries: Map<string, KnownStore>;

  private constructor(path: string, entries: Map<string, KnownStore>, loadProblem: string | null) {
    this.path = path;
    this.#entries = entries;
    this.loadProblem = loadProblem;
  }

  static load(dir: string): KnownStores {
    const path = join(dir, KNOWN_STORES_FILE);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return new KnownStores(path, new Map(), code === 'ENOENT' ? null : `cannot read ${path}: ${(e as Error).message}`);
    }
    try {
      const doc = JSON.parse(text) as { stores?: Record<string, KnownStore> };
      return new KnownStores(path, new Map(Object.entries(doc.stores ?? {})), null);
    } catch (e) {
      return new KnownStores(path, new Map(), `${path} is not valid JSON (${(e as Error).message}); it is rewritten at the next LUN open`);
    }
  }

  get(realPath: string): KnownStore | undefined {
    return this.#entries.get(realPath);
  }

  /** Remembers that `realPath` was served now as LUN `lun` with `serial` and `size`. Throws on a write error. */
  record(realPath: string, lun: string, serial: string, size: number): void {
    const now = new Date().toISOString();
    const before = this.#entries.get(realPath);
    this.#entries.set(realPath, { serial, size, lun, firstServed: before?.firstServed ?? now, lastServed: now });
    const body = `${JSON.stringify({ note: 'backing files served by iscsi-target; a missing one is not re-created (delete its entry to allow it)', stores: Object.fromEntries(this.#entries) }, null, 2)}\n`;
    mkdirSync(join(this.path, '..'), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
