// Metrics: the two global configuration keys beyond ctld (metrics-listen,
// nocopy), the TargetMetrics accounting against records of known commands,
// and the HTTP endpoint's answers. The endpoint scraped against real I/O is
// in test/e2e/metrics.test.ts.
import { CopyCounters } from '@iscsi-target/icl-core';
import { CommandOutcome, type CommandRecord, type IscsiFrontend } from '@iscsi-target/ctl-frontend-iscsi';
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrorCode, parseConfig } from '../src/config.js';
import { MetricsServer, parseMetricsAddress } from '../src/metrics/metrics-server.js';
import { TargetMetrics, operationClass } from '../src/metrics/target-metrics.js';

function configError(text: string): ConfigError {
  try {
    parseConfig(text, 'ctl.conf');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('parsed without error');
}

describe('config: metrics-listen and nocopy', () => {
  it('are absent by default and read when given', () => {
    const plain = parseConfig('target iqn.2012-06.com.example:t { auth-type none }', 'ctl.conf');
    expect(plain.metricsListen ?? null).toBeNull();
    expect(plain.nocopy).toBeUndefined();
    const c = parseConfig('metrics-listen 127.0.0.1:9260\nnocopy off\ntarget iqn.2012-06.com.example:t { auth-type none }', 'ctl.conf');
    expect(c.metricsListen).toBe('127.0.0.1:9260');
    expect(c.nocopy).toBe(false);
    expect(parseConfig('nocopy on', 'ctl.conf').nocopy).toBe(true);
    expect(parseConfig('metrics-listen "[::1]:9260"', 'ctl.conf').metricsListen).toBe('[::1]:9260');
  });

  it.each([
    ['nocopy maybe', ConfigErrorCode.BadValue, 'ctl.conf:1:8: invalid nocopy "maybe": expected on or off'],
    ['nocopy on\nnocopy off', ConfigErrorCode.Duplicate, 'ctl.conf:2:1: duplicate "nocopy" (already set at line 1)'],
    ['metrics-listen 127.0.0.1', ConfigErrorCode.BadValue, 'ctl.conf:1:16: metrics-listen: invalid metrics address "127.0.0.1" (expected ADDR:PORT or [IPv6]:PORT)'],
    ['metrics-listen', ConfigErrorCode.Syntax, 'ctl.conf:1:1: "metrics-listen" needs an ADDR:PORT, found end of file'],
  ])('%s', (text, code, message) => {
    const e = configError(text);
    expect(e.message).toBe(message);
    expect(e.code).toBe(code);
  });
});

describe('parseMetricsAddress', () => {
  it('needs a port', () => {
    expect(parseMetricsAddress('0.0.0.0:9100')).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(parseMetricsAddress('[::1]:9100')).toEqual({ host: '::1', port: 9100 });
    expect(parseMetricsAddress('::1')).toMatch(/expected ADDR:PORT/);
    expect(parseMetricsAddress('localhost')).toMatch(/expected ADDR:PORT/);
  });
});

describe('operationClass', () => {
  it('maps READ/WRITE 6/10/12/16 and nothing else', () => {
    expect([0x08, 0x28, 0xa8, 0x88].map(operationClass)).toEqual(['read', 'read', 'read', 'read']);
    expect([0x0a, 0x2a, 0xaa, 0x8a].map(operationClass)).toEqual(['write', 'write', 'write', 'write']);
    expect([0x00, 0x12, 0x25, 0x2f, 0x35, 0x42, 0x89, 0x93].map(operationClass)).toEqual(Array(8).fill('other'));
  });
});

const T = 'iqn.2012-06.com.example:t';
function record(r: Partial<CommandRecord>): CommandRecord {
  return {
    sessionId: 1,
    targetName: T,
    initiatorName: 'iqn.1994-05.com.example:i',
    lun: 0,
    opcode: 0x28,
    dataInBytes: 0,
    dataOutBytes: 0,
    outcome: CommandOutcome.Good,
    scsiStatus: 0,
    latencyMs: 1,
    ...r,
  };
}

/** `name{labels} value` lines of a scrape, as a map. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Just what TargetMetrics reads from a frontend at scrape time. */
function fakeFrontend(sessionIds: number[]): IscsiFrontend {
  return {
    targets: () => [{ targetName: T }],
    sessions: () => sessionIds.map((id) => ({ id, targetName: T })),
  } as unknown as IscsiFrontend;
}

function newMetrics(icl = new CopyCounters(), ctl = new CopyCounters(), frontend: IscsiFrontend | null = null) {
  return new TargetMetrics({ frontend: () => frontend, iclCounters: icl, ctlCounters: () => ctl });
}

describe('TargetMetrics', () => {
  it('accounts bytes, commands, errors and latency per LUN and per session', async () => {
    const m = newMetrics(undefined, undefined, fakeFrontend([1, 2]));
    m.commandDone(record({ opcode: 0x28, dataInBytes: 131072, latencyMs: 0.2 }));
    m.commandDone(record({ opcode: 0x88, dataInBytes: 4096, latencyMs: 3 }));
    m.commandDone(record({ opcode: 0x2a, dataOutBytes: 65536, latencyMs: 0.7 }));
    // A failed write moved nothing durable: its bytes are not counted, the error is.
    m.commandDone(record({ opcode: 0x2a, dataOutBytes: 512, outcome: CommandOutcome.Error, scsiStatus: 2 }));
    m.commandDone(record({ opcode: 0x12, dataInBytes: 36, lun: 1, sessionId: 2 }));
    const s = samples(await m.scrape());
    const lun0 = `target="${T}",lun="0"`;
    expect(s.get(`iscsi_target_lun_read_bytes_total{${lun0}}`)).toBe(131072 + 4096);
    expect(s.get(`iscsi_target_lun_write_bytes_total{${lun0}}`)).toBe(65536);
    expect(s.get(`iscsi_target_lun_commands_total{${lun0},op="read"}`)).toBe(2);
    expect(s.get(`iscsi_target_lun_commands_total{${lun0},op="write"}`)).toBe(2);
    expect(s.get(`iscsi_target_sessions{target="${T}"}`)).toBe(2);
    expect(s.get(`iscsi_target_lun_command_errors_total{${lun0}}`)).toBe(1);
    expect(s.get(`iscsi_target_lun_command_latency_seconds_count{${lun0},op="read"}`)).toBe(2);
    // The io_uring series exist (0 while no uring connection or ring file I/O ran in this process).
    for (const kind of ['zerocopy', 'kernel_copied', 'plain']) expect(s.get(`iscsi_target_uring_send_bytes_total{kind="${kind}"}`)).toBe(0);
    expect(s.get('iscsi_target_uring_recv_pool_buffers{state="cap"}')).toBe(0);
    expect(s.has('iscsi_target_uring_enters_total')).toBe(true);
    expect(s.get(`iscsi_target_lun_command_latency_seconds_sum{${lun0},op="read"}`)).toBeCloseTo(0.0032, 9);
    expect(s.get(`iscsi_target_lun_command_latency_seconds_bucket{le="0.00025",${lun0},op="read"}`)).toBe(1);
    expect(s.get(`iscsi_target_lun_command_latency_seconds_bucket{le="0.005",${lun0},op="read"}`)).toBe(2);
    // INQUIRY data is not payload: counted as a command, not as bytes read.
    expect(s.get(`iscsi_target_lun_commands_total{target="${T}",lun="1",op="other"}`)).toBe(1);
    expect(s.get(`iscsi_target_lun_read_bytes_total{target="${T}",lun="1"}`) ?? 0).toBe(0);
    const s1 = `session="1",initiator="iqn.1994-05.com.example:i",target="${T}"`;
    expect(s.get(`iscsi_target_session_read_bytes_total{${s1}}`)).toBe(135168);
    expect(s.get(`iscsi_target_session_write_bytes_total{${s1}}`)).toBe(65536);
    expect(s.get(`iscsi_target_session_command_errors_total{${s1}}`)).toBe(1);
    expect(s.get(`iscsi_target_session_commands_total{session="2",initiator="iqn.1994-05.com.example:i",target="${T}",op="other"}`)).toBe(1);
  });

  it('drops the series of sessions the frontend no longer has', async () => {
    const m = newMetrics();
    m.commandDone(record({ dataInBytes: 512 }));
    // frontend() is null: no session is live, so the session series go at the scrape.
    const s = samples(await m.scrape());
    expect([...s.keys()].some((k) => k.startsWith('iscsi_target_session_'))).toBe(false);
    expect(s.get(`iscsi_target_lun_read_bytes_total{target="${T}",lun="0"}`)).toBe(512);
  });

  it('exports the copy counters of both layers as they are at scrape time', async () => {
    const icl = new CopyCounters();
    const ctl = new CopyCounters();
    const m = newMetrics(icl, ctl);
    icl.copiedOut = 10;
    icl.referencedIn = 20;
    ctl.copiedIn = 3;
    let s = samples(await m.scrape());
    expect(s.get('iscsi_target_copy_bytes_total{layer="icl",direction="out",kind="copied"}')).toBe(10);
    expect(s.get('iscsi_target_copy_bytes_total{layer="icl",direction="in",kind="referenced"}')).toBe(20);
    expect(s.get('iscsi_target_copy_bytes_total{layer="icl",direction="in",kind="copied"}')).toBe(0);
    expect(s.get('iscsi_target_copy_bytes_total{layer="ctl",direction="in",kind="copied"}')).toBe(3);
    icl.copiedOut += 5;
    s = samples(await m.scrape());
    expect(s.get('iscsi_target_copy_bytes_total{layer="icl",direction="out",kind="copied"}')).toBe(15);
  });
});

describe('MetricsServer', () => {
  it('serves /metrics, 404 elsewhere, 405 for other methods', async () => {
    const m = newMetrics();
    m.commandDone(record({ dataInBytes: 7 }));
    const server = await MetricsServer.listen({ host: '127.0.0.1', port: 0 }, m);
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const ok = await fetch(`${base}/metrics`);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await ok.text()).toContain(`iscsi_target_lun_read_bytes_total{target="${T}",lun="0"} 7`);
      expect((await fetch(`${base}/`)).status).toBe(404);
      expect((await fetch(`${base}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
    } finally {
      await server.close();
    }
  });
});
