// The zero-copy ownership contract (DESIGN.md §3.1, issue 3) proved over the
// whole stack without sockets: a raw initiator on one end of a `sim` NIC
// pair, the soft ICL driver on the other, the iSCSI frontend, the real CTL
// core and a file-backed LUN whose read buffers come from a small, poisoned
// pool (4 × 64 KiB). The sim NIC copies bytes onto its wire lazily and can
// hold send completions (FreeBSD's ixl(4) case), reorder them, cut the
// stream into small pieces and reset the connection.
//
// What must hold: a pooled segment is never lent again while any Data-In
// PDU that borrowed it is not complete; completions held for a long time
// keep only the buffers (the session can end and the LUN go away; the
// buffers return to the pool at the last completion); stalled completions
// bound memory (the pool's cap, then backpressure); every completion runs
// exactly once, a connection reset included. If a segment were returned
// early, the poison byte (0xdb) or another command's data would show up in
// what the initiator receives, or the pool counts below would be wrong.
// On the write path, Data-Out payload cut into 700-byte wire pieces reaches
// the file intact, by reference in no-copy mode (0 bytes copied) and copied
// exactly once per byte in copy mode.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BufferPool, FileBackend } from '@iscsi-target/ctl-block';
import { Ctl } from '@iscsi-target/ctl-core';
import { IscsiFrontend, type HandoffParams, type IscsiSession } from '@iscsi-target/ctl-frontend-iscsi';
import { CopyCounters } from '@iscsi-target/icl-core';
import { SimNetwork, type SimNicConn } from '@iscsi-target/icl-offload-kpi';
import { PeerHarness, encodePdu, waitFor, turns, type WirePdu } from '@iscsi-target/icl-offload-kpi/testing';
import { createSoftDriver } from '@iscsi-target/icl-soft';
import { afterEach, describe, expect, it } from 'vitest';

const TARGET = 'iqn.2026-11.org.example:sim';
const BLOCK = 512;
const SEGMENT = 64 * 1024;
const POOL_SEGMENTS = 4;
const LUN_BYTES = 4 * 1024 * 1024;
const POISON = 0xdb;
const WIRE = { headerDigest: false, dataDigest: false };

/** Every 512-byte block holds its LBA in each 4-byte word: misplaced or poisoned data cannot pass. */
function blockPattern(lba: number, blocks: number): Buffer {
  const b = Buffer.alloc(blocks * BLOCK);
  for (let i = 0; i < blocks; i++) for (let w = 0; w < BLOCK; w += 4) b.writeUInt32BE((lba + i) ^ 0x5a5a0000, i * BLOCK + w);
  return b;
}

function read10(lba: number, blocks: number): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x28;
  cdb.writeUInt32BE(lba, 2);
  cdb.writeUInt16BE(blocks, 7);
  return cdb;
}

function write10(lba: number, blocks: number): Buffer {
  const cdb = read10(lba, blocks);
  cdb[0] = 0x2a;
  return cdb;
}

/** A SCSI Command PDU (RFC 7143 §11.3) on the wire: LUN 0, SIMPLE, F and R (or W, with immediate data) bits. */
function scsiCommand(itt: number, cmdSn: number, cdb: Buffer, edtl: number, immediate: Buffer | null = null): Buffer {
  const bhs = Buffer.alloc(48);
  bhs[0] = 0x01;
  bhs[1] = 0x80 | (immediate !== null ? 0x20 : edtl > 0 ? 0x40 : 0) | 0x01;
  bhs.writeUInt32BE(itt, 16);
  bhs.writeUInt32BE(edtl, 20);
  bhs.writeUInt32BE(cmdSn, 24);
  bhs.writeUInt32BE(100, 28);
  cdb.copy(bhs, 32, 0, 16);
  return encodePdu(bhs, immediate ?? Buffer.alloc(0), WIRE);
}

/** A SCSI Data-Out PDU (RFC 7143 §11.7) answering an R2T. */
function dataOut(itt: number, ttt: number, dataSn: number, offset: number, data: Buffer, final: boolean): Buffer {
  const bhs = Buffer.alloc(48);
  bhs[0] = 0x05;
  bhs[1] = final ? 0x80 : 0;
  bhs.writeUInt32BE(itt, 16);
  bhs.writeUInt32BE(ttt, 20);
  bhs.writeUInt32BE(100, 28);
  bhs.writeUInt32BE(dataSn, 36);
  bhs.writeUInt32BE(offset, 40);
  return encodePdu(bhs, data, WIRE);
}

const itt = (p: WirePdu) => p.bhs.readUInt32BE(16);
const isDataIn = (p: WirePdu) => (p.bhs[0]! & 0x3f) === 0x25;
const isResponse = (p: WirePdu) => (p.bhs[0]! & 0x3f) === 0x21;
const isR2t = (p: WirePdu) => (p.bhs[0]! & 0x3f) === 0x31;
/** The command is finished: Data-In with S, or a SCSI Response. */
const finished = (p: WirePdu) => isResponse(p) || (isDataIn(p) && (p.bhs[1]! & 0x01) !== 0);

interface Env {
  pool: BufferPool;
  ctl: Ctl;
  frontend: IscsiFrontend;
  session: IscsiSession;
  nic: SimNicConn;
  /** The initiator's end of the wire. */
  far: SimNicConn;
  peer: PeerHarness;
  counters: CopyCounters;
  /** Sends READ(10) of `blocks` at `lba`; returns its ITT. */
  read(lba: number, blocks: number): Promise<number>;
  /**
   * WRITE(10) of `data` at `lba`: 8 KiB of immediate data, the rest in
   * 8 KiB Data-Out PDUs answering each R2T. Resolves when the command is done.
   */
  write(lba: number, data: Buffer): Promise<number>;
  file: string;
  /** The bytes the initiator received for `tag`, assembled by BufferOffset. */
  dataOf(tag: number, length: number): Buffer;
  done(tag: number): boolean;
  /** SCSI status of a finished command. */
  status(tag: number): number | undefined;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function start(options: { copyMode?: boolean } = {}): Promise<Env> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zc-sim-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'lun.img');
  writeFileSync(file, blockPattern(0, LUN_BYTES / BLOCK));
  const pool = new BufferPool({ segmentSize: SEGMENT, maxBytes: POOL_SEGMENTS * SEGMENT, poison: POISON });
  const be = await FileBackend.open({ path: file, pool, maxIoSize: SEGMENT, copyMode: options.copyMode ?? false });
  const ctl = new Ctl();
  ctl.addLun(be, 0);
  const frontend = new IscsiFrontend(ctl, { pingIntervalMs: 0, pingTimeoutMs: 0, noCopy: !(options.copyMode ?? false), logoutGraceMs: 0 });
  frontend.addTarget({ name: TARGET, portalGroupTag: 1, lunMap: null });
  const [nic, far] = new SimNetwork({ seed: 7 }).pair();
  const counters = new CopyCounters();
  const conn = createSoftDriver().newConn({ name: 'sim', counters });
  conn.handoff(nic);
  const params: HandoffParams = {
    initiatorName: 'iqn.1994-05.com.example:sim-initiator',
    initiatorAddress: 'sim-b:0',
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
  };
  const session = frontend.handoff(conn, params);
  const peer = new PeerHarness(far, WIRE).start();
  cleanups.push(async () => {
    nic.holdCompletions(false);
    far.destroy();
    await frontend.shutdown();
    await ctl.removeLun(0).catch(() => undefined);
  });
  let cmdSn = 10;
  let nextItt = 1;
  const env: Env = {
    pool,
    ctl,
    frontend,
    session,
    nic,
    far,
    peer,
    counters,
    async read(lba, blocks) {
      const tag = nextItt++;
      await peer.send(scsiCommand(tag, cmdSn++, read10(lba, blocks), blocks * BLOCK));
      return tag;
    },
    file,
    async write(lba, data) {
      const tag = nextItt++;
      const piece = 8192;
      await peer.send(scsiCommand(tag, cmdSn++, write10(lba, data.length / BLOCK), data.length, data.subarray(0, piece)));
      let answered = 0;
      for (;;) {
        await waitFor(() => env.done(tag) || peer.received.filter((p) => isR2t(p) && itt(p) === tag).length > answered, `R2T or status for ITT ${tag}`);
        const r2ts = peer.received.filter((p) => isR2t(p) && itt(p) === tag);
        if (r2ts.length === answered) break;
        const r2t = r2ts[answered++]!;
        const ttt = r2t.bhs.readUInt32BE(20);
        const offset = r2t.bhs.readUInt32BE(40);
        const want = r2t.bhs.readUInt32BE(44);
        // RFC 7143 §11.7.5: DataSN restarts at 0 in every R2T's sequence.
        let dataSn = 0;
        for (let at = 0; at < want; at += piece) {
          const n = Math.min(piece, want - at);
          await peer.send(dataOut(tag, ttt, dataSn++, offset + at, data.subarray(offset + at, offset + at + n), at + n === want));
        }
      }
      return tag;
    },
    dataOf(tag, length) {
      const out = Buffer.alloc(length);
      for (const p of peer.received) if (isDataIn(p) && itt(p) === tag) p.data.copy(out, p.bhs.readUInt32BE(40));
      return out;
    },
    done: (tag) => peer.received.some((p) => itt(p) === tag && finished(p)),
    status: (tag) => {
      const p = peer.received.find((q) => itt(q) === tag && finished(q));
      return p?.bhs[3];
    },
  };
  // Consume the power-on unit attention (SAM-5 §5.14): TEST UNIT READY → CHECK CONDITION.
  const tur = nextItt++;
  await peer.send(scsiCommand(tur, cmdSn++, Buffer.alloc(16), 0));
  await waitFor(() => env.done(tur), 'TEST UNIT READY answered');
  return env;
}

async function settle(n = 30): Promise<void> {
  await turns(n);
}

describe('zero-copy over the sim NIC: frontend + CTL + file backend', () => {
  it('never lends a pooled segment again while a Data-In PDU that borrowed it is incomplete', async () => {
    const env = await start();
    env.nic.holdCompletions(true);
    const blocks = SEGMENT / BLOCK;
    const first: number[] = [];
    for (let i = 0; i < POOL_SEGMENTS; i++) first.push(await env.read(i * blocks, blocks));
    await waitFor(() => first.every((t) => env.done(t)), 'the first reads on the wire');
    for (const [i, t] of first.entries()) expect(env.dataOf(t, SEGMENT).equals(blockPattern(i * blocks, blocks))).toBe(true);
    // Every segment is still lent: their PDUs' completions are held by the NIC.
    expect(env.nic.heldCompletions).toBeGreaterThan(0);
    expect(env.pool.stats.inUse).toBe(POOL_SEGMENTS);
    expect(env.pool.stats.free).toBe(0);

    const late = await env.read(20 * blocks, blocks);
    // The fifth read waits for memory instead of reusing a borrowed segment.
    await waitFor(() => env.pool.stats.waiters === 1, 'the fifth read waiting for a segment');
    await settle();
    expect(env.peer.received.some((p) => itt(p) === late)).toBe(false);

    env.nic.holdCompletions(false);
    await waitFor(() => env.done(late), 'the fifth read');
    expect(env.status(late)).toBe(0);
    expect(env.dataOf(late, SEGMENT).equals(blockPattern(20 * blocks, blocks))).toBe(true);
    await waitFor(() => env.pool.stats.inUse === 0, 'every segment back in the pool');
    expect(env.counters.copiedOut).toBe(0);
  });

  it('keeps data intact with reordered completions and a wire cut into 1000-byte pieces', async () => {
    const env = await start();
    env.nic.reorderCompletions(true);
    env.nic.maxSegment(1000);
    const reads: Array<{ tag: number; lba: number; blocks: number }> = [];
    // 24 reads of mixed sizes (up to 2 pieces each) over 4 segments: segments are reused many times.
    for (let i = 0; i < 24; i++) {
      const blocks = [8, 128, 200, 256][i % 4]!;
      const lba = (i * 997) % (LUN_BYTES / BLOCK - 256);
      reads.push({ tag: await env.read(lba, blocks), lba, blocks });
    }
    await waitFor(() => reads.every((r) => env.done(r.tag)), 'all reads', 20_000);
    for (const r of reads) {
      expect(env.status(r.tag)).toBe(0);
      const got = env.dataOf(r.tag, r.blocks * BLOCK);
      expect(got.includes(Buffer.alloc(BLOCK, POISON)), `poison in ITT ${r.tag}`).toBe(false);
      expect(got.equals(blockPattern(r.lba, r.blocks)), `data of ITT ${r.tag}`).toBe(true);
    }
    await waitFor(() => env.pool.stats.inUse === 0, 'every segment back in the pool');
    expect(env.pool.stats.highWater).toBeLessThanOrEqual(POOL_SEGMENTS);
  });

  it('completions held past the end of the session and of the LUN keep only the buffers; they return afterwards', async () => {
    const env = await start();
    env.nic.holdCompletions(true);
    const a = await env.read(0, 128);
    const b = await env.read(1024, 128);
    await waitFor(() => env.done(a) && env.done(b), 'both reads on the wire');
    expect(env.pool.stats.inUse).toBe(2);

    env.session.terminate('test: session ends while the NIC holds buffers');
    await env.session.closed;
    await env.ctl.removeLun(0);
    expect(env.ctl.luns()).toHaveLength(0);
    // Session and LUN are gone; the NIC still holds the PDUs, so the buffers stay lent.
    await settle();
    expect(env.nic.heldCompletions).toBeGreaterThan(0);
    expect(env.pool.stats.inUse).toBe(2);

    const released = await env.nic.releaseCompletions();
    expect(released).toBeGreaterThan(0);
    await settle();
    expect(env.pool.stats.inUse).toBe(0);
    expect(env.pool.stats.free).toBe(2);
  });

  it('stalled completions bound memory: the pool cap holds and commands wait (backpressure)', async () => {
    const env = await start();
    env.nic.holdCompletions(true);
    const blocks = SEGMENT / BLOCK;
    const tags: number[] = [];
    for (let i = 0; i < 48; i++) tags.push(await env.read(i * blocks, blocks));
    // File reads go through the libuv threadpool: wait until the pool is lent out and commands
    // queue for it, then give it more time; nothing more may happen while completions stall.
    await waitFor(
      () => tags.filter((t) => env.done(t)).length >= POOL_SEGMENTS && env.pool.stats.waiters > 0,
      'the pool lent out, later reads waiting',
    );
    await settle(60);
    await new Promise((r) => setTimeout(r, 50));
    const stats = env.pool.stats;
    expect(stats.allocated).toBe(POOL_SEGMENTS);
    expect(stats.inUse).toBe(POOL_SEGMENTS);
    expect(stats.waiters).toBeGreaterThan(0);
    expect(tags.filter((t) => env.done(t))).toHaveLength(POOL_SEGMENTS);
    // What the NIC holds is bounded by the pool: 4 segments of payload plus headers.
    expect(env.nic.sendQueueBytes).toBeLessThan(POOL_SEGMENTS * SEGMENT + 64 * 1024);

    env.nic.holdCompletions(false);
    await waitFor(() => tags.every((t) => env.done(t)), 'all 48 reads', 20_000);
    for (const [i, t] of tags.entries()) expect(env.dataOf(t, SEGMENT).equals(blockPattern(i * blocks, blocks)), `ITT ${t}`).toBe(true);
    await waitFor(() => env.pool.stats.inUse === 0, 'every segment back');
    expect(env.pool.stats.highWater).toBe(POOL_SEGMENTS);
  });

  it('a connection reset completes every held PDU exactly once and returns every buffer', async () => {
    const env = await start();
    env.nic.holdCompletions(true);
    const blocks = SEGMENT / BLOCK;
    const tags: number[] = [];
    for (let i = 0; i < 8; i++) tags.push(await env.read(i * blocks, blocks));
    await waitFor(() => env.pool.stats.inUse === POOL_SEGMENTS && env.pool.stats.waiters > 0, 'the pool lent out');
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onError);
    try {
      // A double completion would release a beio twice: RefCountError thrown from the callback.
      env.nic.reset();
      await env.session.closed;
      // Reads still in the threadpool finish later; wait for the end state, then give double
      // completions time to show up.
      await waitFor(() => env.pool.stats.inUse === 0 && env.session.outstanding === 0, 'every buffer back after the reset');
      await settle(60);
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(errors).toEqual([]);
    expect(env.nic.heldCompletions).toBe(0);
    expect(env.pool.stats.inUse).toBe(0);
    expect(env.pool.stats.waiters).toBe(0);
    expect(env.session.outstanding).toBe(0);
  });

  it.each([
    ['no-copy', false],
    ['copy', true],
  ] as const)('writes arrive intact through a wire cut into 700-byte pieces; %s mode counts the copies', async (_name, copyMode) => {
    const env = await start({ copyMode });
    env.far.maxSegment(700);
    const data = Buffer.alloc(3 * SEGMENT);
    for (let i = 0; i < data.length; i += 4) data.writeUInt32BE((i * 2654435761) >>> 0, i);
    const before = env.counters.snapshot();
    const tag = await env.write(2048, data);
    expect(env.status(tag)).toBe(0);
    // The received payload: exactly the bytes of the three pieces, by reference or copied.
    const after = env.counters.snapshot();
    if (copyMode) {
      expect(after.copiedIn - before.copiedIn).toBe(data.length);
    } else {
      expect(after.copiedIn - before.copiedIn).toBe(0);
      expect(after.referencedIn - before.referencedIn).toBe(data.length);
    }
    const onDisk = readFileSync(env.file).subarray(2048 * BLOCK, 2048 * BLOCK + data.length);
    expect(onDisk.equals(data)).toBe(true);
    // Reading it back over the same wire returns the same bytes.
    const back = await env.read(2048, data.length / BLOCK);
    await waitFor(() => env.done(back), 'read back');
    expect(env.dataOf(back, data.length).equals(data)).toBe(true);
    await waitFor(() => env.pool.stats.inUse === 0, 'every segment back');
  });
});
