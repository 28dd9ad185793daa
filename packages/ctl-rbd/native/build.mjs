#!/usr/bin/env node
/**
 * Builds the optional librbd binding (ctl_rbd_native.node) against Debian's
 * librbd-dev / librados-dev, through the shared addon build
 * (@iscsi-target/native-build).
 *
 * It NEVER fails the package build: when the binding cannot be built (not
 * Linux, the librbd headers, node-gyp or the Node headers missing, a
 * compiler error) it prints one warning and exits 0; backend `rbd` then
 * reports itself unavailable (`--check`) and its tests skip. Set
 * CTL_RBD_NATIVE=0 to skip the build on purpose.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '@iscsi-target/native-build';

buildAddon({
  dir: dirname(fileURLToPath(import.meta.url)),
  name: 'ctl_rbd_native',
  sources: ['ctl_rbd_native.c'],
  label: 'ctl-rbd: librbd binding',
  without: 'backend rbd will be reported unavailable',
  switchEnv: 'CTL_RBD_NATIVE',
  requires: [
    ['/usr/include/rbd/librbd.h', 'librbd-dev'],
    ['/usr/include/rados/librados.h', 'librados-dev'],
  ],
});
