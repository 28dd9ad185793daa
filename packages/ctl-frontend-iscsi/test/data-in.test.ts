import v8 from 'node:v8';
import vm from 'node:vm';
import { Flag, RESERVED_TAG, TargetOpcode } from '@iscsi-target/icl-core';
import { describe, expect, it } from 'vitest';
import { RefCounter, readBehavior } from '@iscsi-target/ctl-core/testing';
import { f, pattern, scsiCommandPdu } from './helpers/pdus.js';
import { flush, setup } from './helpers/setup.js';

const READ = { read: true } as const;

async function runRead(
  env: ReturnType<typeof setup>,
  o: { edtl: number; itt?: number },
): Promise<void> {
  env.conn.receive(scsiCommandPdu({ itt: o.itt ?? 1, cmdSn: env.nextCmdSn(), edtl: o.edtl, ...READ }));
  await flush();
}

describe('Data-In generation', () => {
  it('splits at MaxSendDataSegmentLength with DataSN, BufferOffset, F and status in the last PDU', async () => {
    const env = setup({ maxSend: 8192 });
    env.ctl.onScsi = readBehavior({ length: 20000, success: 'before-last' });
    await runRead(env, { edtl: 20000 });
    const dataIn = env.conn.sentOf(TargetOpcode.DataIn);
    expect(dataIn.map((p) => p.data.length)).toEqual([8192, 8192, 3616]);
    expect(dataIn.map(f.sn36)).toEqual([0, 1, 2]);
    expect(dataIn.map(f.bufferOffset)).toEqual([0, 8192, 16384]);
    expect(dataIn.map(f.dsl)).toEqual([8192, 8192, 3616]);
    expect(dataIn.map((p) => f.flags(p) & (Flag.Final | Flag.Status))).toEqual([0, 0, Flag.Final | Flag.Status]);
    expect(dataIn.every((p) => f.itt(p) === 1 && f.ttt(p) === RESERVED_TAG)).toBe(true);
    const last = dataIn[2]!;
    expect(f.status(last)).toBe(0);
    expect(f.flags(last) & (Flag.ResidualOverflow | Flag.ResidualUnderflow)).toBe(0);
    // Only the PDU with S carries (and consumes) a StatSN.
    expect(dataIn.map(f.statSn)).toEqual([0, 0, 100]);
    expect(env.session.statSn).toBe(101);
    // ExpCmdSN/MaxCmdSN are valid in every Data-In.
    expect(dataIn.every((p) => f.expCmdSn(p) === 11)).toBe(true);
    expect(Buffer.concat(dataIn.map((p) => p.data)).equals(pattern(20000))).toBe(true);
    // Phase collapse: no SCSI Response.
    expect(env.conn.sentOf(TargetOpcode.ScsiResponse)).toHaveLength(0);
    expect(env.ctl.doneCount.get(env.ctl.scsiRuns()[0]!)).toBe(1);
  });

  it('sends a separate SCSI Response when status was not set before the last datamove', async () => {
    const env = setup();
    env.ctl.onScsi = readBehavior({ length: 20000, success: 'after' });
    await runRead(env, { edtl: 20000 });
    const dataIn = env.conn.sentOf(TargetOpcode.DataIn);
    expect(dataIn).toHaveLength(3);
    expect(dataIn.every((p) => (f.flags(p) & Flag.Status) === 0)).toBe(true);
    expect(f.flags(dataIn[2]!) & Flag.Final).toBe(Flag.Final);
    const rsp = env.conn.sentOf(TargetOpcode.ScsiResponse);
    expect(rsp).toHaveLength(1);
    expect(f.status(rsp[0]!)).toBe(0);
    expect(f.sn36(rsp[0]!)).toBe(3); // ExpDataSN = Data-In PDUs sent
    expect(f.statSn(rsp[0]!)).toBe(100);
    expect(f.word44(rsp[0]!)).toBe(0);
  });

  it('never collapses a CHECK CONDITION: separate response with sense', async () => {
    const env = setup();
    env.ctl.onScsi = readBehavior({ length: 4096, success: 'error' });
    await runRead(env, { edtl: 4096 });
    const rsp = env.conn.sentOf(TargetOpcode.ScsiResponse);
    expect(rsp).toHaveLength(1);
    expect(f.status(rsp[0]!)).toBe(0x02);
    expect(rsp[0]!.data.readUInt16BE(0)).toBe(18);
    expect(rsp[0]!.data[2]).toBe(0x70);
    expect(rsp[0]!.data[4]).toBe(0x03);
    expect(f.dsl(rsp[0]!)).toBe(20);
  });

  it('truncates at ExpectedDataTransferLength and reports overflow', async () => {
    const env = setup();
    env.ctl.onScsi = readBehavior({ length: 20000, success: 'before-last' });
    await runRead(env, { edtl: 10000 });
    const dataIn = env.conn.sentOf(TargetOpcode.DataIn);
    expect(dataIn.map((p) => p.data.length)).toEqual([8192, 1808]);
    const last = dataIn[1]!;
    expect(f.flags(last) & (Flag.Final | Flag.Status | Flag.ResidualOverflow)).toBe(
      Flag.Final | Flag.Status | Flag.ResidualOverflow,
    );
    expect(f.word44(last)).toBe(10000);
  });

  it('reports underflow when less than expected is transferred', async () => {
    const env = setup();
    env.ctl.onScsi = readBehavior({ length: 20000, success: 'after' });
    await runRead(env, { edtl: 30000 });
    const rsp = env.conn.sentOf(TargetOpcode.ScsiResponse)[0]!;
    expect(f.flags(rsp) & Flag.ResidualUnderflow).toBe(Flag.ResidualUnderflow);
    expect(f.word44(rsp)).toBe(10000);
  });

  it('sends nothing for a datamove past ExpectedDataTransferLength = 0', async () => {
    const env = setup();
    env.ctl.onScsi = readBehavior({ length: 512, success: 'before-last' });
    await runRead(env, { edtl: 0 });
    expect(env.conn.sentOf(TargetOpcode.DataIn)).toHaveLength(0);
    const rsp = env.conn.sentOf(TargetOpcode.ScsiResponse)[0]!;
    expect(f.flags(rsp) & Flag.ResidualOverflow).toBe(Flag.ResidualOverflow);
    expect(f.word44(rsp)).toBe(512);
  });

  it('continues DataSN and offsets across datamove pieces and scatter entries', async () => {
    const env = setup();
    env.ctl.onScsi = readBehavior({ length: 20000, pieceSize: 12000, sgSplit: 3, success: 'before-last' });
    await runRead(env, { edtl: 20000 });
    const dataIn = env.conn.sentOf(TargetOpcode.DataIn);
    expect(dataIn.map((p) => p.data.length)).toEqual([8192, 3808, 8000]);
    expect(dataIn.map(f.sn36)).toEqual([0, 1, 2]);
    expect(dataIn.map(f.bufferOffset)).toEqual([0, 8192, 12000]);
    expect(dataIn.map((p) => f.flags(p) & (Flag.Final | Flag.Status))).toEqual([0, 0, Flag.Final | Flag.Status]);
    expect(Buffer.concat(dataIn.map((p) => p.data)).equals(pattern(20000))).toBe(true);
    expect(env.ctl.datamoveDoneCount.get(env.ctl.scsiRuns()[0]!)).toBe(2);
  });

  it('closes a Data-In sequence with F every MaxBurstLength bytes', async () => {
    const env = setup({ params: { maxBurstLength: 16384, firstBurstLength: 16384 } });
    env.ctl.onScsi = readBehavior({ length: 40000, success: 'before-last' });
    await runRead(env, { edtl: 40000 });
    const dataIn = env.conn.sentOf(TargetOpcode.DataIn);
    expect(dataIn.map((p) => p.data.length)).toEqual([8192, 8192, 8192, 8192, 7232]);
    expect(dataIn.map((p) => (f.flags(p) & Flag.Final) !== 0)).toEqual([false, true, false, true, true]);
  });

  it('no-copy: borrows backend buffers with exactly one kernDataRef per PDU, released by the driver', async () => {
    const env = setup();
    const ref = new RefCounter();
    const pieces: Buffer[][] = [];
    env.ctl.onScsi = readBehavior({ length: 20000, sgSplit: 3, ref, pieces, success: 'before-last' });
    env.conn.counters.reset();
    await runRead(env, { edtl: 20000 });
    const dataIn = env.conn.sentOf(TargetOpcode.DataIn);
    expect(dataIn).toHaveLength(3);
    // One reference per PDU although the PDUs hold 2 chunks each.
    expect(dataIn.map((p) => p.chunks.length)).toEqual([2, 2, 1]);
    expect(ref.retains).toBe(3);
    expect(ref.count).toBe(3);
    // The chunks are the backend's memory, not copies.
    const backing = pieces[0]![0]!.buffer;
    expect(dataIn.every((p) => p.chunks.every((c) => c.buf.buffer === backing && c.ref !== null))).toBe(true);
    expect(env.conn.counters.copiedOut).toBe(0);
    expect(env.conn.counters.referencedOut).toBe(20000);
    // The command is long done; the references live until the driver completes.
    expect(env.ctl.live.size).toBe(0);
    env.conn.completeAt(1);
    expect(ref.count).toBe(2);
    env.conn.completeAll();
    expect(ref.count).toBe(0);
    expect(ref.releases).toBe(3);
  });

  it('copies when noCopy is off, or when the I/O offers no kernDataRef', async () => {
    for (const [noCopy, withRef] of [
      [false, true],
      [true, false],
    ] as const) {
      const env = setup({ frontend: { noCopy } });
      const ref = new RefCounter();
      env.ctl.onScsi = readBehavior({ length: 10000, success: 'before-last', ...(withRef ? { ref } : {}) });
      env.conn.counters.reset();
      await runRead(env, { edtl: 10000 });
      const dataIn = env.conn.sentOf(TargetOpcode.DataIn);
      expect(dataIn.every((p) => p.chunks.every((c) => c.ref === null))).toBe(true);
      expect(ref.retains).toBe(0);
      expect(env.conn.counters.copiedOut).toBe(10000);
      expect(Buffer.concat(dataIn.map((p) => p.data)).equals(pattern(10000))).toBe(true);
    }
  });

  it('the buffer reference keeps neither the I/O nor the session alive', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const env = setup();
    const ref = new RefCounter();
    env.ctl.onScsi = readBehavior({ length: 20000, ref, success: 'before-last' });
    await runRead(env, { edtl: 20000 });
    // No local variable may hold the I/O.
    const weak = ((): WeakRef<object> => new WeakRef(env.ctl.scsiRuns()[0]!))();
    // Forget everything the test harness holds on the I/O.
    env.ctl.runs.length = 0;
    env.ctl.doneCount.clear();
    env.ctl.datamoveCount.clear();
    env.ctl.datamoveDoneCount.clear();
    expect(ref.count).toBe(3); // PDUs still held by the "driver"
    await flush();
    gc();
    await flush();
    gc();
    expect(weak.deref()).toBeUndefined();
    env.conn.completeAll();
    expect(ref.count).toBe(0);
  });
});
