/**
 * `@iscsi-target/ctl-frontend-iscsi` — the iSCSI frontend of CTL (FreeBSD's
 * cfiscsi): sessions in full feature phase on top of an ICL connection,
 * turning iSCSI PDUs into CTL I/O and back. Nothing here opens a socket or
 * touches the file system; the daemon hands over logged-in connections.
 */
export { IscsiFrontend } from './frontend.js';
export { IscsiTargetPort, TargetState, type TargetConfig } from './target-port.js';
export {
  IscsiSession,
  SessionState,
  type SessionInfo,
  type SessionCounters,
} from './session.js';
export { validateHandoffParams, initiatorPortName, targetPortName, type HandoffParams } from './handoff.js';
export {
  FRONTEND_DEFAULTS,
  nullLogger,
  resolveFrontendOptions,
  type FrontendOptions,
  type ResolvedFrontendOptions,
  type Logger,
  type TextRequestHandler,
} from './options.js';
export { PortStatus } from './data-out.js';
export { CommandOutcome, type CommandObserver, type CommandRecord } from './command-observer.js';
export { CmdSnVerdict, CmdSnWindow, checkCmdSn, computeMaxCmdSn, snAdd, snGt, snGte, snLt, snLte } from './cmdsn.js';
export { Sequencer } from './sequencer.js';
export { TextExchange, type TextHost } from './text-request.js';
export { buildNopInEcho } from './nop.js';
export { buildLogoutResponse, buildReject } from './responses.js';
export { TaskMgmtFunctionExt, TMF_RESPONSE_FUNCTION_SUCCEEDED } from './tmf.js';
export {
  FrontendError,
  FrontendShutdownError,
  InvalidParameterError,
  ProtocolViolation,
  TargetExistsError,
  TargetNotFoundError,
} from './errors.js';
