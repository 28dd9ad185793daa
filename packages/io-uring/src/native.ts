/**
 * Loads the optional io_uring addon (native/build/Release/io_uring_native.node)
 * and says whether io_uring can be used in this process.
 *
 * What it does: `nativeBinding()` returns the addon or null; `uringUnavailable()`
 * returns null when a ring can be created here, or the one-line reason it
 * cannot: the switch `ISCSI_TARGET_NO_URING=1` (forces the fallback, so it
 * is tested on machines that have io_uring), "addon not built", the kernel
 * refusing rings (EPERM: `kernel.io_uring_disabled` or a seccomp profile;
 * ENOSYS: a kernel without io_uring) or lacking an operation we need.
 *
 * What it does not do: no I/O; the answer is computed once and cached.
 * The binding's types are the contract with native/io_uring_native.c.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';

/** The addon's functions (see native/io_uring_native.c for each one's Buffer rules). */
export interface NativeBinding {
  probe(): number;
  create(entries: number, cqeView: Int32Array, onCqes: (count: number) => void): unknown;
  close(ring: unknown): void;
  flush(ring: unknown): number;
  stats(ring: unknown): { enters: number; submitted: number; completions: number; inflight: number; pending: number };
  prepReadv(ring: unknown, id: number, fd: number, bufs: readonly Uint8Array[], offset: number): void;
  prepWritev(ring: unknown, id: number, fd: number, bufs: readonly Uint8Array[], offset: number): void;
  prepFsync(ring: unknown, id: number, fd: number, datasync: boolean): void;
  prepFallocate(ring: unknown, id: number, fd: number, mode: number, offset: number, length: number): void;
  prepAccept(ring: unknown, id: number, fd: number, multishot: boolean): void;
  prepRecvMultishot(ring: unknown, id: number, fd: number, bgid: number): void;
  prepSendmsg(ring: unknown, id: number, fd: number, bufs: readonly Uint8Array[], zc: boolean): void;
  prepSend(ring: unknown, id: number, fd: number, buf: Uint8Array, zc: boolean): void;
  prepCancel(ring: unknown, id: number, target: number): void;
  prepClose(ring: unknown, id: number, fd: number): void;
  prepShutdown(ring: unknown, id: number, fd: number): void;
  bufRingRegister(ring: unknown, bgid: number, entries: number): void;
  bufRingUnregister(ring: unknown, bgid: number): void;
  bufRingAdd(ring: unknown, bgid: number, buf: Buffer, bid: number): void;
  alias(ring: unknown, backing: Buffer, length: number, bgid: number, bid: number): Buffer;
  listenTcp(host: string, port: number, backlog: number): number;
  connectTcp(host: string, port: number): number;
  sockName(fd: number, peer: boolean): { address: string; port: number };
  setNoDelay(fd: number): void;
  closeFd(fd: number): void;
}

/** Where the package build puts the addon, relative to src/ and dist/ alike. */
const ADDON_PATH = '../native/build/Release/io_uring_native.node';

/** The environment switch that forces the fallback (tcp NIC driver, thread pool). */
export const NO_URING_ENV = 'ISCSI_TARGET_NO_URING';

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** `ENOENT`-style name of a positive errno value. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `ERRNO${errno}`;
}

let binding: NativeBinding | null | undefined;
let loadError = '';

/** The addon, or null if it is not built or does not load (cached). Ignores the switch. */
export function nativeBinding(): NativeBinding | null {
  if (binding !== undefined) return binding;
  const require = createRequire(import.meta.url);
  let path: string;
  try {
    path = require.resolve(ADDON_PATH);
  } catch {
    loadError = 'addon not built';
    return (binding = null);
  }
  if (!existsSync(path)) {
    loadError = 'addon not built';
    return (binding = null);
  }
  try {
    binding = require(path) as NativeBinding;
  } catch (err) {
    loadError = `addon does not load: ${(err as Error).message}`;
    binding = null;
  }
  return binding;
}

let reason: string | null | undefined;

function kernelSwitch(): string {
  try {
    return ` (kernel.io_uring_disabled=${readFileSync('/proc/sys/kernel/io_uring_disabled', 'latin1').trim()})`;
  } catch {
    return '';
  }
}

/**
 * null when io_uring is usable here; otherwise why not, in one line.
 * Checked once per process (the switch is read on the first call).
 */
export function uringUnavailable(): string | null {
  if (reason !== undefined) return reason;
  const v = process.env[NO_URING_ENV];
  if (v !== undefined && v !== '' && v !== '0') return (reason = `disabled by ${NO_URING_ENV}=${v}`);
  if (process.platform !== 'linux') return (reason = `io_uring needs Linux (platform ${process.platform})`);
  const b = nativeBinding();
  if (b === null) return (reason = `io_uring ${loadError} (packages/io-uring/native; needs liburing-dev and node-gyp)`);
  const errno = b.probe();
  if (errno === 0) return (reason = null);
  const name = errnoName(errno);
  if (name === 'EPERM') return (reason = `io_uring refused by the kernel: EPERM${kernelSwitch()} or a seccomp profile`);
  if (name === 'ENOSYS') return (reason = 'io_uring not supported by this kernel: ENOSYS (or blocked by seccomp)');
  if (name === 'EOPNOTSUPP') return (reason = 'the kernel lacks an io_uring operation we need (SEND_ZC, SHUTDOWN...; Linux ≥ 6.0)');
  return (reason = `io_uring setup failed: ${name}`);
}

/** For tests: forget the cached answer so the switch is read again. */
export function resetUringAvailabilityForTests(): void {
  reason = undefined;
}
