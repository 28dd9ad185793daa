/**
 * Shared librados cluster handles: one connected `rados_t` per (ceph.conf,
 * client id), reference counted, so many LUNs on one cluster do not each
 * start librados' messenger and finisher threads.
 *
 * What it does: `acquireCluster(conf, id)` connects (on the thread pool; a
 * cluster that is down fails after `timeoutSeconds`, default 10) or reuses a
 * handle; `RbdCluster.release()` drops a reference and shuts the handle down
 * when the last one goes. A failed connect is not cached.
 * What it does not do: open images (rbd-image.ts), read keyrings itself
 * (librados does, from the conf), or reconnect a handle that lost the cluster
 * (librados keeps retrying internally).
 */
import { RbdError } from './rbd-error.js';
import { rbdNative, rbdNativeUnavailable, type NativeCluster, type RbdNative } from './native.js';

export class RbdCluster {
  readonly conf: string;
  readonly id: string;
  readonly handle: NativeCluster;
  #refs = 1;
  readonly #key: string;

  constructor(conf: string, id: string, handle: NativeCluster, key: string) {
    this.conf = conf;
    this.id = id;
    this.handle = handle;
    this.#key = key;
  }

  /** References held (LUNs using this handle). */
  get refs(): number {
    return this.#refs;
  }

  /** @internal */
  retain(): this {
    this.#refs++;
    return this;
  }

  /** Drops one reference; the last one shuts the handle down. */
  async release(): Promise<void> {
    if (this.#refs <= 0) return;
    if (--this.#refs > 0) return;
    if (clusters.get(this.#key) === pendingOf(this)) clusters.delete(this.#key);
    const n = native();
    await new Promise<void>((resolve) => n.shutdown(this.handle, () => resolve()));
  }
}

const clusters = new Map<string, Promise<RbdCluster>>();
const settled = new WeakMap<RbdCluster, Promise<RbdCluster>>();

function pendingOf(c: RbdCluster): Promise<RbdCluster> | undefined {
  return settled.get(c);
}

/** The addon, or throws saying why it is unavailable. */
export function native(): RbdNative {
  const n = rbdNative();
  if (n === null) throw new Error(rbdNativeUnavailable() ?? 'librbd binding unavailable');
  return n;
}

export interface AcquireClusterOptions {
  /** Connection timeout in seconds (client_mount_timeout, rados_mon_op_timeout); default 10. */
  readonly timeoutSeconds?: number;
}

/** A connected handle for (`conf`, `id`), shared with every other holder. */
export async function acquireCluster(conf: string, id: string, options: AcquireClusterOptions = {}): Promise<RbdCluster> {
  const key = `${conf}\0${id}`;
  const existing = clusters.get(key);
  if (existing) {
    const c = await existing;
    if (c.refs > 0) return c.retain();
  }
  const n = native();
  const timeout = options.timeoutSeconds ?? 10;
  const p = new Promise<RbdCluster>((resolve, reject) => {
    n.connect(conf, id, timeout, (ret, handle) => {
      if (ret < 0 || handle === undefined) {
        const err = new RbdError(`cannot connect to the Ceph cluster (conf ${conf || '(default)'}, client.${id || 'admin'})`, ret);
        err.storageUnavailable = true;
        reject(err);
      } else resolve(new RbdCluster(conf, id, handle, key));
    });
  });
  clusters.set(key, p);
  try {
    const c = await p;
    settled.set(c, p);
    return c;
  } catch (e) {
    if (clusters.get(key) === p) clusters.delete(key);
    throw e;
  }
}
