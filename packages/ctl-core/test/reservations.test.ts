/**
 * Reservations: SPC-2 RESERVE/RELEASE, PERSISTENT RESERVE IN/OUT service
 * actions, the RESERVATION CONFLICT rules of SPC-4 §5.13.1 table 66 for every
 * type, unit attentions, PREEMPT AND ABORT, REGISTER AND MOVE and APTPL.
 */
import { describe, expect, it } from 'vitest';
import { CtlError, encodeIscsiTransportId, newTaskIo, ScsiOpcode as Op, TaskAction, type PrSnapshot } from '@iscsi-target/ctl-core';
import * as C from './helpers/cdb.js';
import { expectCheck, expectGood, expectInvalidField } from './helpers/expect.js';
import { settle } from './helpers/harness.js';
import {
  expectConflict,
  expectGoodStatus,
  initiatorName,
  MemPrStore,
  moveData,
  PORT_NAME,
  PrHarness,
} from './helpers/pr-harness.js';

const A = 0;
const B = 1;
const X = 2; // never registered
const KA = 0xaaaa000000000001n;
const KB = 0xbbbb000000000002n;
const SA = { Register: 0, Reserve: 1, Release: 2, Clear: 3, Preempt: 4, PreemptAndAbort: 5, RegisterIgnore: 6, Move: 7 };
const T = { WE: 1, EA: 3, WERO: 5, EARO: 6, WEAR: 7, EAAR: 8 };
const reserve6 = (b1 = 0): Buffer => Buffer.from([0x16, b1, 0, 0, 0, 0]);
const release6 = (): Buffer => Buffer.from([0x17, 0, 0, 0, 0, 0]);
const reserve10 = (len = 0): Buffer => Buffer.from([0x56, 0, 0, 0, 0, 0, 0, len >> 8, len & 0xff, 0]);
const read10 = (): Buffer => C.rw10(Op.Read10, 0, 1);
const write10 = (): Buffer => C.rw10(Op.Write10, 0, 1);
const block = Buffer.alloc(512, 0x42);

async function setup(opts: ConstructorParameters<typeof PrHarness>[0] = {}): Promise<PrHarness> {
  const h = new PrHarness(opts);
  await h.clearUa();
  return h;
}

async function registerBoth(h: PrHarness): Promise<void> {
  expectGood(await h.prout(A, { sa: SA.Register, saKey: KA }));
  expectGood(await h.prout(B, { sa: SA.Register, saKey: KB }));
}

function tmf(h: PrHarness, who: number, action: number): Promise<unknown> {
  const tio = newTaskIo({ nexus: { initiatorIndex: h.ini[who]!, targetPort: h.targetPort, lun: 0 }, taskAction: action as never, tagNum: 9999 });
  h.ctl.run(tio);
  return h.port.whenDone(tio);
}

describe('SPC-2 RESERVE / RELEASE', () => {
  it('the holder keeps access; another I_T nexus gets RESERVATION CONFLICT except for INQUIRY, REQUEST SENSE, REPORT LUNS and RELEASE', async () => {
    const h = await setup();
    expectGood(await h.exec(A, reserve6()));
    expectGood(await h.exec(A, reserve6())); // the holder may reserve again
    expectConflict(await h.exec(B, reserve6()));
    expectConflict(await h.exec(B, C.tur()));
    expectConflict(await h.exec(B, read10()));
    expectConflict(await h.exec(B, C.modeSense6(0x3f)));
    expectGood(await h.exec(B, C.inquiry(false, 0, 36)));
    expectGood(await h.exec(B, C.requestSense(false, 18)));
    expectGood(await h.exec(B, C.reportLuns(0, 64)));
    expectGood(await h.exec(B, release6())); // not the holder: GOOD, no effect
    expectConflict(await h.exec(B, write10(), { dataOut: block }));
    expectGood(await h.exec(A, read10()));
    expectGood(await h.exec(A, write10(), { dataOut: block }));
    expectGood(await h.exec(A, release6()));
    expectGood(await h.exec(B, reserve10()));
    expectConflict(await h.exec(A, C.tur()));
  });

  it('is released by LOGICAL UNIT RESET, TARGET RESET and I_T nexus loss', async () => {
    const h = await setup();
    expectGood(await h.exec(A, reserve6()));
    await tmf(h, B, TaskAction.LogicalUnitReset);
    await h.clearUa();
    expectGood(await h.exec(B, reserve6()));
    await tmf(h, A, TaskAction.TargetReset);
    await h.clearUa();
    expectGood(await h.exec(A, reserve6()));
    h.ctl.removeInitiator(h.targetPort, h.ini[A]!);
    await h.clearUa();
    expectGood(await h.exec(B, reserve6()));
    await tmf(h, B, TaskAction.ItNexusReset);
    await h.clearUa();
    expectGood(await h.exec(A, reserve6()));
  });

  it('third-party reservations are INVALID FIELD IN CDB', async () => {
    const h = await setup();
    expectInvalidField(await h.exec(A, reserve6(0x10)), 1, 4);
    expectInvalidField(await h.exec(A, reserve10(8)), 8, 3);
  });

  it('conflicts with persistent reservations both ways (SPC-3 §5.6.3)', async () => {
    const h = await setup();
    expectGood(await h.exec(A, reserve6()));
    expectConflict(await h.prin(A, 0)); // even the holder
    expectConflict(await h.prout(A, { sa: SA.Register, saKey: KA }));
    expectGood(await h.exec(A, release6()));
    expectGood(await h.prout(B, { sa: SA.Register, saKey: KB }));
    expectConflict(await h.exec(A, reserve6()));
    expectConflict(await h.exec(B, reserve6()));
    expectConflict(await h.exec(B, release6()));
  });
});

describe('PERSISTENT RESERVE IN', () => {
  it('READ KEYS: generation and keys in registration order; truncated to the allocation length', async () => {
    const h = await setup();
    expect([...(await h.prin(A, 0)).data]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    await registerBoth(h);
    const [gen, keys] = await h.keys();
    expect(gen).toBe(2);
    expect(keys).toEqual([KA, KB]);
    const r = await h.prin(A, 0, 12);
    expectGood(r);
    expect([...r.data]).toEqual([0, 0, 0, 2, 0, 0, 0, 16, 0xaa, 0xaa, 0, 0]);
  });

  it('READ RESERVATION: none, a holder type, and key 0 for All Registrants', async () => {
    const h = await setup();
    expect([...(await h.prin(A, 1)).data]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    await registerBoth(h);
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.WERO, key: KA }));
    let r = await h.prin(B, 1);
    expect(r.data.length).toBe(24);
    expect(r.data.readUInt32BE(0)).toBe(2);
    expect(r.data.readUInt32BE(4)).toBe(16);
    expect(r.data.readBigUInt64BE(8)).toBe(KA);
    expect([...r.data.subarray(16)]).toEqual([0, 0, 0, 0, 0, T.WERO, 0, 0]);
    expectGood(await h.prout(A, { sa: SA.Release, type: T.WERO, key: KA }));
    expect(await h.takeUas(B)).toEqual([[0x2a, 0x04]]);
    expectGood(await h.prout(B, { sa: SA.Reserve, type: T.EAAR, key: KB }));
    r = await h.prin(A, 1);
    expect(r.data.readBigUInt64BE(8)).toBe(0n);
    expect(r.data[21]).toBe(T.EAAR);
  });

  it('REPORT CAPABILITIES: CRH, TMV, all six types; PTPL_C only with a store; PTPL_A follows APTPL', async () => {
    let h = await setup();
    expect([...(await h.prin(A, 2)).data]).toEqual([0, 8, 0x10, 0x80, 0xea, 0x01, 0, 0]);
    const store = new MemPrStore();
    h = await setup({ store });
    expect([...(await h.prin(A, 2)).data]).toEqual([0, 8, 0x11, 0x80, 0xea, 0x01, 0, 0]);
    expectGood(await h.prout(A, { sa: SA.Register, saKey: KA, flags: 0x01 }));
    expect([...(await h.prin(A, 2)).data]).toEqual([0, 8, 0x11, 0x81, 0xea, 0x01, 0, 0]);
  });

  it('READ FULL STATUS: one descriptor per registration with R_HOLDER, type, relative port and iSCSI TransportID', async () => {
    const h = await setup();
    await registerBoth(h);
    expectGood(await h.prout(B, { sa: SA.Reserve, type: T.EA, key: KB }));
    const r = await h.prin(A, 3);
    expectGood(r);
    expect(r.data.readUInt32BE(0)).toBe(2);
    const name0 = initiatorName(0);
    const tidLen = 4 + ((name0.length + 1 + 3) & ~3);
    expect(r.data.readUInt32BE(4)).toBe(2 * (24 + tidLen));
    const d0 = r.data.subarray(8, 8 + 24 + tidLen);
    expect(d0.readBigUInt64BE(0)).toBe(KA);
    expect([...d0.subarray(8, 18)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // not the holder
    expect(d0.readUInt16BE(18)).toBe(1);
    expect(d0.readUInt32BE(20)).toBe(tidLen);
    // FORMAT CODE 01b, PROTOCOL IDENTIFIER 5 (iSCSI), ADDITIONAL LENGTH, NUL-terminated name.
    expect(d0[24]).toBe(0x45);
    expect(d0.readUInt16BE(26)).toBe(tidLen - 4);
    expect(d0.subarray(28, 28 + name0.length).toString()).toBe(name0);
    expect(d0[28 + name0.length]).toBe(0);
    const d1 = r.data.subarray(8 + 24 + tidLen);
    expect(d1.readBigUInt64BE(0)).toBe(KB);
    expect(d1[12]).toBe(0x01); // R_HOLDER
    expect(d1[13]).toBe(T.EA);
  });

  it('an unsupported service action or a reserved bit is INVALID FIELD IN CDB', async () => {
    const h = await setup();
    for (let sa = 4; sa < 0x20; sa++) expectInvalidField(await h.prin(A, sa), 1, 4);
    const cdb = Buffer.from([0x5e, 0, 0x80, 0, 0, 0, 0, 0, 8, 0]);
    expectInvalidField(await h.exec(A, cdb), 2, 7);
  });
});

describe('PERSISTENT RESERVE OUT: REGISTER', () => {
  it('registers, changes and removes a key; the generation counts each change', async () => {
    const h = await setup();
    expectConflict(await h.prout(A, { sa: SA.Register, key: KA, saKey: KA })); // unregistered, non-zero key
    expectGood(await h.prout(A, { sa: SA.Register })); // key 0 → 0: nothing happens
    expect(await h.keys()).toEqual([0, []]);
    expectGood(await h.prout(A, { sa: SA.Register, saKey: KA }));
    expect(await h.keys()).toEqual([1, [KA]]);
    expectConflict(await h.prout(A, { sa: SA.Register, key: KB, saKey: KB })); // wrong key
    expectGood(await h.prout(A, { sa: SA.Register, key: KA, saKey: KB }));
    expect(await h.keys()).toEqual([2, [KB]]);
    expectGood(await h.prout(A, { sa: SA.Register, key: KB, saKey: 0n }));
    expect(await h.keys()).toEqual([3, []]);
  });

  it('REGISTER AND IGNORE EXISTING KEY ignores the RESERVATION KEY field', async () => {
    const h = await setup();
    expectGood(await h.prout(A, { sa: SA.RegisterIgnore, key: 0x1234n, saKey: KA }));
    expectGood(await h.prout(A, { sa: SA.RegisterIgnore, key: 0x9999n, saKey: KB }));
    expect(await h.keys()).toEqual([2, [KB]]);
    expectGood(await h.prout(A, { sa: SA.RegisterIgnore, key: 0x1n, saKey: 0n }));
    expect(await h.keys()).toEqual([3, []]);
  });

  it('parameter list length, SPEC_I_PT, ALL_TG_PT and APTPL without a store are refused exactly', async () => {
    const h = await setup();
    for (const length of [0, 23, 4097]) {
      expectCheck(await h.prout(A, { sa: SA.Register, saKey: KA, length }), 0x05, 0x1a, 0x00);
    }
    expectCheck(await h.prout(A, { sa: SA.Register, saKey: KA, length: 28 }), 0x05, 0x1a, 0x00);
    expectCheck(await h.prout(A, { sa: SA.Register, saKey: KA, flags: 0x08, length: 28 }), 0x05, 0x26, 0x00, { field: 20, bit: 3, cd: false });
    expectCheck(await h.prout(A, { sa: SA.Register, saKey: KA, flags: 0x04 }), 0x05, 0x26, 0x00, { field: 20, bit: 2, cd: false });
    expectCheck(await h.prout(A, { sa: SA.Register, saKey: KA, flags: 0x01 }), 0x05, 0x26, 0x00, { field: 20, bit: 0, cd: false });
    expect(await h.keys()).toEqual([0, []]);
    // An unsupported service action (8..31) is INVALID FIELD IN CDB at the SERVICE ACTION field.
    expectInvalidField(await h.prout(A, { sa: 8, saKey: KA }), 1, 4);
  });
});

describe('PERSISTENT RESERVE OUT: RESERVE and access (SPC-4 §5.13.1 table 66)', () => {
  it('checks type, scope, registration and key', async () => {
    const h = await setup();
    expectInvalidField(await h.prout(A, { sa: SA.Reserve, type: 2, key: KA }), 2, 3);
    expectInvalidField(await h.prout(A, { sa: SA.Reserve, type: 0, key: KA }), 2, 3);
    expectInvalidField(await h.prout(A, { sa: SA.Reserve, type: T.WE, scope: 1, key: KA }), 2, 7);
    expectConflict(await h.prout(A, { sa: SA.Reserve, type: T.WE, key: KA })); // not registered
    await registerBoth(h);
    expectConflict(await h.prout(A, { sa: SA.Reserve, type: T.WE, key: KB })); // someone else's key
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.WE, key: KA }));
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.WE, key: KA })); // same again
    expectConflict(await h.prout(A, { sa: SA.Reserve, type: T.EA, key: KA })); // another type
    expectConflict(await h.prout(B, { sa: SA.Reserve, type: T.WE, key: KB }));
    expect((await h.keys())[0]).toBe(2); // RESERVE does not change the generation
  });

  // [type, registered B reads, registered B writes, unregistered X reads, unregistered X writes] (libiscsi's matrix).
  const matrix: [string, number, boolean, boolean, boolean, boolean][] = [
    ['WE', T.WE, true, false, true, false],
    ['EA', T.EA, false, false, false, false],
    ['WERO', T.WERO, true, true, true, false],
    ['EARO', T.EARO, true, true, false, false],
    ['WEAR', T.WEAR, true, true, true, false],
    ['EAAR', T.EAAR, true, true, false, false],
  ];
  for (const [name, type, bRead, bWrite, xRead, xWrite] of matrix) {
    it(`${name}: holder, registrant and non-registrant access`, async () => {
      const h = await setup();
      await registerBoth(h);
      expectGood(await h.prout(A, { sa: SA.Reserve, type, key: KA }));
      expectGood(await h.exec(A, read10()));
      expectGood(await h.exec(A, write10(), { dataOut: block }));
      const check = async (who: number, cdb: Buffer, ok: boolean, data?: Buffer): Promise<void> => {
        const r = await h.exec(who, cdb, data ? { dataOut: data } : {});
        if (ok) expectGoodStatus(r);
        else expectConflict(r);
      };
      await check(B, read10(), bRead);
      await check(B, write10(), bWrite, block);
      await check(X, read10(), xRead);
      await check(X, write10(), xWrite, block);
      // Allowed under every type: TEST UNIT READY, INQUIRY, READ CAPACITY, PERSISTENT RESERVE IN.
      await check(X, C.tur(), true);
      await check(X, C.inquiry(false, 0, 36), true);
      await check(X, C.readCapacity10(), true);
      await check(X, Buffer.from([0x5e, 0, 0, 0, 0, 0, 0, 0, 8, 0]), true);
      // MODE SENSE reads like READ; MODE SELECT and SYNCHRONIZE CACHE conflict.
      await check(X, C.modeSense6(0x3f), xRead);
      await check(X, C.syncCache10(0, 0), false);
      expectGood(await h.prout(A, { sa: SA.Release, type, key: KA }));
      await check(X, write10(), true, block);
    });
  }

  it('a command queued behind the RESERVE is checked again when it runs', async () => {
    const h = await setup();
    await registerBoth(h);
    h.port.auto = false;
    const res = h.start(A, Buffer.from([0x5f, SA.Reserve, T.EA, 0, 0, 0, 0, 0, 24, 0]), {
      dataOut: (() => {
        const d = Buffer.alloc(24);
        d.writeBigUInt64BE(KA, 0);
        return d;
      })(),
    });
    await settle();
    const rd = h.start(X, read10()); // passes the arrival check, waits behind the PROUT
    await settle();
    expect(h.port.pendingMoves.length).toBe(1);
    h.port.auto = true;
    h.port.finishMove(h.port.pendingMoves[0]!);
    await h.port.whenDone(res);
    await h.port.whenDone(rd);
    expect(rd.scsiStatus).toBe(0x18);
    expect(h.lun.submitted.length).toBe(0);
  });
});

describe('PERSISTENT RESERVE OUT: RELEASE, unregistering, CLEAR', () => {
  it('RELEASE: non-holder GOOD without effect; wrong type INVALID RELEASE; Registrants Only tells the others', async () => {
    const h = await setup();
    await registerBoth(h);
    expectGood(await h.prout(A, { sa: SA.Release, type: T.WE, key: KA })); // nothing reserved
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.WERO, key: KA }));
    expectGood(await h.prout(B, { sa: SA.Release, type: T.WERO, key: KB })); // not the holder
    expect((await h.prin(A, 1)).data[21]).toBe(T.WERO);
    expectConflict(await h.prout(X, { sa: SA.Release, type: T.WERO, key: KA }));
    expectCheck(await h.prout(A, { sa: SA.Release, type: T.WE, key: KA }), 0x05, 0x26, 0x04);
    expectGood(await h.prout(A, { sa: SA.Release, type: T.WERO, key: KA }));
    expect((await h.prin(A, 1)).data.readUInt32BE(4)).toBe(0);
    expect(await h.takeUas(B)).toEqual([[0x2a, 0x04]]);
    expect(await h.takeUas(A)).toEqual([]);
    // A Write Exclusive release establishes nothing.
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.WE, key: KA }));
    expectGood(await h.prout(A, { sa: SA.Release, type: T.WE, key: KA }));
    expect(await h.takeUas(B)).toEqual([]);
  });

  it('unregistering the holder releases; All Registrants lasts until the last registrant goes', async () => {
    const h = await setup();
    await registerBoth(h);
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.EARO, key: KA }));
    expectGood(await h.prout(A, { sa: SA.Register, key: KA, saKey: 0n }));
    expect(await h.takeUas(B)).toEqual([[0x2a, 0x04]]);
    expect((await h.prin(B, 1)).data.readUInt32BE(4)).toBe(0);
    expectGood(await h.prout(A, { sa: SA.Register, saKey: KA }));
    expectGood(await h.prout(B, { sa: SA.Reserve, type: T.WEAR, key: KB }));
    expectGood(await h.prout(B, { sa: SA.Register, key: KB, saKey: 0n }));
    expect((await h.prin(A, 1)).data[21]).toBe(T.WEAR); // A is still a registrant, so a holder
    expectGood(await h.exec(A, write10(), { dataOut: block }));
    expectGood(await h.prout(A, { sa: SA.Register, key: KA, saKey: 0n }));
    expect((await h.prin(A, 1)).data.readUInt32BE(4)).toBe(0);
  });

  it('CLEAR removes everything, bumps the generation, and tells the others RESERVATIONS PREEMPTED', async () => {
    const h = await setup();
    await registerBoth(h);
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.EA, key: KA }));
    expectConflict(await h.prout(B, { sa: SA.Clear, key: KA }));
    expectConflict(await h.prout(X, { sa: SA.Clear, key: 0n }));
    expectGood(await h.prout(B, { sa: SA.Clear, key: KB }));
    expect(await h.takeUas(A)).toEqual([[0x2a, 0x03]]);
    expect(await h.takeUas(B)).toEqual([]);
    expect(await h.keys()).toEqual([3, []]);
    expect((await h.prin(A, 1)).data.readUInt32BE(4)).toBe(0);
    expectGood(await h.exec(X, write10(), { dataOut: block }));
  });
});

describe('PERSISTENT RESERVE OUT: PREEMPT / PREEMPT AND ABORT', () => {
  it('without a reservation: removes the registrations with that key (REGISTRATIONS PREEMPTED)', async () => {
    const h = await setup();
    await registerBoth(h);
    expectCheck(await h.prout(A, { sa: SA.Preempt, type: T.WE, key: KA, saKey: 0n }), 0x05, 0x26, 0x00, { field: 8, cd: false });
    expectConflict(await h.prout(A, { sa: SA.Preempt, type: T.WE, key: KA, saKey: 0x77n }));
    expectConflict(await h.prout(X, { sa: SA.Preempt, type: T.WE, key: 0n, saKey: KB }));
    expectGood(await h.prout(A, { sa: SA.Preempt, type: T.WE, key: KA, saKey: KB }));
    expect(await h.keys()).toEqual([3, [KA]]);
    expect((await h.prin(A, 1)).data.readUInt32BE(4)).toBe(0); // no reservation was created
    expect(await h.takeUas(B)).toEqual([[0x2a, 0x05]]);
  });

  it("preempting the holder's key moves the reservation to the caller with the new type", async () => {
    const h = await setup({ initiators: 4 });
    await registerBoth(h);
    expectGood(await h.prout(3, { sa: SA.Register, saKey: 0x33n }));
    expectGood(await h.prout(B, { sa: SA.Reserve, type: T.WE, key: KB }));
    expectGood(await h.prout(A, { sa: SA.Preempt, type: T.EARO, key: KA, saKey: KB }));
    const r = await h.prin(A, 1);
    expect(r.data.readBigUInt64BE(8)).toBe(KA);
    expect(r.data[21]).toBe(T.EARO);
    expect(await h.keys()).toEqual([4, [KA, 0x33n]]);
    expect(await h.takeUas(B)).toEqual([[0x2a, 0x05]]);
    // The type changed: the remaining registrant hears RESERVATIONS RELEASED.
    expect(await h.takeUas(3)).toEqual([[0x2a, 0x04]]);
    expectConflict(await h.exec(B, read10()));
  });

  it("a key other than the holder's removes registrations only; All Registrants with key 0 removes everyone else", async () => {
    const h = await setup({ initiators: 4 });
    await registerBoth(h);
    expectGood(await h.prout(3, { sa: SA.Register, saKey: 0x33n }));
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.WE, key: KA }));
    expectCheck(await h.prout(B, { sa: SA.Preempt, type: T.WE, key: KB, saKey: 0n }), 0x05, 0x26, 0x00, { field: 8, cd: false });
    expectGood(await h.prout(B, { sa: SA.Preempt, type: T.WE, key: KB, saKey: 0x33n }));
    expect((await h.prin(B, 1)).data.readBigUInt64BE(8)).toBe(KA);
    expectGood(await h.prout(A, { sa: SA.Release, type: T.WE, key: KA }));
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.WEAR, key: KA }));
    expectGood(await h.prout(B, { sa: SA.Preempt, type: T.EA, key: KB, saKey: 0n }));
    expect(await h.keys(B)).toEqual([5, [KB]]);
    const r = await h.prin(B, 1);
    expect(r.data.readBigUInt64BE(8)).toBe(KB);
    expect(r.data[21]).toBe(T.EA);
    expect(await h.takeUas(A)).toEqual([[0x2a, 0x05]]);
  });

  it("PREEMPT AND ABORT aborts the preempted nexus's tasks and completes after them", async () => {
    const h = await setup({ lun: { hold: true } });
    await registerBoth(h);
    expectGood(await h.prout(B, { sa: SA.Reserve, type: T.WE, key: KB }));
    const w = h.start(B, read10());
    await settle();
    expect(h.lun.submitted.length).toBe(1);
    const paa = h.start(A, Buffer.from([0x5f, SA.PreemptAndAbort, T.WE, 0, 0, 0, 0, 0, 24, 0]), {
      dataOut: (() => {
        const d = Buffer.alloc(24);
        d.writeBigUInt64BE(KA, 0);
        d.writeBigUInt64BE(KB, 8);
        return d;
      })(),
    });
    await settle();
    await settle();
    expect(h.port.doneCount(paa)).toBe(0); // waits for B's READ
    expect(w.aborted).toBe(true);
    h.lun.hold = false;
    h.lun.release();
    await h.port.whenDone(paa);
    expect(h.port.completed.indexOf(w)).toBeLessThan(h.port.completed.indexOf(paa));
    expect(paa.scsiStatus).toBe(0);
    expect(w.scsiStatus).toBe(0x40);
    expect(await h.keys()).toEqual([3, [KA]]);
  });
});

describe('PERSISTENT RESERVE OUT: REGISTER AND MOVE', () => {
  const tidB = (): Buffer => encodeIscsiTransportId(initiatorName(B));
  const move = (h: PrHarness, who: number, data: Buffer, type = T.WE): Promise<ReturnType<PrHarness['exec']> extends Promise<infer R> ? R : never> =>
    h.prout(who, { sa: SA.Move, type, data });

  it('moves the reservation to the named I_T nexus, with or without UNREG', async () => {
    const h = await setup();
    expectGood(await h.prout(A, { sa: SA.Register, saKey: KA }));
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.WE, key: KA }));
    expectGood(await move(h, A, moveData(KA, KB, 1, tidB())));
    expect(await h.keys()).toEqual([2, [KA, KB]]);
    let r = await h.prin(A, 1);
    expect(r.data.readBigUInt64BE(8)).toBe(KB);
    expectGood(await h.exec(B, write10(), { dataOut: block }));
    expectConflict(await h.exec(A, write10(), { dataOut: block }));
    // Back to A (format 01 TransportID of A), unregistering B.
    expectGood(await move(h, B, moveData(KB, 0x5n, 1, encodeIscsiTransportId(initiatorName(A)), 0x02)));
    expect(await h.keys()).toEqual([3, [0x5n]]);
    r = await h.prin(A, 1);
    expect(r.data.readBigUInt64BE(8)).toBe(0x5n);
  });

  it('refuses non-holders, All Registrants, a zero key, bad TransportIDs and ports, and itself', async () => {
    const h = await setup();
    await registerBoth(h);
    expectConflict(await move(h, A, moveData(KA, 0x9n, 1, tidB()))); // no reservation
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.WE, key: KA }));
    expectConflict(await move(h, B, moveData(KB, 0x9n, 1, tidB())));
    expectCheck(await move(h, A, moveData(KA, 0n, 1, tidB())), 0x05, 0x26, 0x00, { field: 8, cd: false });
    const bad = tidB();
    bad[0] = 0x05; // FORMAT CODE 00b
    expectCheck(await move(h, A, moveData(KA, 0x9n, 1, bad)), 0x05, 0x26, 0x00, { field: 24, cd: false });
    expectCheck(await move(h, A, moveData(KA, 0x9n, 7, tidB())), 0x05, 0x26, 0x00, { field: 18, cd: false });
    expectCheck(await move(h, A, moveData(KA, 0x9n, 1, encodeIscsiTransportId(initiatorName(A)))), 0x05, 0x26, 0x00, {
      field: 24,
      cd: false,
    });
    const short = moveData(KA, 0x9n, 1, tidB()).subarray(0, 30);
    expectCheck(await h.prout(A, { sa: SA.Move, type: T.WE, data: short }), 0x05, 0x1a, 0x00);
    expectCheck(await move(h, A, moveData(KA, 0x9n, 1, tidB(), 0x01)), 0x05, 0x26, 0x00, { field: 17, bit: 0, cd: false });
    expectGood(await h.prout(A, { sa: SA.Release, type: T.WE, key: KA }));
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.EAAR, key: KA }));
    expectConflict(await move(h, A, moveData(KA, 0x9n, 1, tidB())));
    expect((await h.keys())[0]).toBe(2);
  });
});

describe('APTPL (persist through power loss)', () => {
  it('saves each change while APTPL is on, clears the store when it goes off', async () => {
    const store = new MemPrStore();
    const h = await setup({ store });
    expectGood(await h.prout(A, { sa: SA.Register, saKey: KA })); // APTPL = 0: nothing saved
    expect(store.saves).toEqual([]);
    expectGood(await h.prout(A, { sa: SA.Register, key: KA, saKey: KA, flags: 0x01 }));
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.WERO, key: KA }));
    expect(store.saves.length).toBe(2);
    expect(store.persisted).toEqual({
      version: 1,
      generation: 2,
      registrations: [{ initiator: initiatorName(A), port: PORT_NAME, key: 'aaaa000000000001' }],
      reservation: { holder: { initiator: initiatorName(A), port: PORT_NAME }, type: T.WERO, scope: 0 },
    });
    expectGood(await h.prout(A, { sa: SA.RegisterIgnore, saKey: KA }));
    expect(store.persisted).toBeNull();
    expect(store.saves.length).toBe(3);
  });

  it('completes only once the save is durable; a failed save rolls back with HARDWARE ERROR', async () => {
    const store = new MemPrStore();
    const h = await setup({ store });
    store.hold = true;
    const io = h.start(A, Buffer.from([0x5f, SA.Register, 0, 0, 0, 0, 0, 0, 24, 0]), {
      dataOut: (() => {
        const d = Buffer.alloc(24);
        d.writeBigUInt64BE(KA, 8);
        d[20] = 1;
        return d;
      })(),
    });
    await settle();
    await settle();
    expect(store.pending).toBe(1);
    expect(h.port.doneCount(io)).toBe(0);
    store.flush();
    await h.port.whenDone(io);
    expect(io.scsiStatus).toBe(0);
    store.hold = false;
    store.fail = true;
    expectCheck(await h.prout(A, { sa: SA.Register, key: KA, saKey: KB, flags: 0x01 }), 0x04, 0x44, 0x00);
    expect(await h.keys()).toEqual([1, [KA]]);
  });

  it('a new LUN with the store starts from the saved state (the same I_T nexus is the holder)', async () => {
    const saved: PrSnapshot = {
      version: 1,
      generation: 7,
      registrations: [
        { initiator: initiatorName(B), port: PORT_NAME, key: 'bbbb000000000002' },
        { initiator: initiatorName(A), port: PORT_NAME, key: 'aaaa000000000001' },
      ],
      reservation: { holder: { initiator: initiatorName(B), port: PORT_NAME }, type: T.EA, scope: 0 },
    };
    const h = await setup({ store: new MemPrStore(saved) });
    expect(await h.keys(B)).toEqual([7, [KB, KA]]);
    expect([...(await h.prin(B, 2)).data.subarray(2, 4)]).toEqual([0x11, 0x81]);
    expectGood(await h.exec(B, write10(), { dataOut: block }));
    expectConflict(await h.exec(A, read10()));
  });

  it('a malformed saved state makes addLun throw CTL_ERR_INVALID_PR_STATE', () => {
    const bad = [
      { version: 2, generation: 0, registrations: [], reservation: null },
      { version: 1, generation: -1, registrations: [], reservation: null },
      { version: 1, generation: 0, registrations: [{ initiator: 'x', port: 'p', key: 'zz' }], reservation: null },
      { version: 1, generation: 0, registrations: [], reservation: { holder: { initiator: 'x', port: 'p' }, type: 1, scope: 0 } },
      { version: 1, generation: 0, registrations: [{ initiator: 'x', port: 'p', key: '0000000000000001' }], reservation: { holder: null, type: 1, scope: 0 } },
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        new PrHarness({ store: new MemPrStore(b as unknown as PrSnapshot) });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CtlError);
      expect((err as CtlError).code).toBe('CTL_ERR_INVALID_PR_STATE');
    }
  });

  it('persistent reservations survive LUN reset and I_T nexus loss', async () => {
    const h = await setup();
    await registerBoth(h);
    expectGood(await h.prout(A, { sa: SA.Reserve, type: T.EA, key: KA }));
    await tmf(h, B, TaskAction.LogicalUnitReset);
    h.ctl.removeInitiator(h.targetPort, h.ini[A]!);
    await h.clearUa();
    expectConflict(await h.exec(B, read10()));
    expect((await h.prin(B, 1)).data.readBigUInt64BE(8)).toBe(KA);
  });
});
