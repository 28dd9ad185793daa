// The structural configuration diff behind live reload: entities matched by
// name, compared deep-equal without `pos`, LUN size changes told apart from
// changes that need a remove + add, and fields the diff has never heard of
// still detected.
import { describe, expect, it } from 'vitest';
import { parseConfig, type DaemonConfig } from '../src/config.js';
import { describeGlobalChange, diffConfig, isEmptyDiff, sameConfig, withoutPos } from '../src/reload/config-diff.js';

const base = `
portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1:3260 }
target iqn.2026-11.org.example:a { auth-group no-authentication; portal-group pg0; lun 0 { backend ramdisk; size 4M } }
`;
const parse = (text: string, file = 'a.conf'): DaemonConfig => parseConfig(text, file);

describe('diffConfig', () => {
  it('finds nothing between a file and itself moved around (positions differ)', () => {
    const a = parse(base);
    const b = parse(`\n\n# comment\n${base}`, 'b.conf');
    expect(a.targets[0]!.pos).not.toEqual(b.targets[0]!.pos);
    expect(isEmptyDiff(diffConfig(a, b))).toBe(true);
  });

  it('tells added, removed and changed entities apart, by name', () => {
    const a = parse(base);
    const b = parse(`
portal-group pg0 { discovery-auth-group no-authentication; listen 127.0.0.1:3260; listen 127.0.0.1:3261 }
portal-group pg1 { discovery-auth-group no-authentication; listen 127.0.0.1:3262 }
target iqn.2026-11.org.example:b { auth-group no-authentication; portal-group pg1; lun 0 { backend ramdisk; size 1M } }
`);
    const d = diffConfig(a, b);
    expect(d.portalGroups.added.map((p) => p.name)).toEqual(['pg1']);
    expect(d.portalGroups.removed).toEqual([]);
    // ctld's predefined "default" group changes too: its assigned tag moved past pg1's.
    expect(d.portalGroups.changed.map((c) => c.new.name)).toEqual(['pg0', 'default']);
    expect(d.portalGroups.changed[1]!.old.tag).not.toBe(d.portalGroups.changed[1]!.new.tag);
    expect(d.targets.added.map((t) => t.name)).toEqual(['iqn.2026-11.org.example:b']);
    expect(d.targets.removed.map((t) => t.name)).toEqual(['iqn.2026-11.org.example:a']);
    expect(d.luns.added.map((l) => l.name)).toEqual(['iqn.2026-11.org.example:b,lun,0']);
    expect(d.luns.removed.map((l) => l.name)).toEqual(['iqn.2026-11.org.example:a,lun,0']);
    expect(isEmptyDiff(d)).toBe(false);
  });

  it('a size change is a resize and leaves the target unchanged; other LUN changes are a replace', () => {
    const a = parse(base);
    const resized = diffConfig(a, parse(base.replace('size 4M', 'size 8M')));
    expect(resized.luns.changed.map((c) => [c.kind, c.fields])).toEqual([['resize', ['size']]]);
    expect(resized.targets.changed).toEqual([]);
    const replaced = diffConfig(a, parse(base.replace('size 4M', 'size 8M; blocksize 4096; serial X1')));
    expect(replaced.luns.changed.map((c) => [c.kind, c.fields])).toEqual([['replace', ['size', 'blockSize', 'serial']]]);
    const option = diffConfig(a, parse(base.replace('size 4M', 'size 4M; option vendor ACME')));
    expect(option.luns.changed.map((c) => [c.kind, c.fields])).toEqual([['replace', ['options']]]);
  });

  it('covers fields it does not name (a field added to the model later)', () => {
    const a = parse(base);
    const t = a.targets[0]!;
    const withField = { ...a, targets: [{ ...t, chap: { user: 'u', secret: 's' } }] } as unknown as DaemonConfig;
    const d = diffConfig(a, withField);
    expect(d.targets.changed.map((c) => c.new.name)).toEqual([t.name]);
    const pg = a.portalGroups.get('pg0')!;
    const pgField = { ...a, portalGroups: new Map([['pg0', { ...pg, redirect: '10.0.0.1' }]]) } as unknown as DaemonConfig;
    expect(diffConfig(a, pgField).portalGroups.changed).toHaveLength(1);
  });

  it('reports global settings, not entity maps or warnings', () => {
    const a = parse(base);
    const d = diffConfig(a, parse(`timeout 5\n${base}\nportal-group unused { listen 127.0.0.1:3999 }`));
    expect(d.globals).toEqual([{ key: 'timeout', old: 60, new: 5 }]);
  });

  it('matches targets case-insensitively (RFC 3722)', () => {
    const a = parse(base);
    const d = diffConfig(a, parse(base.replace('org.example:a {', 'ORG.EXAMPLE:A {')));
    expect(d.targets.added).toEqual([]);
    expect(d.targets.removed).toEqual([]);
  });
});

describe('describeGlobalChange', () => {
  it('shows scalars, names for Maps, never other values (secrets)', () => {
    expect(describeGlobalChange('timeout', 60, 5)).toBe('timeout: 60 → 5');
    expect(describeGlobalChange('pidfile', null, '/run/t.pid')).toBe('pidfile: null → "/run/t.pid"');
    const before = new Map([
      ['ag1', { secret: 'aaaaaaaaaaaa' }],
      ['ag2', { secret: 'bbbbbbbbbbbb' }],
    ]);
    const after = new Map([
      ['ag2', { secret: 'cccccccccccc' }],
      ['ag3', { secret: 'dddddddddddd' }],
    ]);
    const line = describeGlobalChange('authGroups', before, after);
    expect(line).toBe('authGroups: added ag3; removed ag1; changed ag2');
    expect(describeGlobalChange('isns', { server: 'x', secret: 's' }, { server: 'y' })).toBe('isns: changed');
  });

  it('a new global Map in the model is diffed without edits', () => {
    const a = parse(base);
    const withGroups = { ...a, authGroups: new Map([['ag1', { type: 'chap' }]]) } as unknown as DaemonConfig;
    expect(diffConfig(a, withGroups).globals.map((g) => g.key)).toEqual(['authGroups']);
  });
});

describe('withoutPos / sameConfig', () => {
  it('drops pos at every depth, keeps Maps and arrays', () => {
    const v = { pos: 1, a: [{ pos: 2, b: 3 }], m: new Map([['k', { pos: 4, c: 5 }]]) };
    expect(withoutPos(v)).toEqual({ a: [{ b: 3 }], m: new Map([['k', { c: 5 }]]) });
    expect(sameConfig({ pos: 1, x: 1 }, { pos: 2, x: 1 })).toBe(true);
    expect(sameConfig({ x: new Map([[1, 'a']]) }, { x: new Map([[1, 'b']]) })).toBe(false);
  });
});
