// End-to-end, hostile CHAP clients on raw sockets against the daemon started
// from its bin: a reflected mutual challenge, an unsupported CHAP_A, an
// oversized challenge, a wrong response — each answered with the RFC 7143
// §11.13.5 status after the configured failure delay, the connection closed,
// and the daemon still serving. The client builds its PDUs by hand (it does
// not use the project's codec) and computes MD5 itself.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attachReader,
  decodeText,
  e2ePeer,
  encodeText,
  freePort,
  newBhs,
  Opcode,
  rawConnect,
  readPdu,
  sendPdu,
  startTarget,
  waitForClose,
  type RawPdu,
  type TargetHandle,
} from '@iscsi-target/test-utils';

const TARGET = 'iqn.2026-11.org.nodejs-iscsi:mutual';
const DELAY_MS = 300;

/** A hand-built CHAP initiator: one Login Request per call, security stage. */
class RawChapClient {
  readonly socket: Socket;
  #statSn = 0;
  #first = true;
  readonly #isid = Buffer.from([0x80, 0, 0, 0, 0x12, 0x34]);

  constructor(socket: Socket) {
    this.socket = socket;
    attachReader(socket);
  }

  /** A security-stage Login Request BHS (T=1 asks for the operational stage). */
  bhs(transit: boolean): Buffer {
    const bhs = newBhs({ opcode: Opcode.LoginRequest, immediate: true, flags: transit ? 0x80 | 0x01 : 0x00, initiatorTaskTag: 1 });
    this.#isid.copy(bhs, 8);
    bhs.writeUInt32BE(1, 24); // CmdSN
    bhs.writeUInt32BE(this.#first ? 0 : this.#statSn, 28); // ExpStatSN
    this.#first = false;
    return bhs;
  }

  /** Sends one security-stage Login Request and reads the answer. */
  async step(keys: Array<[string, string]>, transit = false): Promise<{ pdu: RawPdu; cls: number; detail: number; keys: Map<string, string> }> {
    await sendPdu(this.socket, this.bhs(transit), encodeText(keys));
    const pdu = await readPdu(this.socket, 10_000);
    expect(pdu.opcode).toBe(Opcode.LoginResponse);
    this.#statSn = (pdu.bhs.readUInt32BE(24) + 1) >>> 0;
    return { pdu, cls: pdu.bhs[36]!, detail: pdu.bhs[37]!, keys: decodeText(pdu.data) };
  }

  /** Up to the target's challenge; returns CHAP_I and CHAP_C. */
  async toChallenge(): Promise<{ id: number; challenge: Buffer; hex: string }> {
    const a = await this.step([
      ['InitiatorName', 'iqn.2026-11.org.nodejs-iscsi:hostile'],
      ['SessionType', 'Normal'],
      ['TargetName', TARGET],
      ['AuthMethod', 'CHAP'],
    ]);
    expect([a.cls, a.detail]).toEqual([0, 0]);
    expect(a.keys.get('AuthMethod')).toBe('CHAP');
    const b = await this.step([['CHAP_A', '5']]);
    expect(b.keys.get('CHAP_A')).toBe('5');
    const hex = b.keys.get('CHAP_C')!;
    expect(hex).toMatch(/^0x[0-9a-f]{2048}$/);
    return { id: Number(b.keys.get('CHAP_I')), challenge: Buffer.from(hex.slice(2), 'hex'), hex };
  }
}

const md5 = (id: number, secret: string, challenge: Buffer): string =>
  `0x${createHash('md5').update(Buffer.of(id)).update(secret).update(challenge).digest('hex')}`;

describe.skipIf(e2ePeer() !== undefined)('hostile CHAP clients (raw sockets)', () => {
  let target: TargetHandle;
  let dir: string;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iscsi-chap-hostile-'));
    port = await freePort();
    writeFileSync(
      join(dir, 'ctl.conf'),
      `auth-group m { chap-mutual alice alicesecret12 tgt targetsecret9 }
portal-group pg { listen 127.0.0.1:${port} }
target ${TARGET} { auth-group m; portal-group pg; lun 0 { backend ramdisk; size 1M } }
`,
    );
    target = await startTarget({ port, args: ['-f', join(dir, 'ctl.conf'), '--auth-failure-delay', String(DELAY_MS)] });
  });
  afterAll(async () => {
    await target?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  async function refused(keys: (c: { id: number; challenge: Buffer; hex: string }) => Array<[string, string]>, cls: number, detail: number, delayed: boolean): Promise<void> {
    const client = new RawChapClient(await rawConnect('127.0.0.1', port));
    const ch = await client.toChallenge();
    const t0 = Date.now();
    const r = await client.step(keys(ch), true);
    const elapsed = Date.now() - t0;
    expect([r.cls, r.detail]).toEqual([cls, detail]);
    if (delayed) expect(elapsed).toBeGreaterThanOrEqual(DELAY_MS - 20);
    else expect(elapsed).toBeLessThan(DELAY_MS);
    const closed = await waitForClose(client.socket, 10_000);
    expect(closed.closed).toBe(true);
    expect(target.alive()).toBe(true);
  }

  it('a reflected mutual challenge (ours, sent back) → 0x0201 after the delay', async () => {
    await refused((c) => [['CHAP_N', 'alice'], ['CHAP_R', md5(c.id, 'alicesecret12', c.challenge)], ['CHAP_I', String(c.id)], ['CHAP_C', c.hex]], 2, 1, true);
  });

  it('a wrong response → 0x0201 after the delay', async () => {
    await refused((c) => [['CHAP_N', 'alice'], ['CHAP_R', md5(c.id, 'guessedsecret', c.challenge)], ['CHAP_I', '1'], ['CHAP_C', `0x${'ab'.repeat(16)}`]], 2, 1, true);
  });

  it('an oversized mutual challenge (1025 bytes) → 0x0200 (no delay: not a credential guess)', async () => {
    await refused((c) => [['CHAP_N', 'alice'], ['CHAP_R', md5(c.id, 'alicesecret12', c.challenge)], ['CHAP_I', '1'], ['CHAP_C', `0x${'ab'.repeat(1025)}`]], 2, 0, false);
  });

  it('a CHAP PDU above the login MaxRecvDataSegmentLength (8192) drops the connection; the daemon keeps serving', async () => {
    const client = new RawChapClient(await rawConnect('127.0.0.1', port));
    const c = await client.toChallenge();
    await sendPdu(
      client.socket,
      client.bhs(true),
      encodeText([['CHAP_N', 'alice'], ['CHAP_R', md5(c.id, 'alicesecret12', c.challenge)], ['CHAP_I', '1'], ['CHAP_C', `0x${'ab'.repeat(8192)}`]]),
    ).catch(() => {});
    const closed = await waitForClose(client.socket, 10_000);
    expect(closed.closed).toBe(true);
    expect(closed.pdus).toEqual([]); // dropped without a Login Response
    expect(target.alive()).toBe(true);
    // And a well-behaved client right after still gets its challenge.
    const next = new RawChapClient(await rawConnect('127.0.0.1', port));
    expect((await next.toChallenge()).challenge).toHaveLength(1024);
    next.socket.destroy();
  });

  it('CHAP_A without MD5 → 0x0201', async () => {
    const client = new RawChapClient(await rawConnect('127.0.0.1', port));
    await client.step([
      ['InitiatorName', 'iqn.2026-11.org.nodejs-iscsi:hostile'],
      ['TargetName', TARGET],
      ['AuthMethod', 'CHAP'],
    ]);
    const r = await client.step([['CHAP_A', '6,7,128']]);
    expect([r.cls, r.detail]).toEqual([2, 1]);
    await waitForClose(client.socket, 10_000);
  });

  it('the right credentials with mutual CHAP still log in, and the target proves itself', async () => {
    const client = new RawChapClient(await rawConnect('127.0.0.1', port));
    const c = await client.toChallenge();
    const mine = Buffer.alloc(16, 0x5a);
    const r = await client.step([['CHAP_N', 'alice'], ['CHAP_R', md5(c.id, 'alicesecret12', c.challenge)], ['CHAP_I', '77'], ['CHAP_C', `0x${mine.toString('hex')}`]], true);
    expect([r.cls, r.detail]).toEqual([0, 0]);
    expect(r.pdu.flags & 0x80).toBe(0x80); // transit to the operational stage
    expect(r.keys.get('CHAP_N')).toBe('tgt');
    expect(r.keys.get('CHAP_R')).toBe(md5(77, 'targetsecret9', mine));
    client.socket.destroy();
  });
});
