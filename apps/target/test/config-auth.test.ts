import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrorCode, parseConfig } from '../src/config.js';

function fail(text: string): ConfigError {
  try {
    parseConfig(text, 'ctl.conf');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const T = 'iqn.2012-06.com.example:t';

describe('config: auth groups, CHAP, ACLs, redirect', () => {
  it('parses auth-group sections, inline target auth, portal-group overrides and redirects', () => {
    const c = parseConfig(
      `isns-server 192.0.2.1
auth-group ag0 {
  chap-mutual "user" "secret123456" "mutualuser" "mutualsecret"
  chap-mutual user2 secret223456 mutualuser mutualsecre2
  initiator-portal 192.168.1.1/16
}
auth-group ag1 {
  auth-type none
  initiator-name "iqn.2012-06.com.example:initiatorhost1"
  initiator-portal [2001:db8::de:ef]
  initiator-portal 2001:db8::/32
}
portal-group pg0 {
  discovery-auth-group ag1
  discovery-filter portal-name-auth
  listen 127.0.0.1:3261
  listen [::1]:3261
  redirect 192.0.2.50:3260
}
target ${T}0 { auth-group ag0; portal-group pg0 ag1; redirect [2001:db8::5]; lun 0 { path /tmp/a; size 1M } }
target ${T}1 { chap chapuser chapsecret12; initiator-name iqn.2012-06.com.example:h; portal-group pg0; lun 0 { path /tmp/b } }
`,
      'f',
    );
    const ag0 = c.authGroups.get('ag0')!;
    expect(ag0.type).toBe('chap-mutual');
    expect(ag0.chap).toEqual([
      { user: 'user', secret: 'secret123456', mutualUser: 'mutualuser', mutualSecret: 'mutualsecret' },
      { user: 'user2', secret: 'secret223456', mutualUser: 'mutualuser', mutualSecret: 'mutualsecre2' },
    ]);
    expect(ag0.initiatorPortals).toEqual([{ text: '192.168.1.1/16', address: '192.168.1.1', prefix: 16, family: 'ipv4' }]);
    const ag1 = c.authGroups.get('ag1')!;
    expect(ag1.type).toBe('none');
    expect(ag1.initiatorNames).toEqual(['iqn.2012-06.com.example:initiatorhost1']);
    expect(ag1.initiatorPortals.map((p) => [p.address, p.prefix, p.family])).toEqual([
      ['2001:db8::de:ef', 128, 'ipv6'],
      ['2001:db8::', 32, 'ipv6'],
    ]);
    const pg = c.portalGroups.get('pg0')!;
    expect(pg.discoveryAuthGroup).toBe(ag1);
    expect(pg.discoveryAuth).toBe('none');
    expect(pg.discoveryFilter).toBe('portal-name-auth');
    expect(pg.redirect).toBe('192.0.2.50:3260');
    const [t0, t1] = c.targets;
    expect(t0!.authGroup).toBe(ag0);
    expect(t0!.auth).toBe('chap-mutual');
    expect(t0!.redirect).toBe('[2001:db8::5]:3260');
    expect(t0!.portalGroups).toEqual([{ portalGroup: 'pg0', auth: 'none', authGroup: ag1 }]);
    expect(t1!.auth).toBe('chap');
    expect(t1!.authGroup).toMatchObject({ name: `target ${T}1`, type: 'chap', initiatorNames: ['iqn.2012-06.com.example:h'] });
    expect(t1!.authGroup.chap).toEqual([{ user: 'chapuser', secret: 'chapsecret12', mutualUser: null, mutualSecret: null }]);
    expect(c.warnings).toEqual(['f:1:1: "isns-server 192.0.2.1" is ignored: this daemon has no iSNS client']);
  });

  it('warns about secrets outside 12..16 bytes, typeless and unused auth groups', () => {
    const c = parseConfig(
      `auth-group short { chap u s3cret }
auth-group long { chap u "a secret longer than sixteen" }
auth-group names { initiator-name iqn.2012-06.com.example:h }
auth-group idle { auth-type none }
target ${T} { auth-group short; portal-group default long; lun 0 { path /x } }
target ${T}2 { auth-group names; lun 0 { path /y } }`,
      'f',
    );
    expect(c.warnings).toEqual([
      'f:1:27: chap "u": secret is too short (6 bytes); it should be at least 12 characters long',
      'f:2:26: chap "u": secret is too long (28 bytes); some initiators accept at most 16 characters',
      'f:3:1: auth-group "names" sets no auth-type and no chap entries; like ctld, every login through it is refused (add "auth-type none" to allow logins without CHAP)',
      'f:4:1: auth-group "idle" is not used by any target or portal group',
    ]);
    expect(c.targets[1]!.auth).toBe('deny');
  });

  it('allows redefining the predefined "default" auth group, as ctld', () => {
    const c = parseConfig(`auth-group default { auth-type none }\ntarget ${T} { lun 0 { path /x } }`, 'f');
    expect(c.authGroups.get('default')!.type).toBe('none');
  });

  const cases: Array<[string, string, string]> = [
    ['auth-group a { chap u secretsecret1\n chap-mutual v secretsecret2 m mutualsecret }', ConfigErrorCode.BadValue, 'ctl.conf:2:2: "chap-mutual": cannot mix auth-type "chap-mutual" with "chap" (set at line 1) in auth-group "a"'],
    ['auth-group a { auth-type none; chap u secretsecret1 }', ConfigErrorCode.BadValue, 'ctl.conf:1:32: "chap": cannot mix auth-type "chap" with "none" (set at line 1) in auth-group "a"'],
    ['auth-group a { auth-type none; auth-type none }', ConfigErrorCode.Duplicate, 'ctl.conf:1:32: duplicate "auth-type" (already set at line 1)'],
    ['auth-group a { auth-type sometimes }', ConfigErrorCode.BadValue, 'ctl.conf:1:26: invalid auth-type "sometimes": expected none, deny, chap or chap-mutual'],
    ['auth-group a { chap u }', ConfigErrorCode.Syntax, 'ctl.conf:1:23: "chap" needs a secret, found "}"'],
    ['auth-group a { chap u "" }', ConfigErrorCode.BadValue, 'ctl.conf:1:23: chap "u": secret is empty'],
    [`auth-group a { chap u "${'s'.repeat(256)}" }`, ConfigErrorCode.BadValue, 'ctl.conf:1:23: chap "u": secret is longer than 255 bytes'],
    ['auth-group a { chap u secretsecret1; chap u secretsecret2 }', ConfigErrorCode.Duplicate, 'ctl.conf:1:43: duplicate CHAP user "u" in auth-group "a" (already at line 1)'],
    ['auth-group a { chap-mutual u secretsecret1 m secretsecret1 }', ConfigErrorCode.BadValue, 'ctl.conf:1:46: chap-mutual "u": the mutual secret must differ from the initiator\'s secret (RFC 7143 §12.1.3)'],
    [
      `auth-group a { chap u secretsecret1 }\nauth-group b { chap-mutual v secretsecret2 m secretsecret1 }\ntarget ${T} { auth-group a }`,
      ConfigErrorCode.BadValue,
      'ctl.conf:2:28: chap-mutual "v": the mutual (target) secret is also the initiator secret of user "u" (RFC 7143 §12.1.3 forbids sharing secrets between directions)',
    ],
    ['auth-group a { initiator-name "not a name" }', ConfigErrorCode.BadValue, 'ctl.conf:1:31: invalid initiator-name "not a name": iSCSI name contains blanks or control characters'],
    ['auth-group a { initiator-portal 10.0.0.0/33 }', ConfigErrorCode.BadValue, 'ctl.conf:1:33: invalid initiator-portal "10.0.0.0/33": prefix length must be 0 to 32'],
    ['auth-group a { initiator-portal host.example }', ConfigErrorCode.BadValue, 'ctl.conf:1:33: invalid initiator-portal "host.example": expected an IPv4 or IPv6 address with an optional /prefix'],
    ['auth-group a { initiator-portal [::1]/129 }', ConfigErrorCode.BadValue, 'ctl.conf:1:33: invalid initiator-portal "[::1]/129": prefix length must be 0 to 128'],
    ['auth-group a { listen 1.2.3.4 }', ConfigErrorCode.UnknownKeyword, 'ctl.conf:1:16: unknown keyword "listen" in auth-group "a"'],
    ['auth-group a { }\nauth-group a { }', ConfigErrorCode.Duplicate, 'ctl.conf:2:12: duplicate auth-group "a" (first defined at line 1)'],
    ['auth-group no-authentication { chap u secretsecret1 }', ConfigErrorCode.Duplicate, 'ctl.conf:1:12: auth-group "no-authentication" is predefined and cannot be redefined'],
    [`target ${T} { chap u secretsecret1\n auth-group no-authentication }`, ConfigErrorCode.Duplicate, `ctl.conf:2:2: cannot use both auth-group and inline auth settings (auth-type, chap, initiator-name...) in target "${T}" (line 1)`],
    [`target ${T} { auth-group no-authentication\n initiator-name iqn.2012-06.com.example:h }`, ConfigErrorCode.Duplicate, `ctl.conf:2:2: cannot use both auth-group and initiator-name in target "${T}" (auth-group at line 1)`],
    [`target ${T} { portal-group default nope }`, ConfigErrorCode.UnknownReference, `ctl.conf:1:57: target "${T}", portal-group "default": unknown auth-group "nope" (predefined: "no-authentication", "no-access", "default")`],
    ['portal-group p { discovery-auth-group nope }', ConfigErrorCode.UnknownReference, 'ctl.conf:1:39: portal-group "p": unknown auth-group "nope" (predefined: "no-authentication", "no-access", "default")'],
    ['portal-group p { redirect 0.0.0.0 }', ConfigErrorCode.BadValue, 'ctl.conf:1:27: redirect: "0.0.0.0" is not an address an initiator can connect to'],
    ['portal-group p { redirect [::1 }', ConfigErrorCode.BadValue, 'ctl.conf:1:27: redirect: invalid address "[::1": missing "]"'],
    ['portal-group p { redirect 10.0.0.1; redirect 10.0.0.2 }', ConfigErrorCode.Duplicate, 'ctl.conf:1:37: duplicate "redirect" (already set at line 1)'],
    [`target ${T} { redirect 10.0.0.1:99999 }`, ConfigErrorCode.BadValue, 'ctl.conf:1:45: redirect: invalid port "99999" in "10.0.0.1:99999" (expected 0-65535)'],
    ['isns-period', ConfigErrorCode.Syntax, 'ctl.conf:1:1: "isns-period" needs a value, found end of file'],
  ];
  it.each(cases)('%s', (text, code, message) => {
    const e = fail(text);
    expect(e.message).toBe(message);
    expect(e.code).toBe(code);
  });
});
