#!/usr/bin/env node
/**
 * Builds the optional io_uring addon (io_uring_native.node, liburing linked
 * statically from liburing-dev's liburing.a) through the shared addon build
 * (@iscsi-target/native-build).
 *
 * It NEVER fails the package build: when the addon cannot be built (not
 * Linux, liburing-dev, node-gyp or the Node headers missing, a compiler
 * error) it prints one warning and exits 0; `available()` then says "addon
 * not built" and the target uses the `tcp` NIC driver and the thread pool.
 * Set IO_URING_NATIVE=0 to skip the build on purpose.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '@iscsi-target/native-build';

buildAddon({
  dir: dirname(fileURLToPath(import.meta.url)),
  name: 'io_uring_native',
  sources: ['io_uring_native.c'],
  label: 'io-uring: native addon',
  without: 'the tcp NIC driver and the libuv thread pool will be used instead',
  switchEnv: 'IO_URING_NATIVE',
});
