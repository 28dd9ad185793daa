#!/usr/bin/env node
/**
 * Builds the optional native helper (ctl_block_native.node: hole punching,
 * SEEK_DATA/SEEK_HOLE and backing-file locks) through the shared addon build
 * (@iscsi-target/native-build).
 *
 * It NEVER fails the package build: when the addon cannot be built it prints
 * one warning and exits 0, and the file backend uses its fallback (UNMAP
 * writes zeros; GET LBA STATUS reports every block mapped). Set
 * CTL_BLOCK_NATIVE=0 to skip the build on purpose.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddon } from '@iscsi-target/native-build';

buildAddon({
  dir: dirname(fileURLToPath(import.meta.url)),
  name: 'ctl_block_native',
  sources: ['ctl_block_native.c'],
  label: 'ctl-block: native helper',
  without: 'the file backend will zero-fill on UNMAP instead of punching holes',
  switchEnv: 'CTL_BLOCK_NATIVE',
});
