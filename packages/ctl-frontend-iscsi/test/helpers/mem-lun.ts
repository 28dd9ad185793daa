/**
 * A minimal in-memory LUN for tests against the real CTL: READ lends a copy
 * of the blocks with a `kernDataRef` counter and marks GOOD before the
 * datamove (phase collapse); WRITE asks for views of the Data-Out and
 * writes them unless the transfer failed.
 */
import {
  DataDirection,
  DataOutMode,
  type BackendLun,
  type BlockRequest,
  type CtlBackendServices,
  type ScsiIo,
} from '@iscsi-target/ctl-core';
import { RefCounter } from '@iscsi-target/ctl-core/testing';

export class MemLun implements BackendLun {
  readonly blockSize = 512;
  readonly numBlocks: number;
  readonly physicalBlockExponent = 0;
  readonly vendor = 'TEST';
  readonly product = 'MEMLUN';
  readonly revision = '0001';
  readonly serialNumber = 'MEM0001';
  readonly deviceId = 'mem0';
  readonly naa = Buffer.from('6000000000000001', 'hex');
  readonly readOnly = false;
  readonly writeCache = false;
  readonly thinProvisioned = false;
  readonly rotationRate = 1;
  readonly maxTransferBlocks = 0;
  readonly optimalTransferBlocks = 0;
  readonly data: Buffer;
  readonly ref = new RefCounter();
  writes = 0;

  constructor(numBlocks: number) {
    this.numBlocks = numBlocks;
    this.data = Buffer.alloc(numBlocks * this.blockSize);
  }

  submit(io: ScsiIo, request: BlockRequest, ctl: CtlBackendServices): void {
    const off = request.lba * this.blockSize;
    const len = request.blocks * this.blockSize;
    if (request.op === 'read') {
      io.dataDirection = DataDirection.In;
      io.kernSgList = [Buffer.from(this.data.subarray(off, off + len))];
      io.kernDataLen = len;
      io.kernRelOffset = 0;
      io.kernDataRef = this.ref.fn;
      io.kernDataArg = this.ref;
      io.beMoveDone = () => ctl.dataSubmitDone(io);
      ctl.setSuccess(io);
      ctl.datamove(io);
    } else if (request.op === 'write') {
      io.dataDirection = DataDirection.Out;
      io.dataOutMode = DataOutMode.Views;
      io.kernSgList = [];
      io.kernDataLen = len;
      io.kernRelOffset = 0;
      io.beMoveDone = () => {
        if (io.portStatus === 0 && !io.aborted) {
          let p = off;
          for (const v of io.kernSgList) p += v.copy(this.data, p);
          this.writes++;
          ctl.setSuccess(io);
        }
        ctl.dataSubmitDone(io);
      };
      ctl.datamove(io);
    } else {
      ctl.setSuccess(io);
      ctl.dataSubmitDone(io);
    }
  }

  async shutdown(): Promise<void> {}
}
