/**
 * The embedded default configuration: what `iscsi-target` serves when it is
 * started without `-f`.
 *
 * Equivalent ctl.conf:
 *
 *     portal-group default {
 *         discovery-auth-group no-authentication
 *         listen 127.0.0.1:3260
 *     }
 *     target iqn.2026-11.org.nodejs-iscsi:target0 {
 *         auth-group no-authentication
 *         portal-group default
 *         lun 0 {
 *             path <dataDir>/lun0.img     # created sparse on first start
 *             size 1G
 *         }
 *     }
 *
 * The IQN follows RFC 7143 §4.2.7.2: `iqn.` + the year and month the name
 * was chosen (2026-11) + the project's naming authority reversed
 * (`org.nodejs-iscsi`) + `:` + a unique string (`target0`). It is a
 * placeholder for trying the daemon on one machine — it only listens on the
 * loopback address — and should be replaced in any real configuration.
 *
 * What it does not do: no file creation (the daemon creates the sparse file
 * because the LUN is marked `create`), no I/O.
 */
import { join, resolve } from 'node:path';
import { NO_AUTHENTICATION, PREDEFINED_AUTH_GROUPS } from './auth-groups.js';
import { ConfigError, ConfigErrorCode } from './errors.js';
import { listenKey, parseListenAddress, type ListenAddress } from './listen-address.js';
import { CONFIG_DEFAULTS, type DaemonConfig, type LunConfig } from './model.js';

export const DEFAULT_TARGET_NAME = 'iqn.2026-11.org.nodejs-iscsi:target0';
export const DEFAULT_LISTEN = '127.0.0.1:3260';
export const DEFAULT_LUN_SIZE = 2 ** 30;
export const DEFAULT_LUN_FILE = 'lun0.img';

export interface EmbeddedConfigOptions {
  /** Directory for the LUN file (resolved against the cwd). */
  dataDir: string;
  /** `-l ADDR:PORT`, repeatable; default 127.0.0.1:3260. */
  listen?: readonly string[];
}

export function embeddedConfig(options: EmbeddedConfigOptions): DaemonConfig {
  const source = '<embedded default>';
  const pos = { file: source, line: 0, col: 0 };
  const listen: ListenAddress[] = [];
  const seen = new Set<string>();
  for (const text of options.listen !== undefined && options.listen.length > 0 ? options.listen : [DEFAULT_LISTEN]) {
    const addr = parseListenAddress(text);
    if (typeof addr === 'string') throw new ConfigError(ConfigErrorCode.BadValue, null, `--listen: ${addr}`);
    if (seen.has(listenKey(addr))) throw new ConfigError(ConfigErrorCode.Duplicate, null, `--listen: ${text} given twice`);
    seen.add(listenKey(addr));
    listen.push(addr);
  }
  const lun: LunConfig = {
    name: `${DEFAULT_TARGET_NAME},lun,0`,
    backend: 'block',
    pathIsFile: true,
    path: join(resolve(options.dataDir), DEFAULT_LUN_FILE),
    size: DEFAULT_LUN_SIZE,
    blockSize: CONFIG_DEFAULTS.blockSize,
    serial: null,
    deviceId: null,
    ctlLun: null,
    options: new Map(),
    create: true,
    pos,
  };
  return {
    source,
    debug: 0,
    timeout: CONFIG_DEFAULTS.timeout,
    maxproc: CONFIG_DEFAULTS.maxproc,
    pidfile: null,
    portalGroups: new Map([
      [
        'default',
        {
          name: 'default',
          tag: 1,
          listen,
          discoveryAuth: 'none',
          discoveryAuthGroup: NO_AUTHENTICATION,
          redirect: null,
          discoveryFilter: 'none',
          offload: 'none',
          nic: null,
          options: new Map(),
          pos,
        },
      ],
    ]),
    targets: [
      {
        name: DEFAULT_TARGET_NAME,
        alias: null,
        auth: 'none',
        authGroup: NO_AUTHENTICATION,
        redirect: null,
        portalGroups: [{ portalGroup: 'default', auth: null, authGroup: null }],
        luns: new Map([[0, lun]]),
        pos,
      },
    ],
    authGroups: PREDEFINED_AUTH_GROUPS,
    luns: new Map([[lun.name, lun]]),
    warnings: [],
  };
}
