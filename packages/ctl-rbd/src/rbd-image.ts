/**
 * An open RBD image with promise-returning asynchronous I/O over the librbd
 * binding (native.ts), and image-name parsing (`POOL/IMAGE` or
 * `POOL/NAMESPACE/IMAGE`).
 *
 * What it does: `RbdImage.open` (optionally creating a thin image of a given
 * size first), `readv`/`writev`/`discard`/`writeZeroes`/`writesame`/
 * `compareAndWrite`/`flush` (librbd AIO, completions on the event loop),
 * `stat`, `resize`, `allocated` (rbd_diff_iterate2), `close`.
 * What it does not do: no SCSI, no buffer pooling, no retry: a librbd error
 * rejects with `RbdError` carrying the errno code.
 *
 * Buffer ownership: the Buffers given to `readv` are filled by librbd and
 * must not be read or reused before the promise settles; those given to
 * `writev`, `writesame` and `compareAndWrite` are read by librbd without a
 * copy and must not be modified before it settles. The addon pins each of
 * them (napi_ref) until the completion, so they stay alive even if the
 * caller drops them.
 */
import { acquireCluster, native, type AcquireClusterOptions, type RbdCluster } from './rbd-cluster.js';
import { check, RbdError } from './rbd-error.js';
import type { NativeImage } from './native.js';

/** `pool/image` or `pool/namespace/image`. */
export interface RbdImageSpec {
  readonly pool: string;
  readonly namespace: string;
  readonly image: string;
}

/** Parses `POOL/IMAGE` or `POOL/NAMESPACE/IMAGE`; throws on anything else. */
export function parseImageSpec(path: string): RbdImageSpec {
  const parts = path.split('/');
  if (parts.some((p) => p === '') || parts.length < 2 || parts.length > 3) {
    throw new Error(`RBD image "${path}" must be POOL/IMAGE or POOL/NAMESPACE/IMAGE`);
  }
  const [pool, a, b] = parts as [string, string, string | undefined];
  return b === undefined ? { pool, namespace: '', image: a } : { pool, namespace: a, image: b };
}

export function formatImageSpec(s: RbdImageSpec): string {
  return s.namespace ? `${s.pool}/${s.namespace}/${s.image}` : `${s.pool}/${s.image}`;
}

export interface RbdOpenOptions extends AcquireClusterOptions {
  /** ceph.conf path ('' = librados' default search and CEPH_CONF). */
  readonly conf: string;
  /** Client id without `client.` ('' = admin). */
  readonly id: string;
  /** When the image does not exist: create a thin image of this many bytes. */
  readonly createSize?: number;
  /** Object size order for a created image (22 = 4 MiB, librbd's default); 0 = default. */
  readonly order?: number;
}

export interface RbdStat {
  readonly size: number;
  readonly objectSize: number;
  readonly order: number;
}

const ENOENT = -2;

function aio(what: string, submit: (cb: (ret: number) => void) => number): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = submit((ret) => (ret < 0 ? reject(new RbdError(what, ret)) : resolve(ret)));
    if (r < 0) reject(new RbdError(what, r));
  });
}

/** What names an image on every client of its cluster. */
export interface RbdImageIdentity {
  /** The cluster's fsid (UUID). */
  readonly fsid: string;
  /** The pool's id (survives a pool rename). */
  readonly poolId: number;
  /** The image's RBD id (`rbd_get_id`; survives an image rename, new for a re-created image). */
  readonly imageId: string;
}

export class RbdImage {
  readonly spec: RbdImageSpec;
  readonly cluster: RbdCluster;
  /** Whether `open` created the image. */
  readonly created: boolean;
  #handle: NativeImage | null;

  private constructor(spec: RbdImageSpec, cluster: RbdCluster, handle: NativeImage, created: boolean) {
    this.spec = spec;
    this.cluster = cluster;
    this.#handle = handle;
    this.created = created;
  }

  /** Connects (or shares) the cluster handle and opens the image, creating it if allowed. */
  static async open(spec: RbdImageSpec, options: RbdOpenOptions): Promise<RbdImage> {
    const n = native();
    const cluster = await acquireCluster(options.conf, options.id, options);
    try {
      const name = formatImageSpec(spec);
      const tryOpen = (): Promise<{ ret: number; handle: NativeImage | undefined }> =>
        new Promise((resolve) => n.open(cluster.handle, spec.pool, spec.namespace, spec.image, (ret, handle) => resolve({ ret, handle })));
      let { ret, handle } = await tryOpen();
      let created = false;
      if (ret === ENOENT && options.createSize !== undefined) {
        const cr = await new Promise<number>((resolve) =>
          n.create(cluster.handle, spec.pool, spec.namespace, spec.image, options.createSize ?? 0, options.order ?? 0, resolve),
        );
        if (cr !== -17 /* EEXIST: created meanwhile */) check(`cannot create RBD image ${name}`, cr);
        created = cr === 0;
        ({ ret, handle } = await tryOpen());
      }
      if (ret === ENOENT) {
        const err = new RbdError(`RBD image ${name} (or its pool) does not exist`, ret);
        err.storageUnavailable = true;
        throw err;
      }
      check(`cannot open RBD image ${name}`, ret);
      if (handle === undefined) throw new Error(`cannot open RBD image ${name}`);
      return new RbdImage(spec, cluster, handle, created);
    } catch (e) {
      await cluster.release();
      throw e;
    }
  }

  get isOpen(): boolean {
    return this.#handle !== null;
  }

  #h(): NativeImage {
    if (this.#handle === null) throw new RbdError('RBD image is closed', -9 /* EBADF */);
    return this.#handle;
  }

  stat(): RbdStat {
    const s = native().stat(this.#h());
    check('rbd_stat', s.ret);
    return { size: s.size ?? 0, objectSize: s.objectSize ?? 0, order: s.order ?? 0 };
  }

  /** The image's cluster fsid, pool id and RBD id (local, no round trip). */
  identity(): RbdImageIdentity {
    const r = native().identity(this.#h());
    check('rbd_get_id', r.ret);
    return { fsid: r.fsid ?? '', poolId: r.poolId ?? -1, imageId: r.imageId ?? '' };
  }

  /** Reads into `buffers` (filled in order) from `offset`. See the module comment for ownership. */
  readv(buffers: readonly Buffer[], offset: number): Promise<number> {
    const h = this.#h();
    return aio('rbd_aio_readv', (cb) => native().readv(h, buffers, offset, cb));
  }

  /** Writes `buffers` (gathered, no copy) at `offset`. */
  writev(buffers: readonly Buffer[], offset: number): Promise<number> {
    const h = this.#h();
    return aio('rbd_aio_writev', (cb) => native().writev(h, buffers, offset, cb));
  }

  discard(offset: number, length: number): Promise<number> {
    const h = this.#h();
    return aio('rbd_aio_discard', (cb) => native().discard(h, offset, length, cb));
  }

  writeZeroes(offset: number, length: number): Promise<number> {
    const h = this.#h();
    return aio('rbd_aio_write_zeroes', (cb) => native().writeZeroes(h, offset, length, cb));
  }

  /** Writes `pattern` repeated over `[offset, offset + length)` (`length` a multiple of its size). */
  writesame(offset: number, length: number, pattern: Buffer): Promise<number> {
    const h = this.#h();
    return aio('rbd_aio_writesame', (cb) => native().writesame(h, offset, length, pattern, cb));
  }

  /**
   * Atomically (at the OSD) writes `data` at `offset` if the image there
   * equals `compare`. Resolves null on success, or the offset of the first
   * differing byte relative to `offset` on a miscompare.
   */
  compareAndWrite(offset: number, compare: Buffer, data: Buffer): Promise<number | null> {
    const h = this.#h();
    return new Promise((resolve, reject) => {
      const r = native().compareAndWrite(h, offset, compare, data, (ret, mismatch) => {
        if (ret === -84 /* EILSEQ */) resolve(mismatch >= offset ? mismatch - offset : mismatch);
        else if (ret < 0) reject(new RbdError('rbd_aio_compare_and_write', ret));
        else resolve(null);
      });
      if (r < 0) reject(new RbdError('rbd_aio_compare_and_write', r));
    });
  }

  flush(): Promise<number> {
    const h = this.#h();
    return aio('rbd_aio_flush', (cb) => native().flush(h, cb));
  }

  resize(size: number): Promise<void> {
    const h = this.#h();
    return new Promise((resolve, reject) =>
      native().resize(h, size, (ret) => (ret < 0 ? reject(new RbdError('rbd_resize', ret)) : resolve())),
    );
  }

  /** Allocated extents within `[offset, offset + length)`, merged, as `[offset, length]` pairs. */
  allocated(offset: number, length: number): Promise<Array<[number, number]>> {
    const h = this.#h();
    return new Promise((resolve, reject) =>
      native().diff(h, offset, length, (ret, flat) => {
        if (ret < 0 || flat === undefined) {
          reject(new RbdError('rbd_diff_iterate2', ret));
          return;
        }
        const out: Array<[number, number]> = [];
        for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as number, flat[i + 1] as number]);
        resolve(out);
      }),
    );
  }

  /** Closes the image (librbd waits for its in-flight I/O) and releases the cluster handle. Idempotent. */
  async close(): Promise<void> {
    const h = this.#handle;
    if (h === null) return;
    this.#handle = null;
    try {
      await new Promise<void>((resolve, reject) =>
        native().close(h, (ret) => (ret < 0 ? reject(new RbdError('rbd_close', ret)) : resolve())),
      );
    } finally {
      await this.cluster.release();
    }
  }
}
