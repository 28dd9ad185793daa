// Self-tests of the e2e helpers (tools/test-utils) and of the conformance
// scorer (tools/scripts/lib/testcu.mjs), against an in-process fake target:
// if these are wrong, every e2e verdict is wrong. No daemon needed.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countScores, scoreLine, scoreLog } from '../../../../tools/scripts/lib/testcu.mjs';
import {
  canConnect,
  decodeText,
  encodeLun,
  encodeText,
  freePort,
  haveCommand,
  LoginStatus,
  newBhs,
  Opcode,
  PduReadError,
  rawLogin,
  rawLogout,
  rawTestUnitReady,
  readPdu,
  run,
  sendPdu,
  waitForClose,
  writeRaw,
} from '@iscsi-target/test-utils';

/** Connected socket pair on loopback. */
async function socketPair(): Promise<{ client: net.Socket; server: net.Socket; close: () => void }> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => {});
  const server = await accepted;
  server.on('error', () => {});
  return {
    client,
    server,
    close: () => {
      client.destroy();
      server.destroy();
      srv.close();
    },
  };
}

describe('text keys', () => {
  it('encodes pairs and verbatim strings NUL-terminated, and decodes them back', () => {
    const buf = encodeText([['InitiatorName', 'iqn.x:y'], 'NoEquals', ['A', 'b=c']]);
    expect(buf.toString('latin1')).toBe('InitiatorName=iqn.x:y\0NoEquals\0A=b=c\0');
    expect([...decodeText(buf)]).toEqual([
      ['InitiatorName', 'iqn.x:y'],
      ['NoEquals', ''],
      ['A', 'b=c'],
    ]);
  });
});

describe('raw PDUs', () => {
  it('builds BHS common fields and SAM LUNs', () => {
    const bhs = newBhs({ opcode: Opcode.ScsiCommand, immediate: true, flags: 0x81, dataSegmentLength: 0x123456, lun: 5, initiatorTaskTag: 0xdeadbeef });
    expect(bhs.length).toBe(48);
    expect(bhs[0]).toBe(0x41);
    expect(bhs[1]).toBe(0x81);
    expect(bhs.readUIntBE(5, 3)).toBe(0x123456);
    expect([...bhs.subarray(8, 16)]).toEqual([0, 5, 0, 0, 0, 0, 0, 0]);
    expect(bhs.readUInt32BE(16)).toBe(0xdeadbeef);
    expect([...encodeLun(300).subarray(0, 2)]).toEqual([0x41, 0x2c]);
  });

  it('round-trips a padded PDU delivered one byte at a time', async () => {
    const p = await socketPair();
    try {
      const data = Buffer.from('hello'); // 5 bytes: 3 bytes of padding on the wire
      const wire: Buffer[] = [];
      p.server.on('data', (b: Buffer) => wire.push(b));
      await sendPdu(p.client, newBhs({ opcode: Opcode.NopOut, initiatorTaskTag: 7 }), data);
      await new Promise((r) => setTimeout(r, 50));
      const bytes = Buffer.concat(wire);
      expect(bytes.length).toBe(48 + 8);
      expect(bytes.readUIntBE(5, 3)).toBe(5);
      for (const b of bytes) await writeRaw(p.server, [Buffer.from([b])]);
      const got = await readPdu(p.client, 2_000);
      expect(got.opcode).toBe(Opcode.NopOut);
      expect(got.initiatorTaskTag).toBe(7);
      expect(got.data.toString()).toBe('hello');
    } finally {
      p.close();
    }
  });

  it('keeps a lying DataSegmentLength when asked to', async () => {
    const p = await socketPair();
    try {
      const wire: Buffer[] = [];
      p.server.on('data', (b: Buffer) => wire.push(b));
      await sendPdu(p.client, newBhs({ opcode: Opcode.NopOut, dataSegmentLength: 999 }), Buffer.alloc(4), { dataSegmentLength: 'keep' });
      await new Promise((r) => setTimeout(r, 50));
      expect(Buffer.concat(wire).readUIntBE(5, 3)).toBe(999);
    } finally {
      p.close();
    }
  });

  it('reports a close in the middle of a PDU, and a timeout', async () => {
    const p = await socketPair();
    try {
      await expect(readPdu(p.client, 100)).rejects.toMatchObject({ code: 'RAW_ERR_TIMEOUT' });
      await writeRaw(p.server, [Buffer.alloc(20)]);
      p.server.end();
      const err = await readPdu(p.client, 2_000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PduReadError);
      expect(err).toMatchObject({ code: 'RAW_ERR_CLOSED' });
      expect((await waitForClose(p.client, 1_000)).closed).toBe(true);
    } finally {
      p.close();
    }
  });
});

/**
 * A scripted fake target: answers the first Login Request in two Continue'd
 * responses, then a TUR with UNIT ATTENTION once and GOOD next, then Logout.
 */
describe('raw login, TUR and logout against a fake target', () => {
  let server: net.Server;
  let port: number;
  const seen: Buffer[] = [];
  beforeAll(async () => {
    server = net.createServer((sock) => {
      sock.on('error', () => {});
      let statSn = 100;
      let turs = 0;
      const respond = async (): Promise<void> => {
        for (;;) {
          const req = await readPdu(sock, 10_000).catch(() => undefined);
          if (!req) return;
          seen.push(Buffer.from(req.bhs));
          const op = req.opcode;
          if (op === Opcode.LoginRequest) {
            const keys = decodeText(req.data);
            const rsp = newBhs({ opcode: Opcode.LoginResponse, initiatorTaskTag: req.initiatorTaskTag });
            req.bhs.copy(rsp, 8, 8, 14); // ISID
            rsp.writeUInt32BE(statSn++, 24);
            rsp.writeUInt32BE(req.bhs.readUInt32BE(24), 28);
            rsp.writeUInt32BE(req.bhs.readUInt32BE(24) + 31, 32);
            if (keys.get('TargetName') === 'iqn.x:missing') {
              rsp[36] = 0x02;
              rsp[37] = 0x03;
              await sendPdu(sock, rsp);
              sock.end();
              return;
            }
            if (keys.has('InitiatorName')) {
              rsp[1] = 0x40 | 0x04 | 0x03; // C, CSG=1, NSG=3, no T: more text follows
              await sendPdu(sock, rsp, Buffer.from('TargetAlias=fake\0MaxRecvDataSeg')); // split mid-key
            } else {
              rsp[1] = 0x80 | 0x04 | 0x03; // T, CSG=1, NSG=3
              rsp.writeUInt16BE(0x1234, 14);
              await sendPdu(sock, rsp, Buffer.from('mentLength=65536\0'));
            }
          } else if (op === Opcode.ScsiCommand) {
            const rsp = newBhs({ opcode: Opcode.ScsiResponse, flags: 0x80, initiatorTaskTag: req.initiatorTaskTag });
            rsp.writeUInt32BE(statSn++, 24);
            let data = Buffer.alloc(0);
            if (turs++ === 0) {
              rsp[3] = 0x02; // CHECK CONDITION
              const sense = Buffer.alloc(18);
              sense[0] = 0x70;
              sense[2] = 0x06; // UNIT ATTENTION
              sense[12] = 0x29;
              data = Buffer.concat([Buffer.from([0, 18]), sense]);
            }
            await sendPdu(sock, rsp, data);
          } else if (op === Opcode.LogoutRequest) {
            const rsp = newBhs({ opcode: Opcode.LogoutResponse, flags: 0x80, initiatorTaskTag: req.initiatorTaskTag });
            rsp.writeUInt32BE(statSn++, 24);
            await sendPdu(sock, rsp);
            sock.end();
            return;
          }
        }
      };
      void respond();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => {
    server.close();
  });

  it('follows Continue, reaches Full Feature Phase and tracks sequence numbers', async () => {
    seen.length = 0;
    const s = await rawLogin('127.0.0.1', port, { cmdSn: 10 });
    expect(s.status).toBe(LoginStatus.Success);
    expect(s.fullFeature).toBe(true);
    expect(s.tsih).toBe(0x1234);
    expect(s.targetKeys.get('TargetAlias')).toBe('fake');
    expect(s.targetMaxRecvDataSegmentLength).toBe(65536);
    expect(s.cmdSn).toBe(10);
    expect(s.expStatSn).toBe(102);
    // First request: immediate Login, T=1 CSG=1 NSG=3; second: the empty follow-up, T=0.
    expect(seen[0]?.[0]).toBe(0x43);
    expect(seen[0]?.[1]).toBe(0x87);
    expect(seen[1]?.[1]).toBe(0x07);
    expect(seen[1]?.readUIntBE(5, 3)).toBe(0);

    const tur = await rawTestUnitReady(s);
    expect(tur.status).toBe(0);
    expect(s.cmdSn).toBe(12); // two TURs, the first answered with UNIT ATTENTION
    const turs = seen.filter((b) => ((b[0] ?? 0) & 0x3f) === Opcode.ScsiCommand);
    expect(turs.map((b) => b.readUInt32BE(24))).toEqual([10, 11]);
    expect(await rawLogout(s)).toBe(0);
  });

  it('returns the exact status of a refused login', async () => {
    const s = await rawLogin('127.0.0.1', port, { targetName: 'iqn.x:missing' });
    expect(s.fullFeature).toBe(false);
    expect(s.status).toBe(LoginStatus.NotFound);
    expect((await waitForClose(s.socket, 2_000)).closed).toBe(true);
    s.socket.destroy();
  });
});

describe('process and port helpers', () => {
  it('run() reports exit codes and kills on timeout', async () => {
    const ok = await run('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(ok).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    const slow = await run('sleep', ['10'], { timeoutMs: 200 });
    expect(slow.timedOut).toBe(true);
    expect(slow.signal).toBe('SIGTERM');
  });

  it('haveCommand() finds sh and not a made-up name', () => {
    expect(haveCommand('sh')).toBe(true);
    expect(haveCommand('no-such-command-for-iscsi-tests')).toBe(false);
  });

  it('freePort() returns a port nobody listens on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(await canConnect('127.0.0.1', port, 300)).toBe(false);
  });
});

describe('conformance scorer (port of testcu-score.py)', () => {
  it('scores pass, skip, fail, duplicates and a test cut off by a crash', () => {
    const log = [
      'Suite: Read10',
      '  Test: Simple ...passed',
      '  Test: BeyondEol ...[SKIPPED] not supported',
      'passed',
      '  Test: ZeroBlocks ...',
      '    some detail',
      'FAILED',
      '    1. test_read10.c:42  - CU_ASSERT',
      '  Test: Simple ...passed',
      'Suite: Write10',
      '  Test: Flaky ...[SKIPPED] target too small',
      '  FAILED',
      '  Test: Crashy ...',
      '    [FAILED] something went wrong',
    ].join('\n');
    // Expected values produced by /work/shared/tools/testcu-score.py on the same log.
    const res = scoreLog(log);
    expect(Object.fromEntries(res)).toEqual({
      'Read10.Simple': 'pass',
      'Read10.BeyondEol': 'skip',
      'Read10.ZeroBlocks': 'fail',
      'Read10.Simple#2': 'pass',
      'Write10.Flaky': 'fail',
      'Write10.Crashy': 'crash',
    });
    expect(scoreLine(countScores(res))).toBe('tests=6 pass=2 skip=1 fail=2 crash=1');
  });

  it('takes a result word followed by the next output as the result, and not what follows it', () => {
    // CUnit prints "passed" and, on the same line, whatever runs next (here the suite teardown).
    const log = [
      'Suite: Read10',
      '  Test: Async ...passed    [SKIPPED] PERSISTENT RESERVE IN is not implemented.',
      '    [SKIPPED] PERSISTENT RESERVE IN is not implemented.',
      '  Test: Skipper ...    [SKIPPED] not implemented.',
      '    [SKIPPED] not implemented.',
      'passed    [SKIPPED] PERSISTENT RESERVE IN is not implemented.',
      '  Test: Broken ...',
      'FAILED    something printed after it',
      '  Test: Last ...',
      'passed',
    ].join('\n');
    expect(Object.fromEntries(scoreLog(log))).toEqual({
      'Read10.Async': 'pass',
      'Read10.Skipper': 'skip',
      'Read10.Broken': 'fail',
      'Read10.Last': 'pass',
    });
  });
});
