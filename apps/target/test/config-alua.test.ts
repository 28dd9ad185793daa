import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config.js';
import { portAluaOf } from '../src/alua-config.js';

const T = 'iqn.2026-12.org.example:t';

function conf(pg: string, target: string, pg2 = ''): string {
  return `portal-group pa { listen 127.0.0.1:3260; ${pg} }\n${pg2}target ${T} { auth-group no-authentication; portal-group pa; ${target} lun 0 { backend ramdisk; size 1M } }`;
}

function fail(text: string): string {
  try {
    parseConfig(text, 'ctl.conf');
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('ctl.conf ALUA keys (target-port-group, relative-target-port, peer-port-group)', () => {
  it('builds every group of the target, own and peers, ascending', () => {
    const c = parseConfig(conf('target-port-group 2; relative-target-port 5;', 'peer-port-group 1 1; peer-port-group 1 3; peer-port-group 7 9;'), 'ctl.conf');
    const t = c.targets[0]!;
    expect(t.aluaGroups?.map((g) => [g.id, [...g.relativeTargetPorts]])).toEqual([
      [1, [1, 3]],
      [2, [5]],
      [7, [9]],
    ]);
    const a = portAluaOf(t, c.portalGroups.get('pa')!);
    expect(a).toEqual({
      relativeTargetPort: 5,
      targetPortGroup: 2,
      groups: [
        { id: 1, relativeTargetPorts: [1, 3] },
        { id: 2, relativeTargetPorts: [5] },
        { id: 7, relativeTargetPorts: [9] },
      ],
    });
  });

  it('without the keys the target has no topology (CTL default)', () => {
    const c = parseConfig(conf('', ''), 'ctl.conf');
    expect(c.targets[0]!.aluaGroups).toBeNull();
    expect(portAluaOf(c.targets[0]!, c.portalGroups.get('pa')!)).toBeNull();
  });

  it.each([
    [conf('target-port-group 0; relative-target-port 1;', ''), /target-port-group "0": expected an integer from 1 to 65535/],
    [conf('target-port-group 1; relative-target-port 65536;', ''), /relative-target-port "65536"/],
    [conf('target-port-group 1;', ''), /target-port-group and relative-target-port go together/],
    [conf('target-port-group 1; relative-target-port 1;', 'peer-port-group 2 1;'), /relative target port 1 of peer-port-group 2 is already used by portal-group "pa"/],
    [conf('target-port-group 1; relative-target-port 1;', 'peer-port-group 1 2;'), /peer-port-group 1 is a target port group of this daemon/],
    [conf('', 'peer-port-group 2 2;'), /peer-port-group needs target-port-group/],
    [
      conf('target-port-group 1; relative-target-port 1;', 'portal-group pb;', 'portal-group pb { listen 127.0.0.1:3261 }\n'),
      /portal-group "pb" has no target-port-group/,
    ],
  ])('refuses %s', (text, message) => {
    expect(fail(text)).toMatch(message);
  });
});
