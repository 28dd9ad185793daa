/**
 * A fake frontend port for the core's tests: records datamoves and
 * completions, collects Data-In (copied, test only), supplies Data-Out from
 * a per-I/O buffer, and either completes datamoves at once (`auto`) or keeps
 * them for the test to finish with `finishMove`.
 */
import { DataDirection, DataOutMode, type Ctl, type CtlIo, type CtlPort, type PortAlua, type ScsiIo } from '@iscsi-target/ctl-core';

export class FakePort implements CtlPort {
  readonly name: string;
  readonly targetName: string;
  readonly lunMap: ReadonlyMap<number, number> | null;
  readonly alua: PortAlua | null;
  ctl: Ctl | null = null;
  /** Complete datamoves immediately. */
  auto = true;
  /** Data the "initiator" sends for an I/O (Data-Out). */
  readonly dataOut = new Map<ScsiIo, Buffer>();
  /** Data-In received per I/O, concatenated in offset order. */
  readonly dataIn = new Map<ScsiIo, Buffer>();
  /** Every datamove call, in order. */
  readonly moves: ScsiIo[] = [];
  /** Datamoves not finished yet (auto = false). */
  readonly pendingMoves: ScsiIo[] = [];
  /** Every done call, in order. */
  readonly completed: CtlIo[] = [];
  /** Calls made re-entrantly (inside run/datamoveDone): must stay empty. */
  readonly reentrant: string[] = [];
  inCall = false;
  readonly #waiters = new Map<CtlIo, ((io: CtlIo) => void)[]>();

  constructor(
    opts: { name?: string; targetName?: string; lunMap?: ReadonlyMap<number, number> | null; alua?: PortAlua | null } = {},
  ) {
    this.targetName = opts.targetName ?? 'iqn.2026-01.org.example:disk0';
    this.name = opts.name ?? `${this.targetName},t,0x0001`;
    this.lunMap = opts.lunMap ?? null;
    this.alua = opts.alua ?? null;
  }

  datamove(io: ScsiIo): void {
    if (this.inCall) this.reentrant.push('datamove');
    this.moves.push(io);
    if (this.auto) this.finishMove(io);
    else this.pendingMoves.push(io);
  }

  /** Moves the piece and reports it done (with `portStatus`, 0 = ok). */
  finishMove(io: ScsiIo, portStatus = 0, shortBy = 0): void {
    const i = this.pendingMoves.indexOf(io);
    if (i >= 0) this.pendingMoves.splice(i, 1);
    if (portStatus === 0) {
      if (io.dataDirection === DataDirection.In) {
        const prev = this.dataIn.get(io) ?? Buffer.alloc(0);
        this.dataIn.set(io, Buffer.concat([prev, ...io.kernSgList]));
        io.kernDataResid = 0;
      } else if (io.dataDirection === DataDirection.Out) {
        const src = this.dataOut.get(io) ?? Buffer.alloc(io.kernRelOffset + io.kernDataLen);
        const n = Math.max(0, io.kernDataLen - shortBy);
        const piece = src.subarray(io.kernRelOffset, io.kernRelOffset + n);
        if (io.dataOutMode === DataOutMode.Views) {
          io.kernSgList = [piece];
        } else {
          let pos = 0;
          for (const b of io.kernSgList) {
            pos += piece.copy(b, 0, pos, Math.min(piece.length, pos + b.length));
          }
        }
        io.kernDataResid = io.kernDataLen - piece.length;
      }
    }
    io.portStatus = portStatus;
    this.call(() => this.ctl?.datamoveDone(io));
  }

  /** Runs `fn` flagged as a frontend call, to detect re-entrant callbacks. */
  call(fn: () => void): void {
    this.inCall = true;
    try {
      fn();
    } finally {
      this.inCall = false;
    }
  }

  done(io: CtlIo): void {
    if (this.inCall) this.reentrant.push('done');
    this.completed.push(io);
    const ws = this.#waiters.get(io);
    if (ws) {
      this.#waiters.delete(io);
      for (const w of ws) w(io);
    }
  }

  /** Resolves when `done(io)` is called (or at once if it already was). */
  whenDone<T extends CtlIo>(io: T): Promise<T> {
    if (this.completed.includes(io)) return Promise.resolve(io);
    return new Promise((resolve) => {
      const list = this.#waiters.get(io) ?? [];
      list.push(resolve as (io: CtlIo) => void);
      this.#waiters.set(io, list);
    });
  }

  /** How many times `done(io)` was called. */
  doneCount(io: CtlIo): number {
    return this.completed.filter((d) => d === io).length;
  }
}
