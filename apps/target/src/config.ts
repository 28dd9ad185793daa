/**
 * Configuration entry point: load a `ctl.conf` file or build the embedded
 * default, and re-export the model.
 *
 * What it does: reads the file (UTF-8), parses and checks it
 * (`config/parser.ts`), and turns read errors into a `ConfigError` with the
 * path in the message. Paths inside the file (LUN paths, pidfile) that are
 * relative are resolved against the file's directory, so a configuration
 * means the same whatever the daemon's cwd.
 *
 * What it does not do: no opening of LUNs or sockets; reload only calls
 * it again (`main.ts`, `reload/`).
 */
import type { PlugPointNames } from './plug-points.js';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError, ConfigErrorCode } from './config/errors.js';
import type { DaemonConfig, LunConfig } from './config/model.js';
import { parseConfig } from './config/parser.js';

export { ConfigError, ConfigErrorCode, formatPos, type SourcePos } from './config/errors.js';
export * from './config/model.js';
export { parseConfig, MAX_TARGET_LUNS } from './config/parser.js';
export { resolveConfig, KNOWN_LUN_OPTIONS } from './config/resolve.js';
export { embeddedConfig, DEFAULT_TARGET_NAME, DEFAULT_LISTEN, DEFAULT_LUN_SIZE, type EmbeddedConfigOptions } from './config/embedded-default.js';
export { parseListenAddress, formatHostPort, ISCSI_PORT, type ListenAddress } from './config/listen-address.js';
export { parseSize, formatSize } from './config/size.js';

/** Reads and checks a configuration file. Throws `ConfigError`. */
export async function loadConfigFile(path: string, plugPoints?: PlugPointNames): Promise<DaemonConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new ConfigError(ConfigErrorCode.Io, null, `${path}: cannot read the configuration: ${reason}`, { cause: e });
  }
  return resolvePaths(parseConfig(text, path, plugPoints), dirname(resolve(path)));
}

/** Makes relative LUN paths and the pidfile absolute, relative to `base`. */
export function resolvePaths(config: DaemonConfig, base: string): DaemonConfig {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const luns = new Map<string, LunConfig>();
  for (const [name, lun] of config.luns) luns.set(name, lun.path === null || !lun.pathIsFile ? lun : { ...lun, path: abs(lun.path) });
  return {
    ...config,
    pidfile: config.pidfile === null ? null : abs(config.pidfile),
    luns,
    targets: config.targets.map((t) => ({
      ...t,
      luns: new Map([...t.luns].map(([n, l]) => [n, luns.get(l.name)!])),
    })),
  };
}
