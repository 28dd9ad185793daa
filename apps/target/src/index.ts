/**
 * `@iscsi-target/target` — the daemon as a library: configuration loading,
 * the login and discovery code, and `TargetDaemon`, for embedding a whole
 * target in an application or for tests. The command line is `main.ts`
 * (bin `iscsi-target`).
 */
export * from './config.js';
export { TargetDaemon, StartError, type TargetDaemonOptions, type BoundPortal } from './daemon.js';
export { DiscoverySession, answerOtherKey, type DiscoveryOptions } from './discovery.js';
export { DiscoveryCatalog, sendTargets, targetAddresses, type CatalogTarget, type SendTargetsContext } from './send-targets.js';
export { LoginSession, runLogin, type LoginContext, type LoginResult, type LoginTarget } from './login/login.js';
export { LoginRejectError, LoginAbortedError, type LoginStatusName } from './login/errors.js';
export {
  Negotiator,
  parseLeadingKeys,
  parseNumber,
  RFC_DEFAULTS,
  type NegotiatedParams,
  type NegotiationPolicy,
  type LeadingKeys,
  type SessionType,
  type DigestName,
} from './login/negotiate.js';
export { negotiationPolicy, NEGOTIATION_DEFAULTS, DAEMON_DEFAULTS, type DaemonOptions, type NegotiationOptions } from './options.js';
export { openLun, LunOpenError, type OpenLunOptions } from './lun-factory.js';
export { TsihTable, TsihExhaustedError } from './tsih-table.js';
export { guardConnection } from './session-guard.js';
export { acquirePidfile, PidfileError, type Pidfile } from './pidfile.js';
export { checkIscsiName, normalizeIscsiName, MAX_ISCSI_NAME_BYTES } from './iscsi-name.js';
export { createLogger, nullLogger, LOG_LEVELS, type Logger } from './logger.js';
