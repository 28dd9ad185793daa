// A NicConn wrapper that records what the ICL driver asks of its NIC
// (sends with their buffer sizes, pause/resume), delegating to a real one.
import type { NicConn, NicHandlers } from '@iscsi-target/icl-offload-kpi';

export class RecordingNic implements NicConn {
  readonly inner: NicConn;
  /** Total bytes of each `send`, in call order. */
  readonly sends: number[] = [];
  /** Number of buffers in each `send`. */
  readonly sendParts: number[] = [];
  pauses = 0;
  resumes = 0;
  /** Highest `inner.sendQueueBytes` seen right after a send. */
  maxSendQueueBytes = 0;

  constructor(inner: NicConn) {
    this.inner = inner;
  }

  get remoteAddress(): string {
    return this.inner.remoteAddress;
  }
  get remotePort(): number {
    return this.inner.remotePort;
  }
  get localAddress(): string {
    return this.inner.localAddress;
  }
  get localPort(): number {
    return this.inner.localPort;
  }
  get sendQueueBytes(): number {
    return this.inner.sendQueueBytes;
  }
  setHandlers(h: NicHandlers): void {
    this.inner.setHandlers(h);
  }
  send(bufs: readonly Buffer[], done: (err: Error | null) => void): boolean {
    let n = 0;
    for (const b of bufs) n += b.length;
    this.sends.push(n);
    this.sendParts.push(bufs.length);
    const ok = this.inner.send(bufs, done);
    this.maxSendQueueBytes = Math.max(this.maxSendQueueBytes, this.inner.sendQueueBytes);
    return ok;
  }
  pauseReceive(): void {
    this.pauses++;
    this.inner.pauseReceive();
  }
  resumeReceive(): void {
    this.resumes++;
    this.inner.resumeReceive();
  }
  close(): void {
    this.inner.close();
  }
  destroy(err?: Error): void {
    this.inner.destroy(err);
  }
}
