import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { embeddedConfig, parseConfig } from '../src/config.js';
import { nullLogger } from '../src/logger.js';
import { checkConfiguration, parseCli, runCli, USAGE } from '../src/main.js';
import { PlugPoints } from '../src/plug-points.js';
import { acquirePidfile, PidfileError } from '../src/pidfile.js';
import { guardConnection } from '../src/session-guard.js';
import { defaultUvThreadpoolSize } from '../src/threadpool.js';
import { TsihExhaustedError, TsihTable } from '../src/tsih-table.js';
import { FakeConn } from './helpers/fake-conn.js';
import { nopOutBhs } from './helpers/pdus.js';

const dir = mkdtempSync(join(tmpdir(), 'iscsi-target-support-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TSIH table', () => {
  it('allocates unique non-zero handles, wrapping past 0xffff', () => {
    const t = new TsihTable(0xfffe);
    expect([t.allocate(), t.allocate(), t.allocate()]).toEqual([0xfffe, 0xffff, 1]);
    expect(t.has(0xffff)).toBe(true);
    t.release(0xffff);
    expect(t.has(0xffff)).toBe(false);
    expect(t.size).toBe(2);
  });

  it('skips live handles and fails when all are live', () => {
    const t = new TsihTable(1);
    for (let i = 0; i < 0xffff; i++) t.allocate();
    expect(() => t.allocate()).toThrow(TsihExhaustedError);
    t.release(1234);
    expect(t.allocate()).toBe(1234);
  });
});

describe('session guard', () => {
  it('turns a throwing receive handler into the owner onError, once', () => {
    const conn = new FakeConn();
    const errors: Error[] = [];
    const logged: unknown[] = [];
    guardConnection(conn, { ...nullLogger, error: (o) => logged.push(o) });
    // Handlers installed after the guard (as the frontend does at handoff) are wrapped too.
    conn.onReceive = () => {
      throw new Error('bug in a session');
    };
    conn.onError = (_c, e) => errors.push(e);
    expect(() => conn.deliver(nopOutBhs({ itt: 1, cmdSn: 1, expStatSn: 1 }))).not.toThrow();
    expect(() => conn.deliver(nopOutBhs({ itt: 2, cmdSn: 1, expStatSn: 1 }))).not.toThrow();
    expect(errors.map((e) => e.message)).toEqual(['bug in a session']);
    expect(logged).toHaveLength(2);
    expect(conn.closed).toBe(false);
  });

  it('closes the connection when the error handler throws too', () => {
    const conn = new FakeConn();
    guardConnection(conn, nullLogger);
    conn.onReceive = () => {
      throw new Error('first');
    };
    conn.onError = () => {
      throw new Error('second');
    };
    conn.deliver(nopOutBhs({ itt: 1, cmdSn: 1, expStatSn: 1 }));
    expect(conn.closed).toBe(true);
  });

  it('passes PDUs through untouched', () => {
    const conn = new FakeConn();
    guardConnection(conn, nullLogger);
    const got: number[] = [];
    conn.onReceive = (pdu) => got.push(pdu.initiatorTaskTag);
    conn.deliver(nopOutBhs({ itt: 77, cmdSn: 1, expStatSn: 1 }));
    expect(got).toEqual([77]);
  });
});

describe('pidfile', () => {
  it('writes our pid and removes it on release', async () => {
    const path = join(dir, 'a.pid');
    const p = await acquirePidfile(path);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    await p.release();
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a stale pidfile and refuses a live one', async () => {
    const path = join(dir, 'b.pid');
    writeFileSync(path, '999999999\n');
    const p = await acquirePidfile(path);
    await p.release();
    // pid 1 always runs.
    writeFileSync(path, '1\n');
    await expect(acquirePidfile(path)).rejects.toThrow(PidfileError);
    await expect(acquirePidfile(path)).rejects.toThrow(`${path}: another instance is running (pid 1)`);
  });
});

describe('command line', () => {
  it('parses the options', () => {
    expect(parseCli([], '/srv')).toEqual({
      kind: 'run',
      options: { config: null, dataDir: '/srv/data', listen: [], noCopy: true, check: false, logLevel: null, adminSocket: '/srv/data/iscsi-target.sock', warnings: [] },
    });
    expect(parseCli(['-d', 'disks', '-l', '0.0.0.0:3260', '--listen', '[::1]:3261', '--copy', '--log-level', 'debug'], '/srv')).toEqual({
      kind: 'run',
      options: { config: null, dataDir: '/srv/disks', listen: ['0.0.0.0:3260', '[::1]:3261'], noCopy: false, noCopyExplicit: true, check: false, logLevel: 'debug', adminSocket: '/srv/disks/iscsi-target.sock', warnings: [] },
    });
    expect(parseCli(['-f', 'ctl.conf', '--check', '--no-copy'], '/etc')).toMatchObject({ kind: 'run', options: { config: '/etc/ctl.conf', check: true, noCopy: true } });
    // -l only applies to the embedded default: ignored with a warning next to -f; -d still places the admin socket.
    expect(parseCli(['-l', '127.0.0.1:3999', '-d', 'x', '-f', 'a.conf'], '/etc')).toMatchObject({
      kind: 'run',
      options: {
        config: '/etc/a.conf',
        listen: [],
        adminSocket: '/etc/x/iscsi-target.sock',
        warnings: ['--listen applies to the embedded default only and is ignored with -f (listen addresses are in the configuration file)'],
      },
    });
    expect(parseCli(['--auth-failure-delay', '250'], '/srv')).toMatchObject({ kind: 'run', options: { authFailureDelayMs: 250 } });
    expect(parseCli(['--auth-failure-delay', '60001'])).toEqual({ kind: 'usage-error', message: 'invalid --auth-failure-delay "60001" (expected milliseconds, 0 to 60000)' });
    expect(parseCli(['--auth-failure-delay', '1s'])).toEqual({ kind: 'usage-error', message: 'invalid --auth-failure-delay "1s" (expected milliseconds, 0 to 60000)' });
    expect(parseCli(['--admin-socket', 'run/ctl.sock'], '/srv')).toMatchObject({ kind: 'run', options: { adminSocket: '/srv/run/ctl.sock' } });
    expect(parseCli(['--no-admin-socket'], '/srv')).toMatchObject({ kind: 'run', options: { adminSocket: null } });
    expect(parseCli(['--io-engine', 'uring'], '/srv')).toMatchObject({ kind: 'run', options: { ioEngine: 'uring' } });
    expect(parseCli(['--io-engine', 'threadpool'], '/srv')).toMatchObject({ kind: 'run', options: { ioEngine: 'threadpool' } });
    expect(parseCli(['--io-engine', 'aio'])).toEqual({ kind: 'usage-error', message: 'invalid --io-engine "aio" (expected uring or threadpool)' });
    expect(parseCli(['--help'])).toEqual({ kind: 'help' });
    expect(parseCli(['-V'])).toEqual({ kind: 'version' });
  });

  it.each<[string[], string]>([
    [['--bogus'], "Unknown option '--bogus'"],
    [['--copy', '--no-copy'], '--copy and --no-copy are mutually exclusive'],
    [['--log-level', 'loud'], 'invalid --log-level "loud"'],
    [['--admin-socket', 'a', '--no-admin-socket'], '--admin-socket and --no-admin-socket are mutually exclusive'],
    [['extra'], "Unexpected argument 'extra'"],
  ])('refuses %j', (argv, message) => {
    const r = parseCli(argv);
    expect(r.kind).toBe('usage-error');
    expect((r as { message: string }).message).toContain(message);
  });

  it('--check reports missing LUN files and unavailable NIC drivers; unknown driver names are configuration errors', async () => {
    const plug = PlugPoints.create({
      nicDrivers: [{ name: 'fast', priority: -1, description: 'test', available: () => 'its addon did not build', create: () => { throw new Error('unavailable'); } }],
    });
    const c = parseConfig(
      `portal-group p { listen 127.0.0.1; nic fast }\ntarget iqn.2026-11.org.example:t { auth-type none; portal-group p; lun 0 { path ${join(dir, 'nope.img')} } }`,
      'c.conf',
      plug.names(),
    );
    expect(await checkConfiguration(c, plug)).toEqual([
      `c.conf:2:72: lun "iqn.2026-11.org.example:t,lun,0": ${join(dir, 'nope.img')} does not exist (create it first, e.g. truncate -s SIZE ${join(dir, 'nope.img')})`,
      'c.conf:1:1: portal-group "p": NIC driver "fast" is not available: its addon did not build',
    ]);
    expect(() => parseConfig('portal-group p { listen 127.0.0.1; offload cxgbei }\n', 'c.conf', plug.names())).toThrow(
      'c.conf:1:44: portal-group "p": unknown ICL driver "cxgbei" (offload): expected none',
    );
    expect(() => parseConfig('portal-group p { listen 127.0.0.1; nic dpdk }\n', 'c.conf', plug.names())).toThrow(
      'c.conf:1:40: portal-group "p": unknown NIC driver "dpdk": expected tcp, uring or fast',
    );
    // The embedded default's file is created at start, so it is no problem.
    expect(await checkConfiguration(embeddedConfig({ dataDir: join(dir, 'd') }), plug)).toEqual([]);
  });

  it('runs --check, --help and usage errors with their exit codes', async () => {
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
    const good = join(dir, 'good.conf');
    writeFileSync(good, 'target iqn.2026-11.org.example:t { auth-type none; lun 0 { backend ramdisk; size 1M } }\n');
    expect(await runCli(['--check', '-f', good])).toBe(0);
    expect(out.join('')).toContain('iscsi-target: ICL driver none: ');
    expect(out.join('')).toContain('iscsi-target: NIC driver tcp: ');
    expect(out.join('')).toContain('iscsi-target: backend block: ');
    expect(out.join('')).toContain('iscsi-target: backend ramdisk: ');
    expect(out.join('')).toMatch(/iscsi-target: I\/O engine uring: (available|unavailable \(.+\); LUNs asking for it use threadpool); not asked for \(default threadpool\)\n/);
    expect(out[out.length - 1]).toBe(`iscsi-target: ${good}: OK (1 targets, 1 LUNs, 2 portals)\n`);
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, 'target iqn.2026-11.org.example:t {\n  lun 0 { backend tape }\n}\n');
    expect(await runCli(['--check', '-f', bad])).toBe(1);
    expect(err.join('')).toContain(`iscsi-target: ${bad}:2:19: invalid backend "tape": expected block, ramdisk or rbd\n`);
    expect(await runCli(['-h'])).toBe(0);
    expect(out.join('')).toContain(USAGE);
    expect(await runCli(['--nope'])).toBe(2);
    expect(await runCli(['--version'])).toBe(0);
    expect(out[out.length - 1]).toMatch(/^iscsi-target \d+\.\d+\.\d+\n$/);
    expect(process.env.UV_THREADPOOL_SIZE).toBeDefined();
  });
});

describe('command line: --metrics', () => {
  it('takes ADDR:PORT and refuses an address without a port', () => {
    expect(parseCli(['--metrics', '127.0.0.1:9100'], '/srv')).toMatchObject({ kind: 'run', options: { metrics: '127.0.0.1:9100' } });
    expect(parseCli(['--metrics', '[::1]:0'], '/srv')).toMatchObject({ kind: 'run', options: { metrics: '[::1]:0' } });
    expect(parseCli(['--metrics', '127.0.0.1'], '/srv')).toEqual({
      kind: 'usage-error',
      message: '--metrics: invalid metrics address "127.0.0.1" (expected ADDR:PORT or [IPv6]:PORT)',
    });
    expect(parseCli(['--metrics', '127.0.0.1:70000'], '/srv')).toEqual({
      kind: 'usage-error',
      message: '--metrics: invalid port "70000" in "127.0.0.1:70000" (expected 0-65535)',
    });
  });
});

describe('defaultUvThreadpoolSize', () => {
  it('is four threads per CPU, at least 8 and at most 128', () => {
    expect([1, 2, 3, 4, 16, 32, 64].map((n) => defaultUvThreadpoolSize(n))).toEqual([8, 8, 12, 16, 64, 128, 128]);
  });
});
