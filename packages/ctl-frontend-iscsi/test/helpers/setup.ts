/**
 * One frontend, one target, one handed-off session on a fake connection,
 * over a fake CTL — the starting point of most tests.
 */
import { IscsiFrontend, type FrontendOptions, type HandoffParams } from '../../src/index.js';
import { FakeIclConn } from './fake-conn.js';
import { FakeCtl } from '@iscsi-target/ctl-core/testing';

export const TARGET = 'iqn.2026-11.org.example:disk0';
export const INITIATOR = 'iqn.1994-05.com.redhat:host1';

export function handoffParams(overrides: Partial<HandoffParams> = {}): HandoffParams {
  return {
    initiatorName: INITIATOR,
    initiatorAddress: '192.0.2.1:51000',
    isid: Buffer.from([0x00, 0x02, 0x3d, 0x00, 0x00, 0x01]),
    tsih: 1,
    targetName: TARGET,
    portalGroupTag: 1,
    cmdSn: 10,
    statSn: 100,
    maxRecvDataSegmentLength: 8192,
    maxSendDataSegmentLength: 8192,
    maxBurstLength: 262144,
    firstBurstLength: 65536,
    immediateData: true,
    initialR2t: true,
    maxOutstandingR2t: 1,
    headerDigest: false,
    dataDigest: false,
    errorRecoveryLevel: 0,
    ...overrides,
  };
}

export function setup(
  opts: { frontend?: FrontendOptions; params?: Partial<HandoffParams>; maxSend?: number } = {},
) {
  const ctl = new FakeCtl();
  const frontend = new IscsiFrontend(ctl, { pingIntervalMs: 0, pingTimeoutMs: 0, ...opts.frontend });
  const target = frontend.addTarget({ name: TARGET, portalGroupTag: 1, lunMap: null });
  const conn = new FakeIclConn();
  const params = handoffParams({ ...(opts.maxSend !== undefined ? { maxSendDataSegmentLength: opts.maxSend } : {}), ...opts.params });
  const session = frontend.handoff(conn, params);
  let cmdSn = params.cmdSn;
  return {
    ctl,
    frontend,
    target,
    conn,
    session,
    params,
    /** The next CmdSN to use for a non-immediate command. */
    nextCmdSn: (): number => cmdSn++,
  };
}

/** Lets queued microtasks and immediates run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
