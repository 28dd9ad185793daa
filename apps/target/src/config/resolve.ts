/**
 * Resolution and checks of a parsed configuration (the analog of ctld's
 * `conf_verify()`): drafts → an immutable `DaemonConfig`.
 *
 * What it does: adds ctld's implicit `default` portal group (0.0.0.0:3260
 * and [::]:3260, discovery denied) unless the file defines one; assigns
 * portal group tags (explicit ones must be unique; the rest from 1
 * upwards); resolves targets' portal-group and LUN references; applies
 * defaults (a target without auth-group/auth-type denies logins, like
 * ctld's predefined auth group `default`); checks LUNs (backend needs,
 * size a multiple of the block size, known options) and uniqueness across
 * the file (one LUN per path, one CTL LUN id, one portal group per listen
 * address); refuses LUN options it cannot honour (unknown ones, and values
 * of ctld options that describe behaviour the backends lack); collects
 * warnings (unused LUNs and portal groups, odd names). Portal groups that serve no target keep no listen
 * addresses: they do not listen, as in ctld.
 *
 * What it does not do: no file I/O, no parsing (`parser.ts`).
 */
import { checkIscsiName } from '../iscsi-name.js';
import { DENY_ALL, PREDEFINED_AUTH_GROUPS } from './auth-groups.js';
import type { AuthGroupDraft, ConfigDrafts, Draft, LunDraft, PortalGroupDraft, TargetDraft } from './drafts.js';
import { ConfigError, ConfigErrorCode, formatPos, type SourcePos } from './errors.js';
import { listenKey, parseListenAddress, type ListenAddress } from './listen-address.js';
import {
  CONFIG_DEFAULTS,
  type AuthGroupConfig,
  type DaemonConfig,
  type LunConfig,
  type PortalGroupConfig,
  type TargetConfig,
  type TargetPortalGroupRef,
  type TargetPortGroupConfig,
} from './model.js';
import { parseCount, parseSize } from './size.js';
import { PlugPoints, type PlugPointNames } from '../plug-points.js';

function err(code: ConfigErrorCode, pos: SourcePos | null, message: string): ConfigError {
  return new ConfigError(code, pos, message);
}

/** Backend options this daemon understands, with their value checks (null = ok). */
export const KNOWN_LUN_OPTIONS: Record<string, (v: string) => string | null> = {
  vendor: (v) => (/^[\x20-\x7e]{1,8}$/.test(v) ? null : 'expected 1-8 printable ASCII characters'),
  product: (v) => (/^[\x20-\x7e]{1,16}$/.test(v) ? null : 'expected 1-16 printable ASCII characters'),
  revision: (v) => (/^[\x20-\x7e]{1,4}$/.test(v) ? null : 'expected 1-4 printable ASCII characters'),
  readonly: (v) => (v === 'on' || v === 'off' ? null : 'expected "on" or "off"'),
  writecache: (v) => (v === 'on' || v === 'off' ? null : 'expected "on" or "off"'),
  naa: (v) => (/^(0x)?[0-9a-fA-F]{16}$/.test(v) ? null : 'expected 16 hex digits'),
  pblocksize: (v) => {
    const n = parseSize(v);
    return n !== null && n >= 512 && (n & (n - 1)) === 0 ? null : 'expected a power of two of at least 512';
  },
  rpm: (v) => {
    const n = parseCount(v);
    return n !== null && n <= 0xffff ? null : 'expected 0 to 65535 (1 = non-rotating)';
  },
  /**
   * Beyond ctld: `option allow_shrink on` lets start and reload shrink the
   * LUN's backing store to a smaller `size` (the data past it is lost; logged
   * at warn). Off (the default): such a shrink is refused.
   */
  allow_shrink: (v) => (v === 'on' || v === 'off' ? null : 'expected "on" or "off"'),
  /**
   * Beyond ctld: `option io_engine uring|threadpool`, a file LUN's I/O engine
   * (ctl-block io-engine.ts); default the daemon's `--io-engine`.
   */
  io_engine: (v) => (v === 'uring' || v === 'threadpool' ? null : 'expected "uring" or "threadpool"'),
  /** ctld `option removable`: a removable medium (CTL LUN option, not the backend's). */
  removable: (v) => (v === 'on' || v === 'off' ? null : 'expected "on" or "off"'),
  /**
   * ctld `option unmap`: off = no UNMAP, no WRITE SAME with UNMAP, LBPME,
   * LBPU and LBPWS cleared (FreeBSD ties LBPME to CTL_LUN_FLAG_UNMAP).
   */
  unmap: (v) => (v === 'on' || v === 'off' ? null : 'expected "on" or "off"'),
  /** ctld `option capacity` (ramdisk): most memory the RAM disk allocates; writes beyond get SPACE ALLOCATION FAILED. */
  capacity: (v) => {
    const n = parseSize(v);
    return n !== null && n > 0 ? null : 'expected a size such as 512M';
  },
  /** ctld `option readcache`: only the behaviour this daemon has (reads through the page cache) is accepted. */
  readcache: (v) =>
    v === 'on' ? null : v === 'off' ? 'not supported: reads always go through the page cache (the backends have no O_DIRECT path), so "off" cannot be honoured; remove the option' : 'expected "on" or "off"',
  /** ctld `option serseq`: only "off" (no serialization of sequential commands, which is what the backends do). */
  serseq: (v) =>
    v === 'off'
      ? null
      : ['on', 'read', 'soft'].includes(v)
        ? `not supported: the backends do not serialize sequential commands (only "off" describes what they do); remove the option`
        : 'expected "on", "read", "soft" or "off"',
  /** ctld `option insecure_tpc`: only "off" (EXTENDED COPY reaches only the LUNs the initiator's port serves). */
  insecure_tpc: (v) =>
    v === 'off'
      ? null
      : v === 'on'
        ? 'not supported: EXTENDED COPY only reaches LUNs the initiator can address through its own port; "on" (copies to other targets\' LUNs) is not implemented'
        : 'expected "on" or "off"',
};

/** Options of KNOWN_LUN_OPTIONS that are the built-in backends' own (accepted only where the backend lists them). */
const BACKEND_LUN_OPTIONS = new Set(['writecache', 'pblocksize', 'rpm', 'unmap', 'capacity', 'io_engine']);

/** Turns an auth group draft into its configuration (ctld: no type and no CHAP ⇒ deny). */
function resolveAuthGroup(d: AuthGroupDraft, warnings: string[]): AuthGroupConfig {
  let type = d.type?.value ?? null;
  if (type === null) {
    type = 'deny';
    warnings.push(`${formatPos(d.pos)}: ${d.name.startsWith('target ') ? d.name : `auth-group "${d.name}"`} sets no auth-type and no chap entries; like ctld, every login through it is refused (add "auth-type none" to allow logins without CHAP)`);
  } else if ((type === 'chap' || type === 'chap-mutual') && d.chap.length === 0) {
    warnings.push(`${formatPos(d.pos)}: ${d.name.startsWith('target ') ? d.name : `auth-group "${d.name}"`} has auth-type ${type} but no ${type} entries; every login through it will fail`);
  }
  return {
    name: d.name,
    type,
    chap: d.chap.map((c) => c.value),
    initiatorNames: d.initiatorNames.map((n) => n.value),
    initiatorPortals: d.initiatorPortals.map((p) => p.value),
    pos: d.pos,
  };
}

/** "a, b or c". */
function oneOf(names: readonly string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]!}`;
}

let builtInNames: PlugPointNames | null = null;
/** The plug points of a daemon built with nothing but the built-ins and the process-wide registrations. */
function defaultPlugPointNames(): PlugPointNames {
  builtInNames ??= PlugPoints.create().names();
  return builtInNames;
}

/** Turns a LUN draft into a checked `LunConfig`. */
function resolveLun(d: LunDraft, warnings: string[], plug: PlugPointNames): LunConfig {
  const backend = (d.backend?.value ?? 'block').toLowerCase();
  const blockSize = d.blockSize?.value ?? CONFIG_DEFAULTS.blockSize;
  const be = plug.backends.get(backend);
  if (be === undefined) {
    throw err(ConfigErrorCode.BadValue, d.backend!.pos, `invalid backend "${d.backend!.value}": expected ${oneOf([...plug.backends.keys()])}`);
  }
  if (be.needsPath && d.path === null) {
    throw err(ConfigErrorCode.Missing, d.pos, `lun "${d.name}": backend ${backend} needs a "path"`);
  }
  if (be.needsSize && d.size === null) throw err(ConfigErrorCode.Missing, d.pos, `lun "${d.name}": backend ${backend} needs a "size"`);
  if (!be.needsPath && d.path !== null) warnings.push(`${formatPos(d.path.pos)}: lun "${d.name}": "path" is ignored by backend ${backend}`);
  if (d.size !== null && d.size.value % blockSize !== 0) {
    throw err(ConfigErrorCode.BadValue, d.size.pos, `lun "${d.name}": size ${d.size.value} is not a multiple of the block size ${blockSize}`);
  }
  const options = new Map<string, string>();
  for (const [name, opt] of d.options) {
    const forBackend = be.options.includes(name);
    // An option changes what the LUN does: one that cannot be honoured is refused, never ignored with a warning.
    if (BACKEND_LUN_OPTIONS.has(name) && !forBackend) {
      throw err(ConfigErrorCode.Unsupported, opt.pos, `lun "${d.name}": option "${name}" is not supported by backend ${backend} (options of ${backend}: ${be.options.join(', ') || 'none'})`);
    }
    // Options of a registered backend that this daemon does not know are checked by the backend when it opens the LUN.
    const check = KNOWN_LUN_OPTIONS[name] ?? (forBackend ? () => null : undefined);
    if (check === undefined) {
      throw err(ConfigErrorCode.Unsupported, opt.pos, `lun "${d.name}": option "${name}" is not implemented by this daemon; remove it (an option it cannot honour is refused rather than ignored)`);
    }
    const problem = check(opt.value);
    if (problem !== null) throw err(problem.startsWith('not supported') ? ConfigErrorCode.Unsupported : ConfigErrorCode.BadValue, opt.pos, `lun "${d.name}": option ${name} "${opt.value}": ${problem}`);
    options.set(name, opt.value);
  }
  return {
    name: d.name,
    backend,
    path: be.needsPath ? d.path!.value : null,
    pathIsFile: be.needsPath && be.pathIsName !== true,
    size: d.size?.value ?? null,
    blockSize,
    serial: d.serial?.value ?? null,
    deviceId: d.deviceId?.value ?? null,
    ctlLun: d.ctlLun?.value ?? null,
    options,
    // ctld (ctl-block) creates a missing backing file when the LUN has a size: sparse.
    create: be.needsPath && d.size !== null,
    pos: d.pos,
  };
}

/**
 * Resolves and checks drafts into a configuration. Throws `ConfigError` on
 * the first problem.
 */
export function resolveConfig(p: ConfigDrafts, plugPoints?: PlugPointNames): DaemonConfig {
  const plug = plugPoints ?? defaultPlugPointNames();
  const file = p.file;
  const warnings: string[] = [...p.parseWarnings];

  // Auth groups: ctld's predefined ones, then the file's ("default" may be redefined).
  const authGroups = new Map<string, AuthGroupConfig>(PREDEFINED_AUTH_GROUPS);
  for (const d of p.authGroups.values()) authGroups.set(d.name, resolveAuthGroup(d, warnings));
  const usedAuthGroups = new Set<string>();
  const authGroupRef = (ref: Draft<string>, what: string): AuthGroupConfig => {
    const ag = authGroups.get(ref.value);
    if (ag === undefined) {
      throw err(ConfigErrorCode.UnknownReference, ref.pos, `${what}: unknown auth-group "${ref.value}" (predefined: "no-authentication", "no-access", "default")`);
    }
    usedAuthGroups.add(ref.value);
    return ag;
  };
  // RFC 7143 §12.1.3: a CHAP secret used to authenticate initiators MUST NOT be configured for
  // the authentication of any target, and vice versa.
  const initiatorSecrets = new Map<string, string>();
  const allGroups = [...p.authGroups.values(), ...p.targets.flatMap((t) => (t.inlineAuth === null ? [] : [t.inlineAuth]))];
  for (const g of allGroups) for (const c of g.chap) initiatorSecrets.set(c.value.secret, c.value.user);
  for (const g of allGroups) {
    for (const c of g.chap) {
      if (c.value.mutualSecret !== null && initiatorSecrets.has(c.value.mutualSecret)) {
        throw err(
          ConfigErrorCode.BadValue,
          c.pos,
          `chap-mutual "${c.value.user}": the mutual (target) secret is also the initiator secret of user "${initiatorSecrets.get(c.value.mutualSecret)}" (RFC 7143 §12.1.3 forbids sharing secrets between directions)`,
        );
      }
    }
  }

  // ctld's implicit "default" portal group: every address, discovery denied.
  if (!p.portalGroups.has('default')) {
    const pos = { file, line: 0, col: 0 };
    p.portalGroups.set('default', {
      name: 'default',
      pos,
      tag: null,
      listen: [
        { value: parseListenAddress('0.0.0.0') as ListenAddress, pos },
        { value: parseListenAddress('[::]') as ListenAddress, pos },
      ],
      discoveryAuth: null,
      redirect: null,
      discoveryFilter: null,
      offload: null,
      nic: null,
      options: new Map(),
      implicit: true,
    });
  }

  // Portal group tags: explicit ones unique, the rest assigned from 1 upwards.
  const usedTags = new Map<number, PortalGroupDraft>();
  for (const pg of p.portalGroups.values()) {
    if (pg.tag === null) continue;
    const other = usedTags.get(pg.tag.value);
    if (other !== undefined) {
      throw err(ConfigErrorCode.Duplicate, pg.tag.pos, `portal-group "${pg.name}": tag ${pg.tag.value} is already used by portal-group "${other.name}"`);
    }
    usedTags.set(pg.tag.value, pg);
  }
  let nextTag = 1;
  const tags = new Map<string, number>();
  for (const pg of p.portalGroups.values()) {
    if (pg.tag !== null) {
      tags.set(pg.name, pg.tag.value);
      continue;
    }
    while (usedTags.has(nextTag)) nextTag++;
    usedTags.set(nextTag, pg);
    tags.set(pg.name, nextTag);
  }

  // LUNs: named ones once, inline ones per target.
  const luns = new Map<string, LunConfig>();
  for (const d of p.luns.values()) luns.set(d.name, resolveLun(d, warnings, plug));
  const usedLuns = new Set<string>();

  const assigned = new Set<string>();
  const targets: TargetConfig[] = [];
  for (const t of p.targets) {
    const check = checkIscsiName(t.name);
    if (check.warning !== null) warnings.push(`${formatPos(t.pos)}: target ${check.warning}`);
    const refs: TargetPortalGroupRef[] = [];
    const pgRefs = t.portalGroups.length > 0 ? t.portalGroups : [{ value: { name: 'default', auth: null }, pos: t.pos }];
    const targetAuthGroup: AuthGroupConfig =
      t.authGroup !== null ? authGroupRef(t.authGroup, `target "${t.name}"`) : t.inlineAuth !== null ? resolveAuthGroup(t.inlineAuth, warnings) : DENY_ALL;
    for (const r of pgRefs) {
      if (!p.portalGroups.has(r.value.name)) {
        throw err(ConfigErrorCode.UnknownReference, r.pos, `target "${t.name}": unknown portal-group "${r.value.name}"`);
      }
      assigned.add(r.value.name);
      const override = r.value.auth === null ? null : authGroupRef(r.value.auth, `target "${t.name}", portal-group "${r.value.name}"`);
      refs.push({ portalGroup: r.value.name, auth: override?.type ?? null, authGroup: override });
    }
    const auth = targetAuthGroup.type;
    if (t.authGroup === null && t.inlineAuth === null) {
      if (refs.every((r) => r.auth === null)) {
        warnings.push(
          `${formatPos(t.pos)}: target "${t.name}" has no auth-group or auth-type; like ctld's predefined auth-group "default", every login will be refused (add "auth-group no-authentication")`,
        );
      }
    }
    const tLuns = new Map<number, LunConfig>();
    for (const [n, l] of t.luns) {
      if (typeof l.value === 'string') {
        const lun = luns.get(l.value);
        if (lun === undefined) throw err(ConfigErrorCode.UnknownReference, l.pos, `target "${t.name}": unknown lun "${l.value}"`);
        usedLuns.add(lun.name);
        tLuns.set(n, lun);
      } else {
        const lun = resolveLun(l.value, warnings, plug);
        luns.set(lun.name, lun);
        usedLuns.add(lun.name);
        tLuns.set(n, lun);
      }
    }
    if (tLuns.size === 0) warnings.push(`${formatPos(t.pos)}: target "${t.name}" has no LUNs`);
    const aluaGroups = resolveAluaGroups(t, refs.map((r) => p.portalGroups.get(r.portalGroup)!));
    targets.push({
      name: t.name,
      alias: t.alias?.value ?? null,
      auth,
      authGroup: targetAuthGroup,
      redirect: t.redirect?.value ?? null,
      portalGroups: refs,
      luns: tLuns,
      aluaGroups,
      pos: t.pos,
    });
  }

  for (const lun of luns.values()) {
    if (!usedLuns.has(lun.name)) warnings.push(`${formatPos(lun.pos)}: lun "${lun.name}" is not used by any target and will not be opened`);
  }

  // One LUN per backing file, one CTL LUN id per LUN.
  const paths = new Map<string, LunConfig>();
  const ctlIds = new Map<number, LunConfig>();
  for (const lun of luns.values()) {
    if (!usedLuns.has(lun.name)) continue;
    if (lun.path !== null) {
      const other = paths.get(lun.path);
      if (other !== undefined) {
        throw err(ConfigErrorCode.Duplicate, lun.pos, `lun "${lun.name}": path "${lun.path}" is already used by lun "${other.name}"`);
      }
      paths.set(lun.path, lun);
    }
    if (lun.ctlLun !== null) {
      const other = ctlIds.get(lun.ctlLun);
      if (other !== undefined) {
        throw err(ConfigErrorCode.Duplicate, lun.pos, `lun "${lun.name}": ctl-lun ${lun.ctlLun} is already used by lun "${other.name}"`);
      }
      ctlIds.set(lun.ctlLun, lun);
    }
  }

  // Portal groups; only those serving a target listen (ctld does the same).
  const portalGroups = new Map<string, PortalGroupConfig>();
  const listening = new Map<string, { pg: string; pos: SourcePos }>();
  for (const pg of p.portalGroups.values()) {
    if (!assigned.has(pg.name)) {
      if (!pg.implicit) warnings.push(`${formatPos(pg.pos)}: portal-group "${pg.name}" is not used by any target and will not listen`);
    } else {
      if (pg.listen.length === 0) warnings.push(`${formatPos(pg.pos)}: portal-group "${pg.name}" has no listen address`);
      for (const l of pg.listen) {
        const key = listenKey(l.value);
        const other = listening.get(key);
        if (other !== undefined) {
          // The implicit "default" group has no position of its own: point at the explicit listen.
          const at = pg.implicit ? other.pos : l.pos;
          const [a, b] = pg.implicit ? [other.pg, pg.name] : [pg.name, other.pg];
          throw err(ConfigErrorCode.Duplicate, at, `portal-group "${a}": ${key} is already used by portal-group "${b}"`);
        }
        listening.set(key, { pg: pg.name, pos: l.pos });
      }
    }
    // The drivers a portal group names must be registered (ctld fails the same way at kernel_limits()).
    if (pg.offload !== null && !plug.iclDrivers.some((n) => n.toLowerCase() === pg.offload!.value.toLowerCase())) {
      throw err(ConfigErrorCode.BadValue, pg.offload.pos, `portal-group "${pg.name}": unknown ICL driver "${pg.offload.value}" (offload): expected ${oneOf(plug.iclDrivers)}`);
    }
    if (pg.nic !== null && !plug.nicDrivers.some((n) => n.toLowerCase() === pg.nic!.value.toLowerCase())) {
      throw err(ConfigErrorCode.BadValue, pg.nic.pos, `portal-group "${pg.name}": unknown NIC driver "${pg.nic.value}": expected ${oneOf(plug.nicDrivers)}`);
    }
    const discoveryAuthGroup = pg.discoveryAuth === null ? DENY_ALL : authGroupRef(pg.discoveryAuth, `portal-group "${pg.name}"`);
    const options = new Map<string, string>();
    for (const [k, v] of pg.options) {
      options.set(k, v.value);
      warnings.push(`${formatPos(v.pos)}: portal-group "${pg.name}": option "${k}" is ignored (no CTL port options are implemented yet)`);
    }
    portalGroups.set(pg.name, {
      name: pg.name,
      tag: tags.get(pg.name)!,
      listen: assigned.has(pg.name) ? pg.listen.map((l) => l.value) : [],
      discoveryAuth: discoveryAuthGroup.type,
      discoveryAuthGroup,
      redirect: pg.redirect?.value ?? null,
      discoveryFilter: pg.discoveryFilter?.value ?? 'none',
      offload: pg.offload?.value ?? 'none',
      nic: pg.nic?.value ?? null,
      options,
      targetPortGroup: pg.targetPortGroup?.value ?? null,
      relativeTargetPort: pg.relativeTargetPort?.value ?? null,
      pos: pg.pos,
    });
  }
  for (const d of p.authGroups.values()) {
    if (!usedAuthGroups.has(d.name)) warnings.push(`${formatPos(d.pos)}: auth-group "${d.name}" is not used by any target or portal group`);
  }
  if (targets.length === 0) warnings.push(`${file}: no targets are defined; the daemon will serve nothing`);

  return {
    source: file,
    debug: p.debug?.value ?? 0,
    timeout: p.timeout?.value ?? CONFIG_DEFAULTS.timeout,
    maxproc: p.maxproc?.value ?? CONFIG_DEFAULTS.maxproc,
    pidfile: p.pidfile?.value ?? null,
    metricsListen: p.metricsListen?.value ?? null,
    ...(p.nocopy != null ? { nocopy: p.nocopy.value } : {}),
    portalGroups,
    authGroups,
    targets,
    luns,
    warnings,
  };
}

/**
 * ALUA topology of one target (SPC-4 §5.15): the target port groups of its
 * portal groups (`target-port-group`, `relative-target-port`) plus the other
 * gateways' ports (`peer-port-group GROUP RELPORT`). Checks: the two
 * portal-group keys together; every portal group of an ALUA target has them;
 * relative target port identifiers unique within the target; a peer's group is
 * not one of this daemon's; at most 255 ports per group. Null when the target
 * uses no ALUA keys.
 */
function resolveAluaGroups(t: TargetDraft, pgs: readonly PortalGroupDraft[]): TargetPortGroupConfig[] | null {
  for (const pg of pgs) {
    const a = pg.targetPortGroup ?? null;
    const b = pg.relativeTargetPort ?? null;
    if ((a === null) !== (b === null)) {
      throw err(ConfigErrorCode.BadValue, (a ?? b)!.pos, `portal-group "${pg.name}": target-port-group and relative-target-port go together`);
    }
  }
  const withAlua = pgs.filter((pg) => (pg.targetPortGroup ?? null) !== null);
  const peers = t.peerPorts ?? [];
  if (withAlua.length === 0) {
    if (peers.length > 0) {
      throw err(ConfigErrorCode.BadValue, peers[0]!.pos, `target "${t.name}": peer-port-group needs target-port-group and relative-target-port in its portal groups`);
    }
    return null;
  }
  const missing = pgs.find((pg) => (pg.targetPortGroup ?? null) === null);
  if (missing !== undefined) {
    throw err(ConfigErrorCode.BadValue, t.pos, `target "${t.name}": portal-group "${missing.name}" has no target-port-group, but other portal groups of the target do`);
  }
  const groups = new Map<number, { ports: number[]; portalGroups: string[] }>();
  const usedPorts = new Map<number, string>();
  const addPort = (group: number, port: number, what: string, pos: SourcePos): void => {
    const other = usedPorts.get(port);
    if (other !== undefined) {
      throw err(ConfigErrorCode.Duplicate, pos, `target "${t.name}": relative target port ${port} of ${what} is already used by ${other}`);
    }
    usedPorts.set(port, what);
    let g = groups.get(group);
    if (g === undefined) groups.set(group, (g = { ports: [], portalGroups: [] }));
    if (g.ports.length >= 255) throw err(ConfigErrorCode.BadValue, pos, `target "${t.name}": target port group ${group} has more than 255 ports`);
    g.ports.push(port);
  };
  for (const pg of withAlua) {
    addPort(pg.targetPortGroup!.value, pg.relativeTargetPort!.value, `portal-group "${pg.name}"`, pg.relativeTargetPort!.pos);
    groups.get(pg.targetPortGroup!.value)!.portalGroups.push(pg.name);
  }
  const own = new Set(groups.keys());
  for (const pp of peers) {
    if (own.has(pp.value.group)) {
      throw err(ConfigErrorCode.BadValue, pp.pos, `target "${t.name}": peer-port-group ${pp.value.group} is a target port group of this daemon (each gateway has its own)`);
    }
    addPort(pp.value.group, pp.value.port, `peer-port-group ${pp.value.group}`, pp.pos);
  }
  return [...groups.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([id, g]) => ({ id, relativeTargetPorts: g.ports.sort((x, y) => x - y), portalGroups: g.portalGroups }));
}
