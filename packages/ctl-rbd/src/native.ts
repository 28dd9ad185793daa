/**
 * Loads the optional librbd binding (`native/build/Release/ctl_rbd_native.node`,
 * built by `native/build.mjs`) and describes its raw interface.
 *
 * What it does: one `require` attempt per process; `rbdNative()` returns the
 * addon or null, `rbdNativeUnavailable()` the reason it could not be loaded.
 * What it does not do: no promises, no handle sharing, no error mapping (see
 * `rbd-cluster.ts` and `rbd-image.ts`).
 *
 * Buffer ownership of the raw calls: every Buffer passed to `readv`,
 * `writev`, `writesame` or `compareAndWrite` is pinned by the addon (a
 * napi_ref) from the call until just before its callback runs. `readv`'s
 * Buffers are written by librbd and hold undefined bytes until the callback;
 * the others are read by librbd and must not be modified until the callback.
 * A negative synchronous return means librbd refused the request: the
 * callback is then never called and nothing stays pinned.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque cluster handle (a connected `rados_t`). */
export interface NativeCluster {
  readonly __brand: 'rados_t';
}
/** An opaque image handle (an open `rbd_image_t` with its ioctx). */
export interface NativeImage {
  readonly __brand: 'rbd_image_t';
}

/** Callbacks receive librbd's return value (>= 0 success, -errno failure). */
export type RetCb = (ret: number) => void;

export interface RbdNative {
  connect(conf: string, id: string, timeoutSeconds: number, cb: (ret: number, cluster?: NativeCluster) => void): void;
  shutdown(cluster: NativeCluster, cb: RetCb): void;
  open(cluster: NativeCluster, pool: string, ns: string, name: string, cb: (ret: number, image?: NativeImage) => void): void;
  create(cluster: NativeCluster, pool: string, ns: string, name: string, size: number, order: number, cb: RetCb): void;
  close(image: NativeImage, cb: RetCb): void;
  resize(image: NativeImage, size: number, cb: RetCb): void;
  /** Allocated extents of `[offset, offset+length)` as flat `[off, len, off, len, ...]`, adjacent ones merged. */
  diff(image: NativeImage, offset: number, length: number, cb: (ret: number, extents?: number[]) => void): void;
  stat(image: NativeImage): { ret: number; size?: number; objectSize?: number; order?: number };
  /** The image's RBD id, its pool's id and the cluster fsid (local, synchronous). */
  identity(image: NativeImage): { ret: number; imageId?: string; poolId?: number; fsid?: string };
  readv(image: NativeImage, buffers: readonly Buffer[], offset: number, cb: RetCb): number;
  writev(image: NativeImage, buffers: readonly Buffer[], offset: number, cb: RetCb): number;
  discard(image: NativeImage, offset: number, length: number, cb: RetCb): number;
  writeZeroes(image: NativeImage, offset: number, length: number, cb: RetCb): number;
  writesame(image: NativeImage, offset: number, length: number, pattern: Buffer, cb: RetCb): number;
  /** `cb(ret, mismatchOffset)`: ret `-EILSEQ` on a miscompare. */
  compareAndWrite(image: NativeImage, offset: number, compare: Buffer, data: Buffer, cb: (ret: number, mismatch: number) => void): number;
  flush(image: NativeImage, cb: RetCb): number;
  /** AIO operations submitted and not delivered yet. */
  pending(): number;
}

let loaded: RbdNative | null | undefined;
let why = '';

function load(): RbdNative | null {
  if (loaded !== undefined) return loaded;
  if (process.env.CTL_RBD_NATIVE === '0') {
    why = 'CTL_RBD_NATIVE=0';
    loaded = null;
    return loaded;
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const file = join(here, '..', 'native', 'build', 'Release', 'ctl_rbd_native.node');
  try {
    loaded = createRequire(import.meta.url)(file) as RbdNative;
  } catch (e) {
    why = `the librbd binding is not built or cannot load (${(e as Error).message.split('\n')[0]}); install librbd-dev librados-dev and rebuild @iscsi-target/ctl-rbd`;
    loaded = null;
  }
  return loaded;
}

/** The addon, or null if it did not build or cannot load. */
export function rbdNative(): RbdNative | null {
  return load();
}

/** null when the addon is loaded; otherwise why not. */
export function rbdNativeUnavailable(): string | null {
  return load() === null ? why : null;
}
