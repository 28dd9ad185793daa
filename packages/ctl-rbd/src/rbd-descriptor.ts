/**
 * The registry descriptor of backend `rbd` (ctl-core `BackendDescriptor`):
 * ctl.conf `backend rbd`, `path POOL/IMAGE` or `POOL/NAMESPACE/IMAGE` (a
 * name, not a file), `size` (creates a thin image when it does not exist),
 * `option ceph_conf PATH` (default CEPH_CONF or /etc/ceph/ceph.conf),
 * `option ceph_id ID` (client id, default admin).
 *
 * What it does: reports itself unavailable when the librbd binding did not
 * build; checks the image name (`check`), opens LUNs with an error naming the
 * LUN, the image and the cause (cluster unreachable, image missing).
 * What it does not do: register itself at import time (the daemon does).
 */
import type { BackendDescriptor, BackendLun, BackendOpenParams } from '@iscsi-target/ctl-core';
import type { BufferPool } from '@iscsi-target/ctl-block';
import { rbdNativeUnavailable } from './native.js';
import { parseImageSpec } from './rbd-image.js';
import { RbdBackend, type RbdBackendOptions } from './rbd-backend.js';

export interface RbdDescriptorOptions {
  pool?: BufferPool;
  /** Cluster connection timeout in seconds (default 10). */
  timeoutSeconds?: number;
}

export function createRbdBackendDescriptor(options: RbdDescriptorOptions = {}): BackendDescriptor {
  const image = (p: BackendOpenParams): string => {
    if (p.path === null) throw new Error(`${p.where}lun ${p.lunName}: backend rbd needs a "path" POOL/IMAGE`);
    parseImageSpec(p.path);
    return p.path;
  };
  return {
    name: 'rbd',
    description: 'a Ceph RBD image (librbd, asynchronous, zero-copy; thin, created when size is given)',
    options: ['ceph_conf', 'ceph_id'],
    needsPath: true,
    needsSize: false,
    pathIsName: true,
    available: () => rbdNativeUnavailable(),
    check(p) {
      return new Promise((resolve) => {
        image(p);
        resolve();
      });
    },
    async open(p): Promise<BackendLun> {
      const why = rbdNativeUnavailable();
      if (why !== null) throw new Error(`lun ${p.lunName}: backend rbd unavailable: ${why}`);
      const o: RbdBackendOptions = { ...p.identity, image: image(p), blockSize: p.blockSize, readOnly: p.readOnly, copyMode: p.copyMode };
      const conf = p.options.get('ceph_conf');
      if (conf !== undefined) o.cephConf = conf;
      const id = p.options.get('ceph_id');
      if (id !== undefined) o.cephId = id;
      if (p.size !== null && p.create) o.createSize = p.size;
      if (options.pool !== undefined) o.pool = options.pool;
      if (options.timeoutSeconds !== undefined) o.timeoutSeconds = options.timeoutSeconds;
      try {
        return await RbdBackend.open(o);
      } catch (e) {
        const err = new Error(`rbd ${p.path ?? ''}: ${(e as Error).message}`, { cause: e });
        if ((e as { storageUnavailable?: boolean }).storageUnavailable === true) Object.assign(err, { storageUnavailable: true });
        throw err;
      }
    },
  };
}

/** `rbd` over the process-wide buffer pool. */
export const rbdBackendDescriptor: BackendDescriptor = createRbdBackendDescriptor();
