import { Flag, RESERVED_TAG, RejectReason, TargetOpcode } from '@iscsi-target/icl-core';
import { describe, expect, it } from 'vitest';
import { PORT_STATUS_PROTOCOL_CRC_ERROR } from '@iscsi-target/ctl-core';
import { PortStatus, SessionState } from '../src/index.js';
import { DataOutMode } from '@iscsi-target/ctl-core';
import { WriteSink, writeBehavior } from '@iscsi-target/ctl-core/testing';
import type { SentPdu } from './helpers/fake-conn.js';
import { dataOutPdu, f, pattern, scsiCommandPdu } from './helpers/pdus.js';
import { flush, setup } from './helpers/setup.js';

type Env = ReturnType<typeof setup>;

/** Answers every R2T not answered yet, in order, with PDUs of `step` bytes from `source`. */
function answerR2ts(env: Env, source: Buffer, state: { answered: number }, step = 8192): SentPdu[] {
  const r2ts = env.conn.sentOf(TargetOpcode.R2t);
  const answered: SentPdu[] = [];
  while (state.answered < r2ts.length) {
    const r2t = r2ts[state.answered++]!;
    answered.push(r2t);
    const itt = f.itt(r2t);
    const ttt = f.ttt(r2t);
    const off = f.bufferOffset(r2t);
    const end = off + f.word44(r2t);
    let dataSn = 0;
    for (let pos = off; pos < end; pos += step) {
      const stop = Math.min(pos + step, end);
      env.conn.receive(dataOutPdu({ itt, ttt, dataSn: dataSn++, bufferOffset: pos, final: stop === end, data: source.subarray(pos, stop) }));
    }
  }
  return answered;
}

/** Answers R2Ts until none are left unanswered. */
async function answerAll(env: Env, source: Buffer, step = 8192): Promise<SentPdu[]> {
  const state = { answered: 0 };
  const all: SentPdu[] = [];
  for (;;) {
    await flush();
    const got = answerR2ts(env, source, state, step);
    if (got.length === 0) return all;
    all.push(...got);
  }
}

function writeCmd(env: Env, o: { itt?: number; edtl: number; immediate?: Buffer; final?: boolean; split?: number }) {
  return scsiCommandPdu({
    itt: o.itt ?? 7,
    cmdSn: env.nextCmdSn(),
    edtl: o.edtl,
    write: true,
    cdb: Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 40, 0]),
    final: o.final ?? true,
    ...(o.immediate !== undefined ? { data: o.immediate } : {}),
    ...(o.split !== undefined ? { split: o.split } : {}),
  });
}

describe('R2T engine', () => {
  it('ImmediateData=Yes, InitialR2T=Yes: immediate data first, then one R2T for the rest (Views, no copy)', async () => {
    const env = setup();
    const source = pattern(20000, 3);
    const sink = new WriteSink(20000);
    env.ctl.onScsi = writeBehavior({ length: 20000, mode: DataOutMode.Views, sink });
    env.conn.counters.reset();
    env.conn.receive(writeCmd(env, { edtl: 20000, immediate: source.subarray(0, 8192), split: 2 }));
    const r2ts = await answerAll(env, source);
    expect(r2ts).toHaveLength(1);
    const r2t = r2ts[0]!;
    expect(f.flags(r2t)).toBe(Flag.Final);
    expect(f.itt(r2t)).toBe(7);
    expect(f.ttt(r2t)).not.toBe(RESERVED_TAG);
    expect(f.sn36(r2t)).toBe(0); // R2TSN
    expect(f.bufferOffset(r2t)).toBe(8192);
    expect(f.word44(r2t)).toBe(11808);
    // R2T does not advance StatSN.
    expect(f.statSn(r2t)).toBe(100);
    expect(sink.data.equals(source)).toBe(true);
    expect(env.conn.counters.copiedIn).toBe(0);
    expect(env.conn.counters.referencedIn).toBe(20000);
    // Views are views of what was received: the first two are the immediate data's chunks.
    const views = sink.moves[0]!.sg;
    expect(views[0]!.buffer).toBe(source.buffer);
    const rsp = env.conn.sentOf(TargetOpcode.ScsiResponse);
    expect(rsp).toHaveLength(1);
    expect(f.statSn(rsp[0]!)).toBe(100);
    expect(f.sn36(rsp[0]!)).toBe(1); // ExpDataSN counts the R2T
    expect(env.conn.unfreedReceived()).toHaveLength(0);
    expect(env.conn.transferDones).toHaveLength(1);
  });

  it('ImmediateData=No: everything is solicited; Copy mode copies into the backend buffers', async () => {
    const env = setup({ params: { immediateData: false } });
    const source = pattern(20000, 9);
    const sink = new WriteSink(20000);
    env.ctl.onScsi = writeBehavior({ length: 20000, mode: DataOutMode.Copy, sgSplit: 3, sink });
    env.conn.counters.reset();
    env.conn.receive(writeCmd(env, { edtl: 20000 }));
    const r2ts = await answerAll(env, source, 3000);
    expect(r2ts.map((r) => [f.bufferOffset(r), f.word44(r)])).toEqual([[0, 20000]]);
    expect(sink.data.equals(source)).toBe(true);
    expect(env.conn.counters.copiedIn).toBe(20000);
    expect(env.conn.sentOf(TargetOpcode.ScsiResponse)).toHaveLength(1);
    expect(env.conn.unfreedReceived()).toHaveLength(0);
  });

  it('splits bursts at MaxBurstLength with R2TSN per command, one R2T outstanding', async () => {
    const env = setup({ params: { maxBurstLength: 16384, firstBurstLength: 8192, immediateData: false } });
    const source = pattern(40000, 1);
    const sink = new WriteSink(40000);
    env.ctl.onScsi = writeBehavior({ length: 40000, mode: DataOutMode.Views, sink });
    env.conn.receive(writeCmd(env, { edtl: 40000 }));
    await flush();
    expect(env.conn.sentOf(TargetOpcode.R2t)).toHaveLength(1); // MaxOutstandingR2T = 1
    const r2ts = await answerAll(env, source);
    expect(r2ts.map((r) => [f.sn36(r), f.bufferOffset(r), f.word44(r)])).toEqual([
      [0, 0, 16384],
      [1, 16384, 16384],
      [2, 32768, 7232],
    ]);
    expect(new Set(r2ts.map(f.ttt)).size).toBe(3);
    expect(sink.data.equals(source)).toBe(true);
    expect(f.sn36(env.conn.sentOf(TargetOpcode.ScsiResponse)[0]!)).toBe(3);
  });

  it('keeps MaxOutstandingR2T bursts in flight', async () => {
    const env = setup({ params: { maxBurstLength: 8192, firstBurstLength: 8192, immediateData: false, maxOutstandingR2t: 2 } });
    const source = pattern(30000, 5);
    const sink = new WriteSink(30000);
    env.ctl.onScsi = writeBehavior({ length: 30000, mode: DataOutMode.Copy, sink });
    env.conn.receive(writeCmd(env, { edtl: 30000 }));
    await flush();
    expect(env.conn.sentOf(TargetOpcode.R2t).map(f.bufferOffset)).toEqual([0, 8192]);
    const r2ts = await answerAll(env, source);
    expect(r2ts.map(f.bufferOffset)).toEqual([0, 8192, 16384, 24576]);
    expect(sink.data.equals(source)).toBe(true);
  });

  it('InitialR2T=No: unsolicited Data-Out up to FirstBurstLength, then R2Ts (data before the datamove)', async () => {
    const env = setup({ params: { initialR2t: false, firstBurstLength: 16384, maxBurstLength: 16384 } });
    const source = pattern(40000, 2);
    const sink = new WriteSink(40000);
    env.ctl.onScsi = writeBehavior({ length: 40000, mode: DataOutMode.Views, sink });
    env.conn.receive(writeCmd(env, { edtl: 40000, immediate: source.subarray(0, 4096), final: false }));
    env.conn.receive(dataOutPdu({ itt: 7, ttt: RESERVED_TAG, dataSn: 0, bufferOffset: 4096, final: false, data: source.subarray(4096, 12288) }));
    env.conn.receive(dataOutPdu({ itt: 7, ttt: RESERVED_TAG, dataSn: 1, bufferOffset: 12288, final: true, data: source.subarray(12288, 16384) }));
    const r2ts = await answerAll(env, source);
    expect(r2ts.map((r) => [f.sn36(r), f.bufferOffset(r), f.word44(r)])).toEqual([
      [0, 16384, 16384],
      [1, 32768, 7232],
    ]);
    expect(sink.data.equals(source)).toBe(true);
    expect(env.conn.unfreedReceived()).toHaveLength(0);
  });

  it('InitialR2T=No: a datamove waits for unsolicited data still on its way, and an early F solicits the rest', async () => {
    const env = setup({ params: { initialR2t: false, firstBurstLength: 16384 } });
    const source = pattern(20000, 4);
    const sink = new WriteSink(20000);
    env.ctl.onScsi = writeBehavior({ length: 20000, mode: DataOutMode.Copy, sink });
    env.conn.receive(writeCmd(env, { edtl: 20000, final: false }));
    await flush(); // CTL's datamove is now waiting
    expect(env.conn.sentOf(TargetOpcode.R2t)).toHaveLength(0);
    env.conn.receive(dataOutPdu({ itt: 7, ttt: RESERVED_TAG, dataSn: 0, bufferOffset: 0, final: true, data: source.subarray(0, 6000) }));
    const r2ts = await answerAll(env, source);
    expect(r2ts.map((r) => [f.bufferOffset(r), f.word44(r)])).toEqual([[6000, 14000]]);
    expect(sink.data.equals(source)).toBe(true);
  });

  it('discards unsolicited Data-Out still arriving after CTL completed the command early', async () => {
    const env = setup({ params: { initialR2t: false, firstBurstLength: 16384 } });
    env.ctl.onScsi = (io, ctl) => {
      ctl.setSense(io, 0x05, 0x21, 0x00); // LBA out of range: no datamove at all
      ctl.complete(io);
    };
    const source = pattern(16384);
    env.conn.receive(writeCmd(env, { edtl: 16384, immediate: source.subarray(0, 4096), final: false }));
    env.conn.receive(dataOutPdu({ itt: 7, ttt: RESERVED_TAG, dataSn: 0, bufferOffset: 4096, final: false, data: source.subarray(4096, 8192) }));
    await flush();
    expect(f.status(env.conn.sentOf(TargetOpcode.ScsiResponse)[0]!)).toBe(0x02);
    env.conn.receive(dataOutPdu({ itt: 7, ttt: RESERVED_TAG, dataSn: 1, bufferOffset: 8192, final: true, data: source.subarray(8192) }));
    expect(env.session.state).toBe(SessionState.Active);
    expect(env.conn.unfreedReceived()).toHaveLength(0);
  });

  it('keeps immediate data beyond a small CTL piece for the next piece instead of soliciting it again', async () => {
    const env = setup();
    const source = pattern(20000, 6);
    const sink = new WriteSink(20000);
    env.ctl.onScsi = writeBehavior({ length: 20000, pieceSize: 4096, mode: DataOutMode.Views, sink });
    env.conn.receive(writeCmd(env, { edtl: 20000, immediate: source.subarray(0, 8192) }));
    const r2ts = await answerAll(env, source);
    expect(r2ts.map((r) => [f.bufferOffset(r), f.word44(r)])).toEqual([
      [8192, 4096],
      [12288, 4096],
      [16384, 3616],
    ]);
    expect(sink.moves.map((m) => m.offset)).toEqual([0, 4096, 8192, 12288, 16384]);
    expect(sink.data.equals(source)).toBe(true);
  });

  it('uses the TTT an offload driver chose in transferSetup', async () => {
    const env = setup({ params: { immediateData: false } });
    env.conn.rewriteTtt = (ttt) => (ttt | 0x40000000) >>> 0;
    const source = pattern(4096);
    const sink = new WriteSink(4096);
    env.ctl.onScsi = writeBehavior({ length: 4096, mode: DataOutMode.Views, sink });
    env.conn.receive(writeCmd(env, { edtl: 4096 }));
    const r2ts = await answerAll(env, source);
    expect(f.ttt(r2ts[0]!)).toBe(env.conn.transferSetups[0]!.wire);
    expect(f.ttt(r2ts[0]!) & 0x40000000).toBe(0x40000000);
    expect(sink.data.equals(source)).toBe(true);
  });

  it('write underflow and overflow residuals', async () => {
    {
      const env = setup({ params: { immediateData: false } });
      const sink = new WriteSink(20000);
      env.ctl.onScsi = writeBehavior({ length: 20000, mode: DataOutMode.Views, sink });
      env.conn.receive(writeCmd(env, { edtl: 30000 }));
      await answerAll(env, pattern(30000));
      const rsp = env.conn.sentOf(TargetOpcode.ScsiResponse)[0]!;
      expect(f.status(rsp)).toBe(0);
      expect(f.flags(rsp) & Flag.ResidualUnderflow).toBe(Flag.ResidualUnderflow);
      expect(f.word44(rsp)).toBe(10000);
    }
    {
      const env = setup({ params: { immediateData: false } });
      const sink = new WriteSink(20000);
      env.ctl.onScsi = writeBehavior({ length: 20000, mode: DataOutMode.Views, sink });
      env.conn.receive(writeCmd(env, { edtl: 10000 }));
      const r2ts = await answerAll(env, pattern(10000));
      expect(r2ts.map((r) => [f.bufferOffset(r), f.word44(r)])).toEqual([[0, 10000]]);
      // The backend must not write a piece the initiator could not fill.
      expect(sink.failed).toEqual([{ offset: 0, length: 20000, portStatus: PortStatus.Overflow, aborted: false }]);
      const rsp = env.conn.sentOf(TargetOpcode.ScsiResponse)[0]!;
      expect(f.flags(rsp) & Flag.ResidualOverflow).toBe(Flag.ResidualOverflow);
      expect(f.word44(rsp)).toBe(10000);
    }
  });

  describe('violations terminate the session and nothing reaches storage', () => {
    async function startWrite(env: Env) {
      const sink = new WriteSink(20000);
      env.ctl.onScsi = writeBehavior({ length: 20000, mode: DataOutMode.Copy, sink });
      env.conn.receive(writeCmd(env, { edtl: 20000 }));
      await flush();
      const r2t = env.conn.sentOf(TargetOpcode.R2t)[0]!;
      return { sink, r2t, ttt: f.ttt(r2t) };
    }

    async function expectTerminated(env: Env, sink: WriteSink) {
      await flush();
      expect(env.session.state).toBe(SessionState.Terminated);
      expect(env.conn.closed).toBe(true);
      expect(env.conn.freed).toBe(true);
      expect(sink.failed).toHaveLength(1);
      expect(sink.failed[0]!.portStatus).not.toBe(0);
      expect(sink.moves).toHaveLength(0);
      expect(env.conn.sentOf(TargetOpcode.ScsiResponse)).toHaveLength(0);
      expect(env.conn.unfreedReceived()).toHaveLength(0);
      const io = env.ctl.scsiRuns()[0]!;
      expect(env.ctl.datamoveDoneCount.get(io)).toBe(1);
      expect(env.ctl.doneCount.get(io)).toBe(1);
    }

    const base = { itt: 7, data: pattern(4096) };

    it('a gap in BufferOffset', async () => {
      const env = setup({ params: { immediateData: false } });
      const { sink, ttt } = await startWrite(env);
      env.conn.receive(dataOutPdu({ ...base, ttt, dataSn: 0, bufferOffset: 0, final: false }));
      env.conn.receive(dataOutPdu({ ...base, ttt, dataSn: 1, bufferOffset: 8192, final: false }));
      await expectTerminated(env, sink);
      expect(env.session.terminationReason).toMatch(/BufferOffset/);
    });

    it('F before the end of the burst', async () => {
      const env = setup({ params: { immediateData: false } });
      const { sink, ttt } = await startWrite(env);
      env.conn.receive(dataOutPdu({ ...base, ttt, dataSn: 0, bufferOffset: 0, final: true }));
      await expectTerminated(env, sink);
    });

    it('the last PDU of the burst without F', async () => {
      const env = setup({ params: { immediateData: false } });
      const { sink, ttt } = await startWrite(env);
      env.conn.receive(dataOutPdu({ itt: 7, ttt, dataSn: 0, bufferOffset: 0, final: false, data: pattern(20000) }));
      await expectTerminated(env, sink);
      expect(env.session.terminationReason).toMatch(/without the F bit/);
    });

    it('an unknown TTT', async () => {
      const env = setup({ params: { immediateData: false } });
      const { sink, ttt } = await startWrite(env);
      env.conn.receive(dataOutPdu({ ...base, ttt: (ttt + 100) >>> 0, dataSn: 0, bufferOffset: 0, final: false }));
      await expectTerminated(env, sink);
      expect(env.session.terminationReason).toMatch(/unknown TTT/);
    });

    it('unsolicited data with InitialR2T=Yes', async () => {
      const env = setup({ params: { immediateData: false } });
      const { sink } = await startWrite(env);
      env.conn.receive(dataOutPdu({ ...base, ttt: RESERVED_TAG, dataSn: 0, bufferOffset: 0, final: true }));
      await expectTerminated(env, sink);
    });

    it('immediate data with ImmediateData=No: Reject, then the session ends', async () => {
      const env = setup({ params: { immediateData: false } });
      env.ctl.onScsi = writeBehavior({ length: 4096, mode: DataOutMode.Copy, sink: new WriteSink(4096) });
      env.conn.receive(writeCmd(env, { edtl: 4096, immediate: pattern(4096) }));
      const rej = env.conn.sentOf(TargetOpcode.Reject);
      expect(rej).toHaveLength(1);
      expect(f.byte2(rej[0]!)).toBe(RejectReason.ProtocolError);
      expect(rej[0]!.data.subarray(0, 1)[0]! & 0x3f).toBe(0x01);
      expect(env.session.state).toBe(SessionState.Closing);
      expect(env.ctl.runs).toHaveLength(0);
      env.conn.completeAll();
      await flush();
      expect(env.session.state).toBe(SessionState.Terminated);
      expect(env.conn.unfreedReceived()).toHaveLength(0);
    });

    it('immediate data beyond FirstBurstLength', async () => {
      const env = setup({ params: { firstBurstLength: 4096 } });
      env.conn.receive(writeCmd(env, { edtl: 20000, immediate: pattern(8192) }));
      await flush();
      expect(env.session.state).toBe(SessionState.Terminated);
      expect(env.ctl.runs).toHaveLength(0);
      expect(env.conn.unfreedReceived()).toHaveLength(0);
    });
  });

  // RFC 7143 §7.9: an out-of-order DataSN is an implied digest error; at ERL 0 (no recovery R2T)
  // §7.8 lets the target terminate the task with CHECK CONDITION once all the data arrived.
  describe('a wrong DataSN fails the task, not the session (RFC 7143 §7.8/§7.9)', () => {
    const sequences: Array<[string, number[]]> = [
      ['a repeated DataSN 0', [0, 0, 2, 3, 4]],
      ['DataSN 27', [27, 1, 2, 3, 4]],
      ['DataSN 0xffffffff', [0xffffffff, 1, 2, 3, 4]],
      ['DataSN in reverse order', [1, 0, 2, 3, 4]],
    ];
    for (const [name, sns] of sequences) {
      it(`solicited: ${name}`, async () => {
        const env = setup({ params: { immediateData: false } });
        const sink = new WriteSink(20000);
        env.ctl.onScsi = writeBehavior({ length: 20000, mode: DataOutMode.Copy, sink });
        env.conn.receive(writeCmd(env, { edtl: 20000 }));
        await flush();
        const r2t = env.conn.sentOf(TargetOpcode.R2t)[0]!;
        const ttt = f.ttt(r2t);
        const source = pattern(20000, 5);
        sns.forEach((dataSn, i) => {
          const off = i * 4096;
          const end = Math.min(off + 4096, 20000);
          env.conn.receive(dataOutPdu({ itt: 7, ttt, dataSn, bufferOffset: off, final: end === 20000, data: source.subarray(off, end) }));
          if (i === 0) {
            // Nothing is decided before the sequence is complete.
            expect(sink.failed).toHaveLength(0);
          }
        });
        await flush();
        expect(env.session.state).not.toBe(SessionState.Terminated);
        expect(env.conn.closed).toBe(false);
        expect(sink.moves).toHaveLength(0); // nothing reached storage
        expect(sink.failed).toEqual([{ offset: 0, length: 20000, portStatus: PORT_STATUS_PROTOCOL_CRC_ERROR, aborted: false }]);
        expect(env.conn.sentOf(TargetOpcode.ScsiResponse)).toHaveLength(1);
        expect(env.conn.unfreedReceived()).toHaveLength(0);
      });
    }

    it('unsolicited: a wrong DataSN in the first burst', async () => {
      const env = setup({ params: { initialR2t: false, immediateData: false, firstBurstLength: 8192 } });
      const sink = new WriteSink(8192);
      env.ctl.onScsi = writeBehavior({ length: 8192, mode: DataOutMode.Views, sink });
      env.conn.receive(writeCmd(env, { edtl: 8192, final: false }));
      const source = pattern(8192, 6);
      env.conn.receive(dataOutPdu({ itt: 7, ttt: RESERVED_TAG, dataSn: 1, bufferOffset: 0, final: false, data: source.subarray(0, 4096) }));
      env.conn.receive(dataOutPdu({ itt: 7, ttt: RESERVED_TAG, dataSn: 2, bufferOffset: 4096, final: true, data: source.subarray(4096) }));
      await flush();
      expect(env.session.state).not.toBe(SessionState.Terminated);
      expect(sink.moves).toHaveLength(0);
      expect(sink.failed.map((x) => x.portStatus)).toEqual([PORT_STATUS_PROTOCOL_CRC_ERROR]);
      expect(env.conn.sentOf(TargetOpcode.R2t)).toHaveLength(0);
      expect(env.conn.unfreedReceived()).toHaveLength(0);
    });

    it('a correct sequence afterwards is written normally', async () => {
      const env = setup({ params: { immediateData: false } });
      const sink = new WriteSink(8192);
      env.ctl.onScsi = writeBehavior({ length: 8192, mode: DataOutMode.Copy, sink });
      env.conn.receive(writeCmd(env, { itt: 7, edtl: 8192 }));
      await flush();
      const ttt1 = f.ttt(env.conn.sentOf(TargetOpcode.R2t)[0]!);
      env.conn.receive(dataOutPdu({ itt: 7, ttt: ttt1, dataSn: 5, bufferOffset: 0, final: true, data: pattern(8192, 1) }));
      await flush();
      expect(sink.failed).toHaveLength(1);
      env.conn.receive(writeCmd(env, { itt: 8, edtl: 8192 }));
      await flush();
      const ttt2 = f.ttt(env.conn.sentOf(TargetOpcode.R2t)[1]!);
      const good = pattern(8192, 2);
      env.conn.receive(dataOutPdu({ itt: 8, ttt: ttt2, dataSn: 0, bufferOffset: 0, final: true, data: good }));
      await flush();
      expect(sink.moves).toHaveLength(1);
      expect(sink.data.equals(good)).toBe(true);
      expect(env.conn.sentOf(TargetOpcode.ScsiResponse)).toHaveLength(2);
    });
  });
});
