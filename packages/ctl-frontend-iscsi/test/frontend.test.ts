import { AsyncEvent, TargetOpcode, TaskMgmtFunction } from '@iscsi-target/icl-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  FrontendShutdownError,
  InvalidParameterError,
  IscsiFrontend,
  PortStatus,
  SessionState,
  TargetExistsError,
  TargetNotFoundError,
  resolveFrontendOptions,
} from '../src/index.js';
import { FakeIclConn } from './helpers/fake-conn.js';
import { DataOutMode } from '@iscsi-target/ctl-core';
import { FakeCtl, RefCounter, WriteSink, holdBehavior, readBehavior, writeBehavior } from '@iscsi-target/ctl-core/testing';
import { f, logoutPdu, scsiCommandPdu, tmfPdu } from './helpers/pdus.js';
import { INITIATOR, TARGET, flush, handoffParams, setup } from './helpers/setup.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('targets', () => {
  it('registers a CTL port named "<iqn>,t,0x<tag>" and refuses duplicates', () => {
    const ctl = new FakeCtl();
    const fe = new IscsiFrontend(ctl);
    const t = fe.addTarget({ name: TARGET, portalGroupTag: 0x2a, lunMap: new Map([[0, 7]]) });
    expect(t.name).toBe(`${TARGET},t,0x002a`);
    expect(t.targetName).toBe(TARGET);
    expect(ctl.ports.get(t.portNumber)).toBe(t);
    expect(t.lunMap?.get(0)).toBe(7);
    expect(() => fe.addTarget({ name: TARGET.toUpperCase(), portalGroupTag: 0x2a, lunMap: null })).toThrow(TargetExistsError);
    expect(fe.addTarget({ name: TARGET, portalGroupTag: 2, lunMap: null }).portNumber).not.toBe(t.portNumber);
    expect(() => fe.addTarget({ name: TARGET, portalGroupTag: 70000, lunMap: null })).toThrow(InvalidParameterError);
  });

  it('updates the LUN map live', () => {
    const ctl = new FakeCtl();
    const fe = new IscsiFrontend(ctl);
    const t = fe.addTarget({ name: TARGET, portalGroupTag: 1, lunMap: null });
    fe.updateTarget(TARGET, 1, { lunMap: new Map([[1, 3]]), alias: 'disk' });
    expect(t.lunMap?.get(1)).toBe(3);
    expect(t.alias).toBe('disk');
    expect(() => fe.updateTarget('iqn.nope', 1, {})).toThrow(TargetNotFoundError);
  });

  it('validates options', () => {
    expect(() => resolveFrontendOptions({ maxTags: 0 })).toThrow(RangeError);
    expect(resolveFrontendOptions().maxTags).toBe(256);
    expect(resolveFrontendOptions().noCopy).toBe(true);
  });
});

describe('handoff', () => {
  it('registers "<iqn>,i,0x<isid>" with CTL and lists the session', () => {
    const env = setup();
    expect([...env.ctl.initiators.keys()]).toEqual([`${env.target.portNumber}\0${INITIATOR},i,0x00023d000001`]);
    const [info] = env.frontend.sessions();
    expect(info).toMatchObject({
      id: env.session.id,
      state: 'active',
      initiatorName: INITIATOR,
      isid: '00023d000001',
      targetName: TARGET,
      portalGroupTag: 1,
      maxBurstLength: 262144,
      expCmdSn: 10,
      statSn: 100,
      outstanding: 0,
      offload: 'fake',
    });
    expect(env.conn.maxSendDataSegmentLength).toBe(8192);
  });

  it('refuses an unknown target or bad parameters without touching the connection', () => {
    const ctl = new FakeCtl();
    const fe = new IscsiFrontend(ctl);
    fe.addTarget({ name: TARGET, portalGroupTag: 1, lunMap: null });
    const conn = new FakeIclConn();
    const before = conn.onReceive;
    const err = (() => {
      try {
        fe.handoff(conn, handoffParams({ portalGroupTag: 2 }));
      } catch (e) {
        return e as TargetNotFoundError;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(TargetNotFoundError);
    expect(err?.code).toBe('CFISCSI_ERR_TARGET_NOT_FOUND');
    expect(() => fe.handoff(conn, handoffParams({ isid: Buffer.alloc(5) }))).toThrow(InvalidParameterError);
    expect(() => fe.handoff(conn, handoffParams({ firstBurstLength: 1 << 20, maxBurstLength: 65536 }))).toThrow(
      InvalidParameterError,
    );
    expect(conn.onReceive).toBe(before);
    expect(fe.sessions()).toHaveLength(0);
  });

  it('reinstatement: a new session with the same initiator name and ISID ends the old one and aborts its tasks', async () => {
    const env = setup();
    env.ctl.onScsi = holdBehavior;
    env.conn.receive(scsiCommandPdu({ itt: 1, cmdSn: env.nextCmdSn(), edtl: 512, read: true }));
    await flush();
    const oldIo = env.ctl.scsiRuns()[0]!;
    const conn2 = new FakeIclConn();
    const s2 = env.frontend.handoff(conn2, handoffParams({ initiatorAddress: '192.0.2.9:40000', cmdSn: 50 }));
    expect(env.session.state).toBe(SessionState.Terminating);
    expect(env.conn.closed).toBe(true);
    expect(env.ctl.removedInitiators).toEqual([{ port: env.target.portNumber, index: env.session.initiatorIndex }]);
    expect(oldIo.aborted).toBe(true);
    // Same initiator port → same CTL index (reservations follow the nexus).
    expect(s2.initiatorIndex).toBe(env.session.initiatorIndex);
    await flush();
    expect(env.session.state).toBe(SessionState.Terminated);
    expect(env.ctl.doneCount.get(oldIo)).toBe(1);
    expect(env.conn.sent).toHaveLength(0); // nothing is sent for aborted tasks
    expect(env.frontend.sessions().map((s) => s.id)).toEqual([s2.id]);
    expect(s2.state).toBe(SessionState.Active);
  });

  it('no reinstatement for another ISID or another target', () => {
    const env = setup();
    env.frontend.addTarget({ name: 'iqn.2026-11.org.example:other', portalGroupTag: 1, lunMap: null });
    env.frontend.handoff(new FakeIclConn(), handoffParams({ isid: Buffer.from([0, 2, 0x3d, 0, 0, 2]) }));
    env.frontend.handoff(new FakeIclConn(), handoffParams({ targetName: 'iqn.2026-11.org.example:other' }));
    expect(env.session.state).toBe(SessionState.Active);
    expect(env.frontend.sessions()).toHaveLength(3);
  });
});

describe('teardown', () => {
  it('completes every outstanding I/O exactly once, in order, and frees the connection last', async () => {
    const env = setup({ params: { immediateData: false } });
    const ref = new RefCounter();
    const sink = new WriteSink(8192);
    const scripts = [
      holdBehavior, // A: waiting in the backend
      writeBehavior({ length: 8192, mode: DataOutMode.Copy, sink }), // B: waiting for Data-Out
      readBehavior({ length: 20000, ref, success: 'after' }), // C: done, Data-In still queued
    ];
    let n = 0;
    env.ctl.onScsi = (io, ctl) => scripts[n++]!(io, ctl);
    env.ctl.onTask = () => {}; // D: a TMF CTL has not answered
    env.conn.receive(scsiCommandPdu({ itt: 1, cmdSn: env.nextCmdSn(), edtl: 512, read: true }));
    env.conn.receive(scsiCommandPdu({ itt: 2, cmdSn: env.nextCmdSn(), edtl: 8192, write: true }));
    env.conn.receive(scsiCommandPdu({ itt: 3, cmdSn: env.nextCmdSn(), edtl: 40000, read: true }));
    env.conn.receive(tmfPdu({ fn: TaskMgmtFunction.LogicalUnitReset, itt: 4, cmdSn: env.nextCmdSn() }));
    await flush();
    expect(env.session.outstanding).toBe(3); // C is done; its Data-In PDUs are still queued
    expect(ref.count).toBe(3);
    const sentBefore = env.conn.sent.length;

    const order: string[] = [];
    const removeInitiator = env.ctl.removeInitiator.bind(env.ctl);
    env.ctl.removeInitiator = (p, i) => {
      order.push(`removeInitiator closed=${env.conn.closed}`);
      removeInitiator(p, i);
    };
    env.session.terminate('test');
    env.session.terminate('again'); // idempotent
    expect(order).toEqual(['removeInitiator closed=true']);
    expect(env.session.state).toBe(SessionState.Terminating);
    expect(env.conn.freed).toBe(false);
    // B's datamove was completed with a non-zero portStatus; nothing written.
    expect(sink.failed).toEqual([{ offset: 0, length: 8192, portStatus: PortStatus.SessionTerminating, aborted: true }]);
    await env.session.closed;
    expect(env.session.state).toBe(SessionState.Terminated);
    expect(env.session.terminationReason).toBe('test');
    expect(env.conn.freed).toBe(true);
    expect(env.conn.closeCalls).toBe(1);
    for (const io of env.ctl.runs) expect(env.ctl.doneCount.get(io)).toBe(1);
    for (const io of env.ctl.scsiRuns()) {
      expect(env.ctl.datamoveDoneCount.get(io) ?? 0).toBe(env.ctl.datamoveCount.get(io) ?? 0);
    }
    expect(env.conn.sent.length).toBe(sentBefore); // nothing sent after termination
    expect(env.conn.unfreedReceived()).toHaveLength(0);
    // The closed connection completed the queued Data-In: buffers released.
    await flush();
    expect(ref.count).toBe(0);
    expect(env.frontend.sessions()).toHaveLength(0);
  });

  it('a datamove arriving after termination completes at once with a non-zero portStatus', async () => {
    const env = setup();
    let resume: (() => void) | null = null;
    env.ctl.onScsi = (io, ctl) => {
      resume = () => readBehavior({ length: 4096, success: 'before-last' })(io, ctl);
    };
    env.conn.receive(scsiCommandPdu({ itt: 1, cmdSn: env.nextCmdSn(), edtl: 4096, read: true }));
    await flush();
    // CTL does not abort it by itself here: simulate a backend finishing late.
    env.ctl.removeInitiator = () => {};
    env.session.terminate('test');
    resume!();
    const io = env.ctl.scsiRuns()[0]!;
    expect(io.portStatus).toBe(PortStatus.SessionTerminating);
    expect(env.conn.sentOf(TargetOpcode.DataIn)).toHaveLength(0);
    await env.session.closed;
    expect(env.ctl.doneCount.get(io)).toBe(1);
  });
});

describe('administration', () => {
  it('terminateSession sends "session will be dropped" and resolves when gone', async () => {
    const env = setup();
    const p = env.frontend.terminateSession(env.session.id);
    const msg = env.conn.sentOf(TargetOpcode.AsyncMessage)[0]!;
    expect(msg.bhs[36]).toBe(AsyncEvent.SessionDrop);
    env.conn.completeAll();
    await expect(p).resolves.toBe(true);
    expect(env.session.state).toBe(SessionState.Terminated);
    await expect(env.frontend.terminateSession(12345)).resolves.toBe(false);
  });

  it('removeTarget asks for logout, waits, and resolves early when the initiator logs out', async () => {
    const env = setup({ frontend: { logoutGraceMs: 3000 } });
    const removal = env.frontend.removeTarget(TARGET, 1);
    expect(env.frontend.removeTarget(TARGET, 1)).toBe(removal);
    const msg = env.conn.sentOf(TargetOpcode.AsyncMessage)[0]!;
    expect(msg.bhs[36]).toBe(AsyncEvent.LogoutRequested);
    expect(msg.bhs.readUInt16BE(42)).toBe(3); // Parameter3: seconds to log out
    expect(() => env.frontend.handoff(new FakeIclConn(), handoffParams({ isid: Buffer.alloc(6, 7) }))).toThrow(
      TargetNotFoundError,
    );
    env.conn.receive(logoutPdu({ reason: 0, itt: 1, cmdSn: 10 }));
    env.conn.completeAll();
    await removal;
    expect(env.session.state).toBe(SessionState.Terminated);
    expect(env.ctl.deregistered).toEqual([env.target.portNumber]);
    expect(env.frontend.targets()).toHaveLength(0);
  });

  it('removeTarget terminates sessions that do not log out within the grace period', async () => {
    vi.useFakeTimers();
    const env = setup({ frontend: { logoutGraceMs: 2000 } });
    let resolved = false;
    void env.frontend.removeTarget(TARGET, 1).then(() => {
      resolved = true;
    });
    await vi.advanceTimersByTimeAsync(1900);
    expect(env.session.state).toBe(SessionState.Active);
    await vi.advanceTimersByTimeAsync(200);
    expect(env.session.state).toBe(SessionState.Terminated);
    expect(resolved).toBe(true);
    expect(env.ctl.deregistered).toHaveLength(1);
  });

  it('shutdown removes everything and refuses new work', async () => {
    vi.useFakeTimers();
    const env = setup({ frontend: { logoutGraceMs: 1000 } });
    const done = env.frontend.shutdown();
    expect(() => env.frontend.addTarget({ name: 'iqn.x', portalGroupTag: 1, lunMap: null })).toThrow(FrontendShutdownError);
    await vi.advanceTimersByTimeAsync(1100);
    await done;
    expect(env.session.state).toBe(SessionState.Terminated);
    expect(env.frontend.sessions()).toHaveLength(0);
    expect(env.frontend.targets()).toHaveLength(0);
    expect(() => env.frontend.handoff(new FakeIclConn(), handoffParams())).toThrow(FrontendShutdownError);
    expect(f.opcode(env.conn.sent[0]!)).toBe(TargetOpcode.AsyncMessage);
  });
});
