/**
 * A Ctl + fake port + RAM LUN wired together, with `exec(cdb)` returning the
 * completed command's status, decoded sense and Data-In.
 */
import {
  Ctl,
  decodeSense,
  newScsiIo,
  TagType,
  type CtlOptions,
  type LunAlua,
  type PortAlua,
  type IoStatus,
  type ScsiIo,
  type SenseInfo,
} from '@iscsi-target/ctl-core';
import { FakePort } from './fake-port.js';
import { RamLun, type RamLunOptions } from './ram-lun.js';

export interface StartOpts {
  lun?: number;
  tag?: number;
  tagType?: TagType;
  dataOut?: Buffer;
  initiator?: number;
  edtl?: number;
}

export interface ExecResult {
  io: ScsiIo;
  status: IoStatus;
  scsiStatus: number;
  senseData: Buffer | null;
  sense: SenseInfo | null;
  data: Buffer;
}

export class Harness {
  readonly ctl: Ctl;
  readonly port: FakePort;
  readonly targetPort: number;
  readonly initiator: number;
  readonly lun: RamLun;
  readonly lunId: number;
  #tag = 1;

  constructor(
    opts: {
      lun?: RamLunOptions;
      ctl?: CtlOptions;
      lunMap?: ReadonlyMap<number, number>;
      alua?: PortAlua | null;
      portName?: string;
      lunAlua?: LunAlua;
    } = {},
  ) {
    this.ctl = new Ctl(opts.ctl ?? {});
    this.port = new FakePort({ lunMap: opts.lunMap ?? null, alua: opts.alua ?? null, ...(opts.portName ? { name: opts.portName } : {}) });
    this.port.ctl = this.ctl;
    this.targetPort = this.ctl.registerPort(this.port);
    this.initiator = this.ctl.addInitiator(this.targetPort, 'iqn.1994-05.com.redhat:host1,i,0x023d00000001');
    this.lun = new RamLun(opts.lun ?? {});
    this.lunId = this.ctl.addLun(this.lun, undefined, opts.lunAlua ? { alua: opts.lunAlua } : {});
  }

  /** Builds and runs a command; returns the I/O (not yet complete). */
  start(cdb: Buffer, o: StartOpts = {}): ScsiIo {
    const io = newScsiIo({
      nexus: { initiatorIndex: o.initiator ?? this.initiator, targetPort: this.targetPort, lun: o.lun ?? 0 },
      tagNum: o.tag ?? this.#tag++,
      tagType: o.tagType ?? TagType.Simple,
      cdb,
      // An initiator's EDTL covers the Data-Out it sends.
      expectedDataTransferLength: o.edtl ?? o.dataOut?.length ?? 0,
    });
    if (o.dataOut) this.port.dataOut.set(io, o.dataOut);
    this.port.call(() => this.ctl.run(io));
    return io;
  }

  /** Runs a command to completion. */
  async exec(cdb: Buffer, o: StartOpts = {}): Promise<ExecResult> {
    const io = this.start(cdb, o);
    await this.port.whenDone(io);
    return result(io, this.port);
  }

  /** Consumes the POWER ON unit attention of the default initiator. */
  async clearUa(lun = 0, initiator = this.initiator): Promise<void> {
    for (let i = 0; i < 8; i++) {
      const r = await this.exec(Buffer.from([0, 0, 0, 0, 0, 0]), { lun, initiator });
      if (r.sense?.senseKey !== 0x6) return;
    }
  }
}

export function result(io: ScsiIo, port: FakePort): ExecResult {
  return {
    io,
    status: io.status,
    scsiStatus: io.scsiStatus,
    senseData: io.senseData,
    sense: io.senseData ? decodeSense(io.senseData) : null,
    data: port.dataIn.get(io) ?? Buffer.alloc(0),
  };
}

/** Waits until queued microtasks and one macrotask turn have run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
