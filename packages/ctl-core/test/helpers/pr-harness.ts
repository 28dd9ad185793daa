/**
 * Reservation tests: a Ctl with one RAM LUN (optionally with an in-memory
 * `PrStore`), one fake port and several initiators, plus CDB builders for
 * RESERVE/RELEASE and PERSISTENT RESERVE IN/OUT.
 */
import { expect } from 'vitest';
import {
  Ctl,
  IoStatus,
  newScsiIo,
  ScsiStatus,
  TagType,
  type PrSnapshot,
  type PrStore,
  type ScsiIo,
} from '@iscsi-target/ctl-core';
import { FakePort } from './fake-port.js';
import { result, type ExecResult } from './harness.js';
import { RamLun, type RamLunOptions } from './ram-lun.js';

/** An in-memory `PrStore` recording every save; saves may be held or made to fail. */
export class MemPrStore implements PrStore {
  persisted: PrSnapshot | null;
  readonly saves: (PrSnapshot | null)[] = [];
  /** Hold saves until `flush()`. */
  hold = false;
  /** Make the next saves fail. */
  fail = false;
  #held: (() => void)[] = [];

  constructor(initial: PrSnapshot | null = null) {
    this.persisted = initial;
  }

  load(): PrSnapshot | null {
    return this.persisted;
  }

  save(snapshot: PrSnapshot | null): Promise<void> {
    const run = (resolve: () => void, reject: (e: Error) => void): void => {
      if (this.fail) return reject(new Error('disk on fire'));
      this.saves.push(snapshot);
      this.persisted = snapshot;
      resolve();
    };
    return new Promise((resolve, reject) => {
      if (this.hold) this.#held.push(() => run(resolve, reject));
      else run(resolve, reject);
    });
  }

  get pending(): number {
    return this.#held.length;
  }

  flush(): void {
    const held = this.#held;
    this.#held = [];
    for (const h of held) h();
  }
}

export const PORT_NAME = 'iqn.2026-01.org.example:disk0,t,0x0001';

/** Initiator port name n (a, b, c...). */
export function initiatorName(n: number): string {
  return `iqn.1994-05.com.example:host${n},i,0x23d00000000${n}`;
}

export interface PrExecOpts {
  dataOut?: Buffer;
  tag?: number;
}

export class PrHarness {
  readonly ctl: Ctl;
  readonly port: FakePort;
  readonly targetPort: number;
  readonly lun: RamLun;
  /** CTL initiator indices of initiators 0, 1, 2. */
  readonly ini: number[] = [];
  #tag = 1;

  constructor(opts: { store?: PrStore; lun?: RamLunOptions; initiators?: number } = {}) {
    this.ctl = new Ctl();
    this.port = new FakePort({ name: PORT_NAME });
    this.port.ctl = this.ctl;
    this.targetPort = this.ctl.registerPort(this.port);
    for (let i = 0; i < (opts.initiators ?? 3); i++) this.ini.push(this.ctl.addInitiator(this.targetPort, initiatorName(i)));
    this.lun = new RamLun(opts.lun ?? {});
    this.ctl.addLun(this.lun, 0, opts.store ? { prStore: opts.store } : {});
  }

  start(who: number, cdb: Buffer, o: PrExecOpts = {}): ScsiIo {
    const io = newScsiIo({
      nexus: { initiatorIndex: this.ini[who]!, targetPort: this.targetPort, lun: 0 },
      tagNum: o.tag ?? this.#tag++,
      tagType: TagType.Simple,
      cdb,
      expectedDataTransferLength: o.dataOut?.length ?? 0,
    });
    if (o.dataOut) this.port.dataOut.set(io, o.dataOut);
    this.port.call(() => this.ctl.run(io));
    return io;
  }

  async exec(who: number, cdb: Buffer, o: PrExecOpts = {}): Promise<ExecResult> {
    const io = this.start(who, cdb, o);
    await this.port.whenDone(io);
    return result(io, this.port);
  }

  /** Consumes pending unit attentions of every initiator. */
  async clearUa(): Promise<void> {
    for (let who = 0; who < this.ini.length; who++) await this.takeUas(who);
  }

  /** Reports (and so clears) every pending unit attention of `who`: their ASC/ASCQ pairs. */
  async takeUas(who: number): Promise<[number, number][]> {
    const out: [number, number][] = [];
    for (let i = 0; i < 16; i++) {
      const r = await this.exec(who, Buffer.alloc(6)); // TEST UNIT READY
      if (r.sense?.senseKey !== 0x6) return out;
      out.push([r.sense.asc, r.sense.ascq]);
    }
    return out;
  }

  prout(who: number, p: ProutArgs): Promise<ExecResult> {
    const { cdb, data } = proutCdb(p);
    return this.exec(who, cdb, { dataOut: data });
  }

  prin(who: number, sa: number, alloc = 1024): Promise<ExecResult> {
    return this.exec(who, prinCdb(sa, alloc));
  }

  /** READ KEYS as [generation, keys]. */
  async keys(who = 0): Promise<[number, bigint[]]> {
    const r = await this.prin(who, 0);
    expectGoodStatus(r);
    const n = r.data.readUInt32BE(4) / 8;
    const keys: bigint[] = [];
    for (let i = 0; i < n; i++) keys.push(r.data.readBigUInt64BE(8 + 8 * i));
    return [r.data.readUInt32BE(0), keys];
  }
}

export interface ProutArgs {
  sa: number;
  type?: number;
  scope?: number;
  key?: bigint;
  saKey?: bigint;
  /** Byte 20 of the parameter list (SPEC_I_PT 0x08, ALL_TG_PT 0x04, APTPL 0x01). */
  flags?: number;
  /** PARAMETER LIST LENGTH (default 24) and the data actually sent (default that many bytes). */
  length?: number;
  data?: Buffer;
}

export function proutCdb(p: ProutArgs): { cdb: Buffer; data: Buffer } {
  const len = p.length ?? p.data?.length ?? 24;
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x5f;
  cdb[1] = p.sa;
  cdb[2] = ((p.scope ?? 0) << 4) | (p.type ?? 0);
  cdb.writeUInt32BE(len, 5);
  let data = p.data;
  if (!data) {
    data = Buffer.alloc(len);
    if (len >= 24) {
      data.writeBigUInt64BE(p.key ?? 0n, 0);
      data.writeBigUInt64BE(p.saKey ?? 0n, 8);
      data[20] = p.flags ?? 0;
    }
  }
  return { cdb, data };
}

export function prinCdb(sa: number, alloc: number): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = 0x5e;
  cdb[1] = sa;
  cdb.writeUInt16BE(alloc, 7);
  return cdb;
}

/** REGISTER AND MOVE parameter list (SPC-4 §6.16.4). */
export function moveData(key: bigint, saKey: bigint, rtpi: number, tid: Buffer, flags = 0): Buffer {
  const d = Buffer.alloc(24 + tid.length);
  d.writeBigUInt64BE(key, 0);
  d.writeBigUInt64BE(saKey, 8);
  d[17] = flags;
  d.writeUInt16BE(rtpi, 18);
  d.writeUInt32BE(tid.length, 20);
  tid.copy(d, 24);
  return d;
}

/** RESERVATION CONFLICT status, no sense data. */
export function expectConflict(r: ExecResult): void {
  expect(r.status).toBe(IoStatus.ScsiError);
  expect(r.scsiStatus).toBe(ScsiStatus.ReservationConflict);
  expect(r.senseData).toBeNull();
}

export function expectGoodStatus(r: ExecResult): void {
  expect(r.senseData).toBeNull();
  expect(r.status).toBe(IoStatus.Success);
  expect(r.scsiStatus).toBe(ScsiStatus.Good);
}
