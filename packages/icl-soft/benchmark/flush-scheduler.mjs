// Measures how the soft driver's send-queue flush should be scheduled
// ('microtask' vs 'immediate', SoftDriverOptions.flushScheduler) over the
// tcp NIC driver on loopback. Run after a build:
//   npx tsc -b packages/icl-soft && node packages/icl-soft/benchmark/flush-scheduler.mjs
// What it measures: wall time, throughput and NIC sends (≈ writev calls)
// for 64 KiB Data-In-like PDUs queued in three patterns. What it does not:
// digests, receive, or anything above ICL. Compare on the same machine.
import { performance } from 'node:perf_hooks';
import { tcpNicDriver } from '@iscsi-target/icl-soft';
import { createSoftDriver } from '@iscsi-target/icl-soft';

const PDU = Number(process.env.PDU_BYTES ?? 64 * 1024);
const COUNT = Number(process.env.COUNT ?? 8192);
const block = Buffer.alloc(PDU, 0x5a);
const ref = { retain() {}, release() {} };

/** Queues COUNT PDUs following `pattern`; resolves when all completed and the peer got every byte. */
async function run(flushScheduler, pattern) {
  const driver = createSoftDriver({ flushScheduler });
  let conn;
  const accepted = new Promise((resolve) => {
    tcpNicDriver
      .listen({ host: '127.0.0.1', port: 0 }, (nic) => {
        conn = driver.newConn({ name: 'bench' });
        conn.onError = () => {};
        conn.handoff(nic);
        resolve();
      })
      .then((l) => (listener = l));
  });
  let listener;
  while (listener === undefined) await new Promise((r) => setImmediate(r));
  const peer = await tcpNicDriver.connect({ host: '127.0.0.1', port: listener.port });
  await accepted;
  const wire = COUNT * (48 + PDU);
  let received = 0;
  let resolveDone;
  const allDone = new Promise((r) => (resolveDone = r));
  peer.setHandlers({
    data: (b) => {
      received += b.length;
      if (received === wire) resolveDone();
    },
    drain() {},
    close() {},
  });
  const queueOne = (i) => {
    const pdu = conn.newPdu();
    pdu.bhs[0] = 0x25;
    pdu.bhs.writeUInt32BE(i, 16);
    if (PDU > 0) conn.pduAppendData(pdu, block, { noCopy: true, ref });
    conn.pduQueue(pdu);
  };
  const t0 = performance.now();
  if (pattern === 'burst') {
    // 32 PDUs queued synchronously per turn (one large READ split into Data-In).
    for (let i = 0; i < COUNT; i++) {
      queueOne(i);
      if (i % 32 === 31) await new Promise((r) => setImmediate(r));
    }
  } else if (pattern === 'per-callback') {
    // Each PDU from its own setImmediate callback (completions of separate I/Os
    // landing in the same loop iteration).
    await new Promise((resolve) => {
      let left = COUNT;
      for (let b = 0; b < COUNT; b += 32) {
        setImmediate(() => {
          for (let i = b; i < Math.min(b + 32, COUNT); i++) {
            setImmediate(() => {
              queueOne(i);
              if (--left === 0) resolve();
            });
          }
        });
      }
    });
  } else {
    // Each PDU after an await (promise-based backend completions).
    let i = 0;
    const worker = async () => {
      while (i < COUNT) {
        const n = i++;
        await Promise.resolve();
        queueOne(n);
        if (n % 32 === 31) await new Promise((r) => setImmediate(r));
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }
  await allDone;
  const ms = performance.now() - t0;
  const sends = conn.nicSends;
  conn.free();
  peer.destroy();
  await listener.close();
  return { ms, mbps: wire / 1e6 / (ms / 1e3), sends };
}

const rows = [];
for (const pattern of ['burst', 'per-callback', 'await-chain']) {
  for (const flushScheduler of ['microtask', 'immediate']) {
    await run(flushScheduler, pattern); // warm-up
    const best = [];
    for (let k = 0; k < 3; k++) best.push(await run(flushScheduler, pattern));
    best.sort((a, b) => a.ms - b.ms);
    const r = best[1];
    rows.push({ pattern, flushScheduler, 'MB/s': r.mbps.toFixed(0), 'NIC sends': r.sends, 'PDUs/send': (COUNT / r.sends).toFixed(1) });
  }
}
console.table(rows);
