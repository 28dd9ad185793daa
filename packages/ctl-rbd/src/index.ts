/**
 * `@iscsi-target/ctl-rbd` — Ceph RBD for CTL: an asynchronous, zero-copy
 * librbd binding (N-API addon, optional) and the `rbd` backend built on it.
 * It knows nothing about iSCSI, sockets or configuration files.
 */
export { rbdNative, rbdNativeUnavailable, type RbdNative, type NativeCluster, type NativeImage } from './native.js';
export { RbdError } from './rbd-error.js';
export { acquireCluster, RbdCluster, type AcquireClusterOptions } from './rbd-cluster.js';
export { RbdImage, parseImageSpec, formatImageSpec, type RbdImageSpec, type RbdOpenOptions, type RbdStat } from './rbd-image.js';
export { RbdStore } from './rbd-store.js';
export { RbdBackend, defaultCephConf, type RbdBackendOptions } from './rbd-backend.js';
export { rbdBackendDescriptor, createRbdBackendDescriptor, type RbdDescriptorOptions } from './rbd-descriptor.js';
