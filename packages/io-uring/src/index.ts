/**
 * @iscsi-target/io-uring: an io_uring engine over a small N-API addon
 * (liburing, linked statically) — `Ring` — and what is built on it.
 * `uringUnavailable()` says whether it can run here (null) or why not.
 * See the README for the Buffer ownership rules.
 */
export { CqeFlag, FallocMode, NOTIF_USAGE_ZC_COPIED, Ring, UringError, sharedRing, sharedRingStats, type CqeHandler, type RingOptions, type RingStats } from './ring.js';
export { NO_URING_ENV, uringUnavailable } from './native.js';
export { RecvBufferPool, RecvGroup, type RecvPoolOptions, type RecvPoolStats } from './recv-pool.js';
export { UringNicConn, createUringNicDriver, uringNicDescriptor, uringNicExperimental, uringNicPool, uringNicStats, type UringNicOptions, type UringNicStats } from './nic-uring.js';
