import {
  Flag,
  InitiatorOpcode,
  LogoutReason,
  LogoutResponse,
  RESERVED_TAG,
  RejectReason,
  TargetOpcode,
  TaskAttribute,
  TaskMgmtFunction,
  TaskMgmtResponse,
  encodeTextKeys,
  parseTextKeys,
} from '@iscsi-target/icl-core';
import { TagType, TaskAction, TaskStatus } from '@iscsi-target/ctl-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SessionState } from '../src/index.js';
import { DataOutMode } from '@iscsi-target/ctl-core';
import { WriteSink, holdBehavior, writeBehavior } from '@iscsi-target/ctl-core/testing';
import { f, logoutPdu, nopOutPdu, pattern, rawPdu, scsiCommandPdu, textPdu, tmfPdu } from './helpers/pdus.js';
import { flush, setup } from './helpers/setup.js';

afterEach(() => {
  vi.useRealTimers();
});

const tur = (itt: number, cmdSn: number, extra: Partial<Parameters<typeof scsiCommandPdu>[0]> = {}) =>
  scsiCommandPdu({ itt, cmdSn, edtl: 0, cdb: Buffer.from([0, 0, 0, 0, 0, 0]), ...extra });

describe('SCSI Command → CTL', () => {
  it('builds the I/O: nexus, tag, task attribute, a copy of the CDB, EDTL', () => {
    const env = setup();
    env.ctl.onScsi = holdBehavior;
    const pdu = scsiCommandPdu({ itt: 0x42, cmdSn: env.nextCmdSn(), edtl: 512, read: true, lun: 3, attr: TaskAttribute.Ordered });
    env.conn.receive(pdu);
    const io = env.ctl.scsiRuns()[0]!;
    expect(io.nexus).toEqual({ initiatorIndex: env.session.initiatorIndex, targetPort: env.target.portNumber, lun: 3 });
    expect(io.tagNum).toBe(0x42);
    expect(io.tagType).toBe(TagType.Ordered);
    expect(io.expectedDataTransferLength).toBe(512);
    expect(io.cdb[0]).toBe(0x28);
    pdu.bhs.fill(0xee, 32, 48); // the receive buffer may be reused for the BHS view
    expect(io.cdb[0]).toBe(0x28);
    expect(io.cdb.length).toBe(16);
  });

  it('decodes flat-space LUNs; an unsupported LUN form maps to no LUN', () => {
    const env = setup();
    env.ctl.onScsi = holdBehavior;
    const flat = tur(1, env.nextCmdSn());
    flat.bhs[8] = 0x41;
    flat.bhs[9] = 0x2c;
    env.conn.receive(flat);
    const twoLevel = tur(2, env.nextCmdSn());
    twoLevel.bhs[9] = 1;
    twoLevel.bhs[11] = 2;
    env.conn.receive(twoLevel);
    expect(env.ctl.scsiRuns().map((io) => io.nexus.lun)).toEqual([300, 0xffffffff]);
  });

  it('rejects a duplicate ITT with "Task in progress" and keeps going', () => {
    const env = setup();
    env.ctl.onScsi = holdBehavior;
    env.conn.receive(tur(1, env.nextCmdSn()));
    env.conn.receive(tur(1, env.nextCmdSn()));
    expect(f.byte2(env.conn.sentOf(TargetOpcode.Reject)[0]!)).toBe(RejectReason.TaskInProgress);
    expect(env.ctl.runs).toHaveLength(1);
    expect(env.session.state).toBe(SessionState.Active);
  });
});

describe('CmdSN window and StatSN', () => {
  it('ignores out-of-window commands silently', async () => {
    const env = setup();
    env.conn.receive(tur(1, 9)); // already seen
    env.conn.receive(tur(2, 10 + 256)); // beyond ExpCmdSN - 1 + maxTags
    await flush();
    expect(env.ctl.runs).toHaveLength(0);
    expect(env.conn.sent).toHaveLength(0);
    expect(env.session.state).toBe(SessionState.Active);
    expect(env.session.expCmdSn).toBe(10);
    expect(env.conn.unfreedReceived()).toHaveLength(0);
  });

  it('terminates on a CmdSN gap inside the window', async () => {
    const env = setup();
    env.conn.receive(tur(1, 11));
    await flush();
    expect(env.session.state).toBe(SessionState.Terminated);
    expect(env.session.terminationReason).toMatch(/CmdSN 11/);
    expect(env.ctl.runs).toHaveLength(0);
  });

  it('does not check or advance CmdSN for immediate commands', async () => {
    const env = setup();
    env.conn.receive(tur(1, 999, { immediate: true }));
    await flush();
    expect(env.ctl.runs).toHaveLength(1);
    expect(env.session.expCmdSn).toBe(10);
    const rsp = env.conn.sentOf(TargetOpcode.ScsiResponse)[0]!;
    expect(f.expCmdSn(rsp)).toBe(10);
  });

  it('MaxCmdSN shrinks with outstanding commands and reopens as they complete', () => {
    const env = setup({ frontend: { maxTags: 4 } });
    env.ctl.onScsi = holdBehavior;
    expect(env.session.maxCmdSn).toBe(13);
    for (let i = 0; i < 4; i++) env.conn.receive(tur(i + 1, env.nextCmdSn()));
    // 4 outstanding: the window is closed (MaxCmdSN = ExpCmdSN - 1).
    expect(env.session.expCmdSn).toBe(14);
    expect(env.session.maxCmdSn).toBe(13);
    // A NOP-In shows it on the wire.
    env.conn.receive(nopOutPdu({ itt: 0x99, cmdSn: 14, immediate: true }));
    const nop = env.conn.sentOf(TargetOpcode.NopIn)[0]!;
    expect([f.expCmdSn(nop), f.maxCmdSn(nop)]).toEqual([14, 13]);
    const [first] = env.ctl.scsiRuns();
    env.ctl.setSuccess(first!);
    env.ctl.complete(first!);
    const rsp = env.conn.sentOf(TargetOpcode.ScsiResponse)[0]!;
    expect(f.maxCmdSn(rsp)).toBe(14);
  });

  it('advances StatSN for responses but not for R2T, target pings or Data-In without S', async () => {
    const env = setup({ params: { immediateData: false } });
    env.ctl.onScsi = writeBehavior({ length: 512, mode: DataOutMode.Copy, sink: new WriteSink(512) });
    env.conn.receive(scsiCommandPdu({ itt: 1, cmdSn: env.nextCmdSn(), edtl: 512, write: true }));
    await flush();
    const r2t = env.conn.sentOf(TargetOpcode.R2t)[0]!;
    expect(f.statSn(r2t)).toBe(100);
    env.conn.receive(nopOutPdu({ itt: 5, cmdSn: env.nextCmdSn() }));
    expect(f.statSn(env.conn.sentOf(TargetOpcode.NopIn)[0]!)).toBe(100);
    expect(env.session.statSn).toBe(101);
  });
});

describe('NOP', () => {
  it('echoes a NOP-Out with NOP-In: ITT, LUN, data; TTT reserved', () => {
    const env = setup();
    env.conn.receive(nopOutPdu({ itt: 0x77, cmdSn: env.nextCmdSn(), data: Buffer.from('ping-data'), lun: 2 }));
    const nop = env.conn.sentOf(TargetOpcode.NopIn)[0]!;
    expect(f.itt(nop)).toBe(0x77);
    expect(f.ttt(nop)).toBe(RESERVED_TAG);
    expect(nop.bhs[9]).toBe(2);
    expect(nop.data.toString()).toBe('ping-data');
    expect(f.dsl(nop)).toBe(9);
    expect(f.flags(nop)).toBe(Flag.Final);
  });

  it('caps the echoed data at the initiator MaxRecvDataSegmentLength', () => {
    const env = setup({ maxSend: 512 });
    env.conn.receive(nopOutPdu({ itt: 1, cmdSn: env.nextCmdSn(), data: pattern(1000) }));
    expect(env.conn.sentOf(TargetOpcode.NopIn)[0]!.data.equals(pattern(512))).toBe(true);
  });

  it('does not answer a NOP-Out with ITT 0xffffffff', () => {
    const env = setup();
    env.conn.receive(nopOutPdu({ itt: RESERVED_TAG, ttt: 5, cmdSn: 10, immediate: true }));
    expect(env.conn.sent).toHaveLength(0);
    expect(env.conn.unfreedReceived()).toHaveLength(0);
  });

  it('pings after silence with a valid TTT and terminates on ping timeout', () => {
    vi.useFakeTimers();
    const env = setup({ frontend: { pingIntervalMs: 2000, pingTimeoutMs: 5000 } });
    vi.advanceTimersByTime(1900);
    expect(env.conn.sentOf(TargetOpcode.NopIn)).toHaveLength(0);
    vi.advanceTimersByTime(200);
    const pings = env.conn.sentOf(TargetOpcode.NopIn);
    expect(pings).toHaveLength(1);
    expect(f.itt(pings[0]!)).toBe(RESERVED_TAG);
    expect(f.ttt(pings[0]!)).not.toBe(RESERVED_TAG);
    expect(f.statSn(pings[0]!)).toBe(100);
    expect(env.session.statSn).toBe(100);
    // The initiator answers: silence starts over.
    env.conn.receive(nopOutPdu({ itt: RESERVED_TAG, ttt: f.ttt(pings[0]!), cmdSn: 10, immediate: true }));
    vi.advanceTimersByTime(4000);
    expect(env.session.state).toBe(SessionState.Active);
    // Pinged again after 2 s of silence (the checks run every 500 ms).
    expect(env.conn.sentOf(TargetOpcode.NopIn)).toHaveLength(2);
    vi.advanceTimersByTime(1500);
    expect(env.conn.sentOf(TargetOpcode.NopIn)).toHaveLength(3);
    expect(env.session.state).toBe(SessionState.Terminated);
    expect(env.session.terminationReason).toMatch(/ping timeout/);
    expect(env.conn.closed).toBe(true);
  });

  it('any received PDU resets the silence; 0 disables pings and timeout', async () => {
    vi.useFakeTimers();
    const env = setup({ frontend: { pingIntervalMs: 0, pingTimeoutMs: 0 } });
    vi.advanceTimersByTime(60_000);
    expect(env.conn.sent).toHaveLength(0);
    expect(env.session.state).toBe(SessionState.Active);
    const env2 = setup({ frontend: { pingIntervalMs: 0, pingTimeoutMs: 3000 } });
    vi.advanceTimersByTime(2500);
    env2.conn.receive(tur(1, env2.nextCmdSn()));
    vi.advanceTimersByTime(2500);
    expect(env2.session.state).toBe(SessionState.Active);
    // Terminated once the aborted command is done (CTL completes it in a microtask).
    await vi.advanceTimersByTimeAsync(1000);
    expect(env2.session.state).toBe(SessionState.Terminated);
  });
});

describe('Logout', () => {
  it('close session: "closed successfully", then terminates after the response completes', async () => {
    const env = setup();
    env.conn.receive(logoutPdu({ reason: LogoutReason.CloseSession, itt: 0x10, cmdSn: 10 }));
    const rsp = env.conn.sentOf(TargetOpcode.LogoutResponse)[0]!;
    expect(f.byte2(rsp)).toBe(LogoutResponse.ClosedSuccessfully);
    expect(f.itt(rsp)).toBe(0x10);
    expect(rsp.bhs.readUInt16BE(40)).toBe(0);
    expect(rsp.bhs.readUInt16BE(42)).toBe(0);
    expect(env.session.state).toBe(SessionState.Closing);
    expect(env.conn.closed).toBe(false); // not before the response is out
    env.conn.receive(tur(1, 10)); // ignored while closing
    expect(env.ctl.runs).toHaveLength(0);
    env.conn.completeAll();
    await flush();
    expect(env.session.state).toBe(SessionState.Terminated);
    expect(env.conn.closed && env.conn.freed).toBe(true);
    expect(env.frontend.sessions()).toHaveLength(0);
  });

  it('close session still terminates if the response never completes', () => {
    vi.useFakeTimers();
    const env = setup({ frontend: { closeTimeoutMs: 1000 } });
    env.conn.receive(logoutPdu({ reason: LogoutReason.CloseConnection, itt: 1, cmdSn: 10 }));
    vi.advanceTimersByTime(1001);
    expect(env.session.state).toBe(SessionState.Terminated);
  });

  it('connection recovery is not supported; the session continues', () => {
    const env = setup();
    env.conn.receive(logoutPdu({ reason: LogoutReason.RemoveConnectionForRecovery, itt: 1, cmdSn: 10 }));
    expect(f.byte2(env.conn.sentOf(TargetOpcode.LogoutResponse)[0]!)).toBe(LogoutResponse.RecoveryNotSupported);
    expect(env.session.state).toBe(SessionState.Active);
  });

  it('an invalid reason is rejected', () => {
    const env = setup();
    env.conn.receive(logoutPdu({ reason: 5, itt: 1, cmdSn: 10 }));
    expect(f.byte2(env.conn.sentOf(TargetOpcode.Reject)[0]!)).toBe(RejectReason.InvalidPduField);
    expect(env.session.state).toBe(SessionState.Active);
  });
});

describe('Reject', () => {
  it('rejects an unknown opcode with "Command not supported", echoing the BHS, and keeps going', async () => {
    const env = setup();
    env.conn.receive(rawPdu(0x1c));
    const rej = env.conn.sentOf(TargetOpcode.Reject)[0]!;
    expect(f.byte2(rej)).toBe(RejectReason.CommandNotSupported);
    expect(f.itt(rej)).toBe(RESERVED_TAG);
    expect(rej.data.length).toBe(48);
    expect(rej.data[0]).toBe(0x1c);
    expect(rej.data.readUInt32BE(16)).toBe(0x1234);
    expect(f.statSn(rej)).toBe(100);
    expect(env.session.statSn).toBe(101);
    expect(env.session.state).toBe(SessionState.Active);
    env.conn.receive(tur(1, env.nextCmdSn()));
    await flush();
    expect(env.conn.sentOf(TargetOpcode.ScsiResponse)).toHaveLength(1);
  });

  it('rejects SNACK (ERL 0) and Login in full feature phase with "Protocol error"', () => {
    const env = setup();
    env.conn.receive(rawPdu(InitiatorOpcode.Snack));
    env.conn.receive(rawPdu(0x40 | InitiatorOpcode.LoginRequest));
    const rej = env.conn.sentOf(TargetOpcode.Reject);
    expect(rej.map(f.byte2)).toEqual([RejectReason.ProtocolError, RejectReason.ProtocolError]);
    expect(env.session.state).toBe(SessionState.Active);
  });

  it('a failing CTL never lets an exception out of onReceive: the session terminates', async () => {
    const env = setup();
    env.ctl.run = () => {
      throw new Error('boom');
    };
    expect(() => env.conn.receive(tur(1, env.nextCmdSn()))).not.toThrow();
    await flush();
    expect(env.session.state).toBe(SessionState.Terminated);
    expect(env.session.terminationReason).toMatch(/boom/);
    expect(env.conn.unfreedReceived()).toHaveLength(0);
  });

  it('a connection error terminates the session', async () => {
    const env = setup();
    env.conn.fail(new Error('ECONNRESET'));
    await flush();
    expect(env.session.state).toBe(SessionState.Terminated);
    expect(env.session.terminationReason).toMatch(/ECONNRESET/);
  });
});

describe('Task management', () => {
  it('ABORT TASK: CTL aborts the command, its Data-Out wait ends, nothing is sent for it', async () => {
    const env = setup({ params: { immediateData: false } });
    const sink = new WriteSink(20000);
    env.ctl.onScsi = writeBehavior({ length: 20000, mode: DataOutMode.Copy, sink });
    env.conn.receive(scsiCommandPdu({ itt: 7, cmdSn: env.nextCmdSn(), edtl: 20000, write: true }));
    await flush();
    const r2t = env.conn.sentOf(TargetOpcode.R2t)[0]!;
    env.conn.receive(tmfPdu({ fn: TaskMgmtFunction.AbortTask, itt: 0x50, rtt: 7, cmdSn: env.nextCmdSn(), refCmdSn: 10 }));
    await flush();
    const task = env.ctl.taskRuns()[0]!;
    expect(task.taskAction).toBe(TaskAction.AbortTask);
    expect(task.referencedTag).toBe(7);
    expect(task.tagNum).toBe(0x50);
    const rsp = env.conn.sentOf(TargetOpcode.TaskManagementResponse)[0]!;
    expect(f.byte2(rsp)).toBe(TaskMgmtResponse.FunctionComplete);
    expect(f.itt(rsp)).toBe(0x50);
    const io = env.ctl.scsiRuns()[0]!;
    expect(sink.failed).toEqual([{ offset: 0, length: 20000, portStatus: 43, aborted: true }]);
    expect(env.ctl.doneCount.get(io)).toBe(1);
    expect(env.conn.sentOf(TargetOpcode.ScsiResponse)).toHaveLength(0);
    // Late Data-Out for the aborted transfer is discarded, not fatal.
    env.conn.receive(
      (await import('./helpers/pdus.js')).dataOutPdu({ itt: 7, ttt: f.ttt(r2t), dataSn: 0, bufferOffset: 0, final: false, data: pattern(512) }),
    );
    expect(env.session.state).toBe(SessionState.Active);
    expect(env.conn.unfreedReceived()).toHaveLength(0);
  });

  it('ABORT TASK for an unknown tag: "Task does not exist" without CTL', () => {
    const env = setup();
    env.conn.receive(tmfPdu({ fn: TaskMgmtFunction.AbortTask, itt: 1, rtt: 99, cmdSn: 10, refCmdSn: 5 }));
    expect(f.byte2(env.conn.sentOf(TargetOpcode.TaskManagementResponse)[0]!)).toBe(TaskMgmtResponse.TaskDoesNotExist);
    expect(env.ctl.runs).toHaveLength(0);
  });

  it('maps CTL task status to the response code; LUN reset goes to CTL with the LUN', async () => {
    const env = setup();
    env.ctl.onTask = (io, ctl) => {
      io.taskStatus = TaskStatus.LunDoesNotExist;
      ctl.complete(io);
    };
    env.conn.receive(tmfPdu({ fn: TaskMgmtFunction.LogicalUnitReset, itt: 1, cmdSn: 10, lun: 4 }));
    await flush();
    expect(env.ctl.taskRuns()[0]!.nexus.lun).toBe(4);
    expect(env.ctl.taskRuns()[0]!.taskAction).toBe(TaskAction.LogicalUnitReset);
    expect(f.byte2(env.conn.sentOf(TargetOpcode.TaskManagementResponse)[0]!)).toBe(TaskMgmtResponse.LunDoesNotExist);
  });

  it('CLEAR ACA is not supported and TASK REASSIGN is refused at ERL 0, both without CTL', () => {
    const env = setup();
    env.conn.receive(tmfPdu({ fn: TaskMgmtFunction.ClearAca, itt: 1, cmdSn: 10 }));
    env.conn.receive(tmfPdu({ fn: TaskMgmtFunction.TaskReassign, itt: 2, cmdSn: 10, rtt: 1 }));
    expect(env.conn.sentOf(TargetOpcode.TaskManagementResponse).map(f.byte2)).toEqual([
      TaskMgmtResponse.FunctionNotSupported,
      TaskMgmtResponse.TaskAllegianceReassignmentNotSupported,
    ]);
    expect(env.ctl.runs).toHaveLength(0);
  });

  it('TARGET COLD RESET terminates every session of the target after the response', async () => {
    const env = setup();
    const other = env.frontend.handoff(
      new (await import('./helpers/fake-conn.js')).FakeIclConn(),
      { ...env.params, isid: Buffer.from([0, 2, 0x3d, 0, 0, 9]) },
    );
    env.conn.receive(tmfPdu({ fn: TaskMgmtFunction.TargetColdReset, itt: 1, cmdSn: 10 }));
    await flush();
    expect(env.ctl.taskRuns()[0]!.taskAction).toBe(TaskAction.TargetReset);
    expect(env.conn.sentOf(TargetOpcode.TaskManagementResponse)).toHaveLength(1);
    expect(env.session.state).toBe(SessionState.Active);
    env.conn.completeAll();
    await flush();
    expect(env.session.state).toBe(SessionState.Terminated);
    expect(other.state).toBe(SessionState.Terminated);
  });
});

describe('Text in full feature phase', () => {
  it('answers SendTargets through onTextRequest and unknown keys with NotUnderstood', () => {
    const seen: Array<Array<[string, string]>> = [];
    const env = setup({
      frontend: {
        onTextRequest: (_s, keys) => {
          seen.push(keys);
          return [
            ['TargetName', 'iqn.2026-11.org.example:disk0'],
            ['TargetAddress', '192.0.2.10:3260,1'],
          ];
        },
      },
    });
    env.conn.receive(
      textPdu({ itt: 3, cmdSn: env.nextCmdSn(), data: encodeTextKeys([['SendTargets', 'All'], ['X-Vendor', '1']]) }),
    );
    expect(seen).toEqual([[['SendTargets', 'All'], ['X-Vendor', '1']]]);
    const rsp = env.conn.sentOf(TargetOpcode.TextResponse)[0]!;
    expect(f.flags(rsp)).toBe(Flag.Final);
    expect(f.ttt(rsp)).toBe(RESERVED_TAG);
    expect(f.itt(rsp)).toBe(3);
    expect(parseTextKeys(rsp.data)).toEqual([
      ['TargetName', 'iqn.2026-11.org.example:disk0'],
      ['TargetAddress', '192.0.2.10:3260,1'],
      ['X-Vendor', 'NotUnderstood'],
    ]);
  });

  it('reassembles a request sent with C and splits a long response with TTT continuation', () => {
    const many: Array<[string, string]> = [];
    for (let i = 0; i < 40; i++) many.push(['TargetName', `iqn.2026-11.org.example:disk${i}`]);
    const env = setup({ maxSend: 512, frontend: { onTextRequest: () => many } });
    const req = encodeTextKeys([['SendTargets', 'All']]);
    env.conn.receive(textPdu({ itt: 3, cmdSn: env.nextCmdSn(), final: false, cont: true, data: req.subarray(0, 5) }));
    const partial = env.conn.sentOf(TargetOpcode.TextResponse)[0]!;
    expect(partial.data.length).toBe(0);
    expect(f.flags(partial) & Flag.Final).toBe(0);
    expect(f.ttt(partial)).not.toBe(RESERVED_TAG);
    env.conn.receive(textPdu({ itt: 3, ttt: f.ttt(partial), cmdSn: env.nextCmdSn(), data: req.subarray(5) }));
    const pieces = [];
    for (;;) {
      const rsps = env.conn.sentOf(TargetOpcode.TextResponse);
      const last = rsps[rsps.length - 1]!;
      pieces.push(last);
      if (f.flags(last) & Flag.Final) break;
      expect(f.flags(last) & Flag.Continue).toBe(Flag.Continue);
      expect(last.data.length).toBe(512);
      env.conn.receive(textPdu({ itt: 3, ttt: f.ttt(last), cmdSn: env.nextCmdSn() }));
    }
    expect(pieces.length).toBeGreaterThan(2);
    expect(f.ttt(pieces[pieces.length - 1]!)).toBe(RESERVED_TAG);
    expect(parseTextKeys(Buffer.concat(pieces.map((p) => p.data)))).toEqual(many);
    expect(env.session.state).toBe(SessionState.Active);
  });

  it('without a handler names only this target for SendTargets', () => {
    const env = setup();
    env.conn.receive(textPdu({ itt: 3, cmdSn: env.nextCmdSn(), data: encodeTextKeys([['SendTargets', '']]) }));
    expect(parseTextKeys(env.conn.sentOf(TargetOpcode.TextResponse)[0]!.data)).toEqual([
      ['TargetName', 'iqn.2026-11.org.example:disk0'],
    ]);
  });
});
