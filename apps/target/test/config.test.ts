import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  ConfigErrorCode,
  DEFAULT_TARGET_NAME,
  embeddedConfig,
  formatSize,
  loadConfigFile,
  parseConfig,
  parseListenAddress,
  parseSize,
} from '../src/config.js';
import { tokenize } from '../src/config/lexer.js';

function fail(text: string): ConfigError {
  try {
    parseConfig(text, 'ctl.conf');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const FULL = `
# A full example of the supported subset.
debug 1
timeout 30
maxproc 8
pidfile /run/iscsi-target.pid

portal-group pg0 {
  discovery-auth-group no-authentication
  listen 0.0.0.0
  listen [::1]:3261
  listen 192.0.2.10:3262
  tag 7
  offload none
  option foo bar
}

lun shared {
  path /dev/zvol/tank/disk0
  size 10G
  blocksize 4096
  serial SN0001
  device-id "disk zero"
  ctl-lun 5
  option vendor ACME
  option product "Disk 0"
  option readonly on
}

target iqn.2012-06.com.example:target0 {
  alias "Example target"
  auth-group no-authentication
  portal-group pg0
  lun 0 shared
  lun 1 {
    backend ramdisk
    size 512M
  }
}
`;

describe('config: tokenizer', () => {
  it('reports line and column, skips comments, keeps quoted text', () => {
    const toks = tokenize('a "b c" # x { y\n  {d;}', 'f');
    expect(toks.map((t) => [t.type, t.value, t.pos.line, t.pos.col])).toEqual([
      ['word', 'a', 1, 1],
      ['string', 'b c', 1, 3],
      ['{', '{', 2, 3],
      ['word', 'd', 2, 4],
      [';', ';', 2, 5],
      ['}', '}', 2, 6],
    ]);
  });

  it('refuses an unterminated string with its position', () => {
    expect(() => tokenize('x\n  "abc', 'f.conf')).toThrow('f.conf:2:3: unterminated quoted string');
  });
});

describe('config: sizes and addresses', () => {
  it('parses expand_number sizes', () => {
    expect(parseSize('512')).toBe(512);
    expect(parseSize('512M')).toBe(512 * 2 ** 20);
    expect(parseSize('10G')).toBe(10 * 2 ** 30);
    expect(parseSize('1t')).toBe(2 ** 40);
    expect(parseSize('4k')).toBe(4096);
    expect(parseSize('1.5G')).toBeNull();
    expect(parseSize('G')).toBeNull();
    expect(parseSize('10GB')).toBeNull();
    expect(parseSize('9E')).toBeNull(); // beyond 2^53
    expect(formatSize(2 ** 30)).toBe('1 GiB');
    expect(formatSize(1536)).toBe('1.5 KiB');
  });

  it('parses listen addresses like ctld', () => {
    expect(parseListenAddress('127.0.0.1')).toEqual({ host: '127.0.0.1', port: 3260, family: 4, wildcard: false });
    expect(parseListenAddress('0.0.0.0:3261')).toEqual({ host: '0.0.0.0', port: 3261, family: 4, wildcard: true });
    expect(parseListenAddress('[::1]:3262')).toEqual({ host: '::1', port: 3262, family: 6, wildcard: false });
    expect(parseListenAddress('[::]')).toEqual({ host: '::', port: 3260, family: 6, wildcard: true });
    expect(parseListenAddress('fe80::1')).toEqual({ host: 'fe80::1', port: 3260, family: 6, wildcard: false });
    expect(parseListenAddress('storage.example:3263')).toEqual({ host: 'storage.example', port: 3263, family: 0, wildcard: false });
    expect(parseListenAddress('1.2.3.4:0')).toEqual({ host: '1.2.3.4', port: 0, family: 4, wildcard: false });
    expect(parseListenAddress('1.2.3.4:65536')).toBe('invalid port "65536" in "1.2.3.4:65536" (expected 0-65535)');
    expect(parseListenAddress('[::1')).toBe('invalid address "[::1": missing "]"');
    expect(parseListenAddress('[1.2.3.4]')).toBe('invalid address "[1.2.3.4]": "1.2.3.4" is not an IPv6 address');
    expect(parseListenAddress('bad_host!')).toBe('invalid address "bad_host!"');
  });
});

describe('config: the supported subset', () => {
  it('parses a full file', () => {
    const c = parseConfig(FULL, 'ctl.conf');
    expect(c.debug).toBe(1);
    expect(c.timeout).toBe(30);
    expect(c.maxproc).toBe(8);
    expect(c.pidfile).toBe('/run/iscsi-target.pid');
    const pg = c.portalGroups.get('pg0')!;
    expect(pg.tag).toBe(7);
    expect(pg.discoveryAuth).toBe('none');
    expect(pg.offload).toBe('none');
    expect(pg.options.get('foo')).toBe('bar');
    expect(pg.listen.map((l) => [l.host, l.port])).toEqual([
      ['0.0.0.0', 3260],
      ['::1', 3261],
      ['192.0.2.10', 3262],
    ]);
    // The implicit default group exists but serves no target: it does not listen.
    expect(c.portalGroups.get('default')!.listen).toEqual([]);
    expect(c.targets).toHaveLength(1);
    const t = c.targets[0]!;
    expect(t.name).toBe('iqn.2012-06.com.example:target0');
    expect(t.alias).toBe('Example target');
    expect(t.auth).toBe('none');
    expect(t.portalGroups).toEqual([{ portalGroup: 'pg0', auth: null, authGroup: null }]);
    const l0 = t.luns.get(0)!;
    expect(l0).toMatchObject({
      name: 'shared',
      backend: 'block',
      path: '/dev/zvol/tank/disk0',
      size: 10 * 2 ** 30,
      blockSize: 4096,
      serial: 'SN0001',
      deviceId: 'disk zero',
      ctlLun: 5,
      create: true, // size given: created sparse if missing
    });
    expect([...l0.options]).toEqual([
      ['vendor', 'ACME'],
      ['product', 'Disk 0'],
      ['readonly', 'on'],
    ]);
    const l1 = t.luns.get(1)!;
    expect(l1).toMatchObject({ name: 'iqn.2012-06.com.example:target0,lun,1', backend: 'ramdisk', path: null, size: 512 * 2 ** 20, blockSize: 512 });
    expect(c.warnings).toEqual(['ctl.conf:15:10: portal-group "pg0": option "foo" is ignored (no CTL port options are implemented yet)']);
  });

  it('uses the implicit default portal group (0.0.0.0 and [::], discovery denied) and assigns tags', () => {
    const c = parseConfig(
      'portal-group a { listen 10.0.0.1 }\nportal-group b { listen 10.0.0.2\ntag 1 }\n' +
        'target iqn.2012-06.com.example:t1 { auth-type none; lun 0 { path /tmp/x } }\n' +
        'target iqn.2012-06.com.example:t2 { auth-group no-authentication; portal-group a; portal-group b no-access; lun 0 { path /tmp/y } }',
      'f',
    );
    const d = c.portalGroups.get('default')!;
    expect(d.listen.map((l) => `${l.host}:${l.port}`)).toEqual(['0.0.0.0:3260', ':::3260']);
    expect(d.discoveryAuth).toBe('deny');
    expect(c.portalGroups.get('b')!.tag).toBe(1);
    expect(c.portalGroups.get('a')!.tag).toBe(2);
    expect(d.tag).toBe(3);
    expect(c.targets[0]!.portalGroups).toEqual([{ portalGroup: 'default', auth: null, authGroup: null }]);
    expect(c.targets[1]!.portalGroups).toEqual([
      { portalGroup: 'a', auth: null, authGroup: null },
      { portalGroup: 'b', auth: 'deny', authGroup: c.authGroups.get('no-access') },
    ]);
    expect(c.authGroups.get('no-access')!.type).toBe('deny');
  });

  it('warns about a target without authentication settings and denies it, like ctld', () => {
    const c = parseConfig('target iqn.2012-06.com.example:t { lun 0 { path /x } }', 'f');
    expect(c.targets[0]!.auth).toBe('deny');
    expect(c.warnings).toEqual([
      'f:1:8: target "iqn.2012-06.com.example:t" has no auth-group or auth-type; like ctld\'s predefined auth-group "default", every login will be refused (add "auth-group no-authentication")',
    ]);
  });

  it('refuses LUN options it cannot honour instead of ignoring them with a warning', () => {
    const t = (opt: string, backend = ''): string => `target iqn.2012-06.com.example:t { auth-type none\n lun 0 { path /x; size 1M; ${backend}option ${opt} } }`;
    expect(() => parseConfig(t('frobnicate on'), 'f')).toThrow('f:2:35: lun "iqn.2012-06.com.example:t,lun,0": option "frobnicate" is not implemented by this daemon');
    expect(() => parseConfig(t('readcache off'), 'f')).toThrow(/option readcache "off": not supported: reads always go through the page cache/);
    expect(() => parseConfig(t('serseq on'), 'f')).toThrow(/option serseq "on": not supported/);
    expect(() => parseConfig(t('insecure_tpc on'), 'f')).toThrow(/option insecure_tpc "on": not supported: EXTENDED COPY only reaches/);
    expect(() => parseConfig(t('capacity 1M'), 'f')).toThrow(/option "capacity" is not supported by backend block/);
    expect(() => parseConfig(t('rpm 1', 'backend ramdisk; '), 'f')).toThrow(/option "rpm" is not supported by backend ramdisk/);
    for (const ok of ['readcache on', 'serseq off', 'insecure_tpc off', 'unmap off', 'unmap on']) {
      expect(parseConfig(t(ok), 'f').targets[0]!.luns.get(0)!.options.get(ok.split(' ')[0]!)).toBe(ok.split(' ')[1]);
    }
    expect(parseConfig(t('capacity 512K', 'backend ramdisk; '), 'f').targets[0]!.luns.get(0)!.options.get('capacity')).toBe('512K');
  });

  it('validates option io_engine uring|threadpool, a block LUN option only', () => {
    const t = (opt: string, backend = ''): string => `target iqn.2012-06.com.example:t { auth-type none\n lun 0 { path /x; size 1M; ${backend}option ${opt} } }`;
    for (const v of ['uring', 'threadpool']) expect(parseConfig(t(`io_engine ${v}`), 'f').targets[0]!.luns.get(0)!.options.get('io_engine')).toBe(v);
    expect(() => parseConfig(t('io_engine aio'), 'f')).toThrow(/option io_engine "aio": expected "uring" or "threadpool"/);
    expect(() => parseConfig(t('io_engine uring', 'backend ramdisk; '), 'f')).toThrow(/option "io_engine" is not supported by backend ramdisk/);
  });

  it('warns about unused LUNs and portal groups, odd names', () => {
    const c = parseConfig(
      'portal-group idle { listen 10.1.1.1 }\nlun spare { path /s }\n' +
        'target iqn.bad { auth-type none\n lun 0 { path /x; option unmap on } }',
      'f',
    );
    expect(c.warnings).toEqual([
      'f:3:8: target "iqn.bad" is not of the form iqn.YYYY-MM.reversed.domain[:id]',
      'f:2:1: lun "spare" is not used by any target and will not be opened',
      'f:1:1: portal-group "idle" is not used by any target and will not listen',
    ]);
  });

  it('accepts option removable on|off on a LUN, without a warning (a CTL LUN option, FreeBSD CTL_LUN_REMOVABLE)', () => {
    const c = parseConfig(
      'target iqn.2012-06.com.example:t { auth-type none\n lun 0 { path /x; option removable on }\n lun 1 { path /y; option removable off } }',
      'f',
    );
    expect(c.warnings).toEqual([]);
    expect(c.targets[0]!.luns.get(0)!.options.get('removable')).toBe('on');
    expect(c.targets[0]!.luns.get(1)!.options.get('removable')).toBe('off');
  });

  it('accepts semicolons, comments and quoted keywords as values', () => {
    const c = parseConfig('target "iqn.2012-06.com.example:t" { auth-type none; ; lun 0 { path "lun" ; } } # end', 'f');
    expect(c.targets[0]!.luns.get(0)!.path).toBe('lun');
  });
});

describe('config: errors (file:line:col: message)', () => {
  const cases: Array<[string, string, string]> = [
    ['bogus 1', ConfigErrorCode.UnknownKeyword, 'ctl.conf:1:1: unknown keyword "bogus" at top level'],
    ['target iqn.2012-06.com.example:t {\n  sise 1G\n}', ConfigErrorCode.UnknownKeyword, 'ctl.conf:2:3: unknown keyword "sise" in target "iqn.2012-06.com.example:t"'],
    ['portal-group p {\n listen 1.2.3.4:99999 }', ConfigErrorCode.BadValue, 'ctl.conf:2:9: invalid port "99999" in "1.2.3.4:99999" (expected 0-65535)'],
    ['timeout abc', ConfigErrorCode.BadValue, 'ctl.conf:1:9: invalid timeout "abc": expected an integer from 0 to 86400'],
    ['debug', ConfigErrorCode.Syntax, 'ctl.conf:1:1: "debug" needs a level, found end of file'],
    ['lun x {\n  path target\n}', ConfigErrorCode.Syntax, 'ctl.conf:2:8: "path" needs a path, found the keyword "target" (quote it to use it as a value)'],
    ['target iqn.2012-06.com.example:t {\n  alias a\n', ConfigErrorCode.Syntax, 'ctl.conf:2:9: missing "}" to close target "iqn.2012-06.com.example:t" opened at line 1'],
    ['target iqn.2012-06.com.example:t alias', ConfigErrorCode.Syntax, 'ctl.conf:1:34: expected "{" after target "iqn.2012-06.com.example:t", found "alias"'],
    ['}', ConfigErrorCode.Syntax, 'ctl.conf:1:1: expected a keyword, found "}"'],
    ['target iqn.2012-06.com.example:t { auth-type maybe }', ConfigErrorCode.BadValue, 'ctl.conf:1:46: invalid auth-type "maybe": expected none, deny, chap or chap-mutual'],
    ['target iqn.2012-06.com.example:t { auth-type none\n auth-group no-authentication }', ConfigErrorCode.Duplicate, 'ctl.conf:2:2: cannot use both auth-group and inline auth settings (auth-type, chap, initiator-name...) in target "iqn.2012-06.com.example:t" (line 1)'],
    ['target iqn.2012-06.com.example:t { auth-group ag9 }', ConfigErrorCode.UnknownReference, 'ctl.conf:1:47: target "iqn.2012-06.com.example:t": unknown auth-group "ag9" (predefined: "no-authentication", "no-access", "default")'],
    ['target iqn.2012-06.com.example:t { portal-group nope }', ConfigErrorCode.UnknownReference, 'ctl.conf:1:49: target "iqn.2012-06.com.example:t": unknown portal-group "nope"'],
    ['target iqn.2012-06.com.example:t { lun 0 missing }', ConfigErrorCode.UnknownReference, 'ctl.conf:1:42: target "iqn.2012-06.com.example:t": unknown lun "missing"'],
    ['target iqn.2012-06.com.example:t { lun 1024 x }', ConfigErrorCode.BadValue, 'ctl.conf:1:40: invalid LUN number "1024": expected 0 to 1023'],
    ['target iqn.2012-06.com.example:t { lun 0 { backend zfs } }', ConfigErrorCode.BadValue, 'ctl.conf:1:52: invalid backend "zfs": expected block, ramdisk or rbd'],
    ['target iqn.2012-06.com.example:t { lun 0 { size 1G } }', ConfigErrorCode.Missing, 'ctl.conf:1:40: lun "iqn.2012-06.com.example:t,lun,0": backend block needs a "path"'],
    ['lun r { backend ramdisk }', ConfigErrorCode.Missing, 'ctl.conf:1:1: lun "r": backend ramdisk needs a "size"'],
    ['lun r { path /x\n size 10X }', ConfigErrorCode.BadValue, 'ctl.conf:2:7: invalid size "10X": expected a positive number of bytes with an optional K, M, G, T, P or E suffix'],
    ['lun r { path /x; size 1000 }', ConfigErrorCode.BadValue, 'ctl.conf:1:23: lun "r": size 1000 is not a multiple of the block size 512'],
    ['lun r { path /x; blocksize 1000 }', ConfigErrorCode.BadValue, 'ctl.conf:1:28: invalid blocksize "1000": expected a power of two from 512 to 65536'],
    ['lun r { path /x; path /y }', ConfigErrorCode.Duplicate, 'ctl.conf:1:18: duplicate "path" (already set at line 1)'],
    ['lun r { path /x; option readonly yes }', ConfigErrorCode.BadValue, 'ctl.conf:1:25: lun "r": option readonly "yes": expected "on" or "off"'],
    ['lun r { path /x; option removable yes }', ConfigErrorCode.BadValue, 'ctl.conf:1:25: lun "r": option removable "yes": expected "on" or "off"'],
    ['lun r { path /x; option vendor ABCDEFGHIJ }', ConfigErrorCode.BadValue, 'ctl.conf:1:25: lun "r": option vendor "ABCDEFGHIJ": expected 1-8 printable ASCII characters'],
    ['lun r { path /x; device-type cd }', ConfigErrorCode.Unsupported, 'ctl.conf:1:30: device-type "cd": only disk (0) is supported'],
    ['lun r { path /x }\nlun r { path /y }', ConfigErrorCode.Duplicate, 'ctl.conf:2:5: duplicate lun "r" (first defined at line 1)'],
    ['portal-group p { tag 70000 }', ConfigErrorCode.BadValue, 'ctl.conf:1:22: invalid tag "70000": expected an integer from 0 to 65535'],
    ['portal-group p { tag 5 }\nportal-group q { tag 5 }', ConfigErrorCode.Duplicate, 'ctl.conf:2:22: portal-group "q": tag 5 is already used by portal-group "p"'],
    ['portal-group p { listen 1.2.3.4 }\nportal-group p { }', ConfigErrorCode.Duplicate, 'ctl.conf:2:14: duplicate portal-group "p" (first defined at line 1)'],
    ['portal-group p { listen 1.2.3.4; listen 1.2.3.4:3260 }', ConfigErrorCode.Duplicate, 'ctl.conf:1:41: duplicate listen "1.2.3.4:3260" (already at line 1)'],
    ['portal-group p { discovery-filter everything }', ConfigErrorCode.BadValue, 'ctl.conf:1:35: invalid discovery-filter "everything": expected none, portal, portal-name or portal-name-auth'],
    ['portal-group p { listen 0.0.0.0 }\ntarget iqn.2012-06.com.example:a { auth-type none; portal-group p }\ntarget iqn.2012-06.com.example:b { auth-type none }', ConfigErrorCode.Duplicate, 'ctl.conf:1:25: portal-group "p": 0.0.0.0:3260 is already used by portal-group "default"'],
    ['target iqn.2012-06.com.example:t { }\ntarget IQN.2012-06.COM.EXAMPLE:T { }', ConfigErrorCode.Duplicate, 'ctl.conf:2:8: duplicate target "IQN.2012-06.COM.EXAMPLE:T" (first defined at line 1)'],
    [`target ${'x'.repeat(224)} { }`, ConfigErrorCode.BadValue, `ctl.conf:1:8: invalid target name "${'x'.repeat(224)}": iSCSI name longer than 223 bytes`],
    ['lun a { path /same }\ntarget iqn.2012-06.com.example:t { auth-type none; lun 0 a; lun 1 { path /same } }', ConfigErrorCode.Duplicate, 'ctl.conf:2:65: lun "iqn.2012-06.com.example:t,lun,1": path "/same" is already used by lun "a"'],
  ];
  it.each(cases)('%s', (text, code, message) => {
    const e = fail(text);
    expect(e.message).toBe(message);
    expect(e.code).toBe(code);
  });
});

describe('config: files and the embedded default', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iscsi-target-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves relative paths against the file directory', async () => {
    const file = join(dir, 'ctl.conf');
    writeFileSync(file, 'pidfile run/t.pid\ntarget iqn.2012-06.com.example:t { auth-type none; lun 0 { path disks/a.img } }\n');
    const c = await loadConfigFile(file);
    expect(c.pidfile).toBe(join(dir, 'run/t.pid'));
    expect(c.targets[0]!.luns.get(0)!.path).toBe(join(dir, 'disks/a.img'));
    expect(c.luns.get('iqn.2012-06.com.example:t,lun,0')!.path).toBe(join(dir, 'disks/a.img'));
  });

  it('reports an unreadable file', async () => {
    const file = join(dir, 'missing.conf');
    const e = await loadConfigFile(file).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).code).toBe(ConfigErrorCode.Io);
    expect((e as ConfigError).message).toContain(`${file}: cannot read the configuration: ENOENT`);
  });

  it('builds the embedded default', () => {
    const c = embeddedConfig({ dataDir: dir });
    expect(c.targets).toHaveLength(1);
    const t = c.targets[0]!;
    expect(t.name).toBe(DEFAULT_TARGET_NAME);
    expect(t.auth).toBe('none');
    expect(t.luns.get(0)).toMatchObject({ backend: 'block', path: join(dir, 'lun0.img'), size: 2 ** 30, blockSize: 512, create: true });
    const pg = c.portalGroups.get('default')!;
    expect(pg.discoveryAuth).toBe('none');
    expect(pg.listen.map((l) => `${l.host}:${l.port}`)).toEqual(['127.0.0.1:3260']);
    expect(c.timeout).toBe(60);
    expect(c.maxproc).toBe(30);
  });

  it('applies --listen to the embedded default and checks it', () => {
    const c = embeddedConfig({ dataDir: dir, listen: ['[::1]:3300', '127.0.0.2:3301'] });
    expect(c.portalGroups.get('default')!.listen.map((l) => [l.host, l.port])).toEqual([
      ['::1', 3300],
      ['127.0.0.2', 3301],
    ]);
    expect(() => embeddedConfig({ dataDir: dir, listen: ['1.2.3.4:x'] })).toThrow('--listen: invalid port "x" in "1.2.3.4:x" (expected 0-65535)');
  });
});
