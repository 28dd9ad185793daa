// Self-test of rawScsiCommand's Data-Out path (tools/test-utils) against an
// in-process fake target: R2Ts answered with Data-Out PDUs of the right
// offsets, DataSN, TTT and F bit, split at the target's
// MaxRecvDataSegmentLength. No daemon needed.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeText, newBhs, Opcode, rawLogin, rawScsiCommand, readPdu, sendPdu } from '@iscsi-target/test-utils';

interface SeenDataOut {
  ttt: number;
  dataSn: number;
  offset: number;
  final: boolean;
  data: Buffer;
}

describe('rawScsiCommand with dataOut against a fake target', () => {
  let server: net.Server;
  let port: number;
  const seen: SeenDataOut[] = [];
  let cmdFlags = 0;
  let edtl = 0;
  beforeAll(async () => {
    server = net.createServer((sock) => {
      sock.on('error', () => {});
      let statSn = 1;
      void (async () => {
        for (;;) {
          const req = await readPdu(sock, 10_000).catch(() => undefined);
          if (!req) return;
          if (req.opcode === Opcode.LoginRequest) {
            expect(decodeText(req.data).get('InitiatorName')).toBeDefined();
            const rsp = newBhs({ opcode: Opcode.LoginResponse, flags: 0x80 | 0x04 | 0x03, initiatorTaskTag: req.initiatorTaskTag });
            req.bhs.copy(rsp, 8, 8, 14);
            rsp.writeUInt16BE(1, 14);
            rsp.writeUInt32BE(statSn++, 24);
            rsp.writeUInt32BE(req.bhs.readUInt32BE(24), 28);
            rsp.writeUInt32BE(req.bhs.readUInt32BE(24) + 31, 32);
            await sendPdu(sock, rsp, Buffer.from('MaxRecvDataSegmentLength=8\0'));
          } else if (req.opcode === Opcode.ScsiCommand) {
            cmdFlags = req.bhs[1] ?? 0;
            edtl = req.bhs.readUInt32BE(20);
            const itt = req.initiatorTaskTag;
            // Two R2Ts: 0..15 (TTT 7) then 16..23 (TTT 8).
            for (const [ttt, off, len, sn] of [
              [7, 0, 16, 0],
              [8, 16, 8, 1],
            ] as const) {
              const r2t = newBhs({ opcode: Opcode.R2t, flags: 0x80, initiatorTaskTag: itt });
              r2t.writeUInt32BE(ttt, 20);
              r2t.writeUInt32BE(statSn, 24);
              r2t.writeUInt32BE(sn, 36);
              r2t.writeUInt32BE(off, 40);
              r2t.writeUInt32BE(len, 44);
              await sendPdu(sock, r2t);
              for (let got = 0; got < len; ) {
                const d = await readPdu(sock, 10_000);
                expect(d.opcode).toBe(Opcode.DataOut);
                expect(d.initiatorTaskTag).toBe(itt);
                seen.push({
                  ttt: d.bhs.readUInt32BE(20),
                  dataSn: d.bhs.readUInt32BE(36),
                  offset: d.bhs.readUInt32BE(40),
                  final: ((d.bhs[1] ?? 0) & 0x80) !== 0,
                  data: Buffer.from(d.data),
                });
                got += d.data.length;
              }
            }
            const rsp = newBhs({ opcode: Opcode.ScsiResponse, flags: 0x80, initiatorTaskTag: itt });
            rsp[3] = 0x18; // RESERVATION CONFLICT, to check the status is passed through
            rsp.writeUInt32BE(statSn++, 24);
            await sendPdu(sock, rsp);
          }
        }
      })();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => {
    server.close();
  });

  it('answers each R2T with Data-Out pieces of at most MaxRecvDataSegmentLength', async () => {
    const s = await rawLogin('127.0.0.1', port);
    expect(s.fullFeature).toBe(true);
    expect(s.targetMaxRecvDataSegmentLength).toBe(8);
    const payload = Buffer.from([...Array(24).keys()]);
    const r = await rawScsiCommand(s, Buffer.from([0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0]), { dataOut: payload });
    expect(r.status).toBe(0x18);
    expect(cmdFlags & 0x60).toBe(0x20); // W set, R clear
    expect(edtl).toBe(24);
    expect(seen.map((d) => [d.ttt, d.dataSn, d.offset, d.final, d.data.length])).toEqual([
      [7, 0, 0, false, 8],
      [7, 1, 8, true, 8],
      [8, 0, 16, true, 8],
    ]);
    expect(Buffer.concat(seen.map((d) => d.data))).toEqual(payload);
    s.socket.destroy();
  });
});
