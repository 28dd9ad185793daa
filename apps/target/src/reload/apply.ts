/**
 * Applying a reloaded configuration to the running daemon (FreeBSD ctld's
 * `conf_apply()`), changing only what differs from the running one
 * (`config-diff.ts`):
 * 1. prepare — everything that can fail: ICL and NIC drivers of new/changed
 *    portal groups exist and are available, no LUN shrinks without
 *    `option allow_shrink on`, fixed `ctl-lun` ids are free,
 *    new and replaced LUNs open, new portals listen. On any failure what was
 *    prepared is closed again and `ReloadError` is thrown: the running
 *    configuration is untouched.
 * 2. commit — new LUNs are added (REPORTED LUNS DATA HAS CHANGED, by CTL),
 *    resized LUNs resized (CAPACITY DATA HAS CHANGED; a forced shrink is
 *    logged at warn with the bytes lost), LUNs whose other
 *    settings changed are removed and added again (logged so); targets/ports
 *    are added, updated in place (LUN map, alias: their sessions keep
 *    running) or removed (Async Message "target requests logout", RFC 7143
 *    §11.9.1, then dropped after the grace period); discovery answers follow;
 *    portals no longer configured close; LUNs no target uses any more are
 *    removed once the sessions of removed targets are gone (their
 *    outstanding I/O drains first). A changed NIC driver or pidfile takes
 *    effect at the next start (reported as deferred).
 *
 * What it does not do: no parsing or diffing (`config-diff.ts`), no
 * serialization of reloads (`TargetDaemon.reload` queues them), no signal
 * handling (`main.ts`).
 */
import { portAluaOf } from '../alua-config.js';
import { TargetState, type IscsiFrontend } from '@iscsi-target/ctl-frontend-iscsi';
import { duplicateBacking } from '../backing-identity.js';
import { formatPos } from '../config/errors.js';
import { formatHostPort } from '../config/listen-address.js';
import type { DaemonConfig, LunConfig, PortalGroupConfig, TargetConfig } from '../config/model.js';
import { formatSize } from '../config/size.js';
import { addrKey, type DaemonHost, type ListenerEntry } from '../daemon-host.js';
import { describeBytes, ShrinkRefusedError } from '@iscsi-target/ctl-block';
import { capacityOf, resizeBackend, sameLunMap } from '../inventory.js';
import { allowsShrink, ctlLunOptions, prStoreFor, shrinkHint } from '../lun-factory.js';
import { MissingBackingError, openServedLun } from '../served-lun.js';
import { checkServedStores, storeProblems } from '../store-watch.js';
import type { MeteredLun } from '../lun-stats.js';
import { sysErrorText } from '../sys-error.js';
import { describeGlobalChange, differingKeys, diffConfig, isEmptyDiff, targetShape, usedLuns, type ConfigDiff } from './config-diff.js';
import { ReloadError, type ReloadReport } from './report.js';

export async function applyReload(h: DaemonHost, next: DaemonConfig): Promise<ReloadReport> {
  if (h.state() !== 'running') throw new ReloadError(`cannot reload: the daemon is ${h.state()}`);
  const diff = diffConfig(h.config(), next);
  // Served backing files that were deleted or replaced are reported at every reload.
  await checkServedStores(h);
  // LUNs of the configuration that are not served (their file was missing) are tried again with their new
  // configuration, whatever changed in it; new LUNs go through the diff (a missing known file refuses the reload).
  const added = new Set(diff.luns.added.map((l) => l.name));
  const retry = [...usedLuns(next).values()].filter((l) => !h.inventory.lunState.has(l.name) && !added.has(l.name));
  if (isEmptyDiff(diff) && retry.length === 0) {
    // Same content (positions may differ): keep the new one for its positions.
    h.setConfig(next);
    h.pgByTag.clear();
    for (const pg of next.portalGroups.values()) h.pgByTag.set(pg.tag, pg);
    for (const e of h.listeners) e.pg = next.portalGroups.get(e.pg.name) ?? e.pg;
    h.refreshCatalog();
    return { source: next.source, changed: false, actions: [], errors: [], deferred: [], problems: storeProblems(h) };
  }
  const { opened, newListeners } = await prepareReload(h, next, diff, retry);
  return commitReload(h, next, diff, opened, newListeners, retry);
}

async function prepareReload(h: DaemonHost, next: DaemonConfig, diff: ConfigDiff, retry: readonly LunConfig[]): Promise<{ opened: Map<string, MeteredLun>; newListeners: ListenerEntry[] }> {
  for (const pg of [...diff.portalGroups.added, ...diff.portalGroups.changed.map((c) => c.new)]) {
    if (pg.listen.length === 0) continue;
    try {
      h.plug.icl.find(pg.offload);
    } catch {
      throw new ReloadError(`${formatPos(pg.pos)}: portal-group "${pg.name}": ICL driver "${pg.offload}" is not available (known: ${h.plug.icl.names().join(', ')})`);
    }
    try {
      h.checkNic(pg);
    } catch (e) {
      throw new ReloadError((e as Error).message, { cause: e });
    }
  }
  // A smaller size discards the end of the LUN: refused (the whole reload) unless the LUN says "option allow_shrink on".
  for (const c of diff.luns.changed) {
    if (c.kind !== 'resize' || allowsShrink(c.new)) continue;
    const st = h.inventory.lunState.get(c.old.name);
    if (st === undefined) continue;
    const current = capacityOf(st.be);
    if (c.new.size! < current) {
      const e = new ShrinkRefusedError(`lun "${c.old.name}"`, current, c.new.size!);
      throw new ReloadError(`${formatPos(c.new.pos)}: ${e.message}${shrinkHint(e)}`, { cause: e });
    }
  }
  const replaced = diff.luns.changed.filter((c) => c.kind === 'replace' && h.inventory.lunState.has(c.old.name));
  const toOpen = [...diff.luns.added, ...replaced.map((c) => c.new)];
  const leaving = new Set([...diff.luns.removed, ...replaced.map((c) => c.old)].map((l) => h.inventory.ctlLuns.get(l.name)));
  // One backing store, one LUN: against the LUNs that stay and among the new ones (device and inode).
  const dup = duplicateBacking([...toOpen, ...retry], h.inventory.storeHolders(new Set([...diff.luns.removed, ...replaced.map((c) => c.old)].map((l) => l.name))));
  if (dup !== null) throw new ReloadError(dup);
  const taken = new Set([...h.inventory.ctlLuns.values()].filter((id) => !leaving.has(id)));
  for (const l of toOpen) {
    if (l.ctlLun === null) continue;
    if (taken.has(l.ctlLun)) throw new ReloadError(`${formatPos(l.pos)}: lun "${l.name}": ctl-lun ${l.ctlLun} is in use by another LUN`);
    taken.add(l.ctlLun);
  }
  const opened = new Map<string, MeteredLun>();
  const newListeners: ListenerEntry[] = [];
  try {
    const ctx = { backends: h.plug.backends, copyMode: !h.opts.noCopy, log: h.log, stores: h.inventory.stores };
    for (const l of toOpen) opened.set(l.name, await openServedLun(l, ctx));
    // LUNs of the configuration that are not served (their file was missing): tried again, e.g. after a restore.
    for (const l of retry) {
      try {
        opened.set(l.name, await openServedLun(l, ctx));
      } catch (e) {
        if (!(e instanceof MissingBackingError)) throw e;
        h.inventory.unserved.set(l.name, e.message);
        h.log.error({ reload: true, lun: l.name, missing: true }, `${e.message}; the LUN is still not served`);
      }
    }
    for (const pg of next.portalGroups.values()) {
      for (const addr of pg.listen) {
        if (h.listeners.some((e) => e.pg.name === pg.name && addrKey(e.addr) === addrKey(addr))) continue;
        try {
          newListeners.push(await h.openPortal(pg, addr));
        } catch (e) {
          throw new ReloadError(`${formatPos(pg.pos)}: portal-group "${pg.name}": cannot listen on ${addrKey(addr)}: ${sysErrorText(e, addrKey(addr), formatHostPort(addr.host, addr.port))}`, { cause: e });
        }
      }
    }
  } catch (e) {
    await Promise.all(newListeners.map((l) => l.listener.close().catch(() => {})));
    await Promise.all([...opened.values()].map((be) => be.shutdown().catch(() => {})));
    if (e instanceof ReloadError) throw e;
    throw new ReloadError((e as Error).message, { cause: e });
  }
  return { opened, newListeners };
}

async function commitReload(
  h: DaemonHost,
  next: DaemonConfig,
  diff: ConfigDiff,
  opened: Map<string, MeteredLun>,
  newListeners: ListenerEntry[],
  retry: readonly LunConfig[],
): Promise<ReloadReport> {
  const log = h.log;
  const ctl = h.ctl();
  const frontend = h.frontend();
  const actions: string[] = [];
  const errors: string[] = [];
  const deferred: string[] = [];
  const act = (obj: Record<string, unknown>, msg: string): void => {
    actions.push(msg);
    log.info({ reload: true, ...obj }, msg);
  };
  const fail = (obj: Record<string, unknown>, msg: string): void => {
    errors.push(msg);
    log.error({ reload: true, ...obj }, msg);
  };

  for (const g of diff.globals) {
    if (g.key === 'pidfile' || g.key === 'debug') {
      deferred.push(`${g.key} ${JSON.stringify(g.old)} → ${JSON.stringify(g.new)}: takes effect at the next start`);
      log.warn({ reload: true, key: g.key }, `reload: "${g.key}" changed; it takes effect at the next start`);
    } else {
      act({ key: g.key }, describeGlobalChange(g.key, g.old, g.new));
    }
  }

  h.setConfig(next);
  h.pgByTag.clear();
  for (const pg of next.portalGroups.values()) h.pgByTag.set(pg.tag, pg);
  for (const e of h.listeners) {
    const pg = next.portalGroups.get(e.pg.name);
    if (pg === undefined) continue;
    const nic = h.nicNameOf(pg);
    if (nic.toLowerCase() !== e.nic.toLowerCase()) {
      // The new driver cannot listen on the address while the old one does: like pidfile, at the next start.
      deferred.push(`portal-group "${pg.name}": nic ${e.nic} → ${nic} on ${formatHostPort(e.host, e.listener.port)}: takes effect at the next start`);
      log.warn({ reload: true, portalGroup: pg.name }, `reload: the NIC driver of portal group "${pg.name}" changed (${e.nic} → ${nic}); ${formatHostPort(e.host, e.listener.port)} keeps ${e.nic} until the next start`);
    }
    e.pg = pg;
  }
  for (const e of newListeners) {
    h.listeners.push(e);
    act({ portalGroup: e.pg.name, tag: e.pg.tag, address: formatHostPort(e.host, e.listener.port) }, `listening on ${formatHostPort(e.host, e.listener.port)} (portal group ${e.pg.name}, tag ${e.pg.tag})`);
  }

  // LUNs: added, replaced (remove + add), resized.
  const retire: number[] = [];
  const addCtl = (l: LunConfig, be: MeteredLun): boolean => {
    try {
      // Inventory unit attentions go only to the ports whose map changes (below).
      const prStore = prStoreFor(l);
      const id = ctl.addLun(be, l.ctlLun ?? undefined, { ...ctlLunOptions(l), ...(prStore ? { prStore } : {}), inventoryUa: false });
      h.inventory.add(l.name, id, l, be);
      return true;
    } catch (e) {
      void be.shutdown().catch(() => {});
      fail({ lun: l.name }, `lun "${l.name}": cannot add: ${(e as Error).message}`);
      return false;
    }
  };
  for (const l of diff.luns.added) {
    if (addCtl(l, opened.get(l.name)!)) act({ lun: l.name, ctlLun: h.inventory.ctlLuns.get(l.name) }, `lun "${l.name}": added (CTL LUN ${h.inventory.ctlLuns.get(l.name)})`);
  }
  for (const l of retry) {
    const be = opened.get(l.name);
    if (be !== undefined && addCtl(l, be)) act({ lun: l.name, ctlLun: h.inventory.ctlLuns.get(l.name) }, `lun "${l.name}": its backing file is back: served (CTL LUN ${h.inventory.ctlLuns.get(l.name)})`);
  }
  for (const c of diff.luns.changed) {
    const name = c.old.name;
    const oldId = h.inventory.ctlLuns.get(name);
    if (oldId === undefined) continue; // not served: retried above
    if (c.kind === 'replace') {
      if (oldId !== undefined) {
        if (c.new.ctlLun !== null && c.new.ctlLun === oldId) {
          // The same fixed id: the old LUN must be gone (drained) first.
          await ctl.removeLun(oldId, { inventoryUa: false }).catch((e: unknown) => fail({ lun: name }, `lun "${name}": removing the old LUN failed: ${(e as Error).message}`));
        } else {
          retire.push(oldId);
        }
        h.inventory.ctlLuns.delete(name);
        h.inventory.lunState.delete(name);
      }
      if (addCtl(c.new, opened.get(name)!)) {
        act(
          { lun: name, fields: c.fields, ctlLun: h.inventory.ctlLuns.get(name) },
          `lun "${name}": ${c.fields.join(', ')} changed, which cannot be applied live: removed and added again (CTL LUN ${h.inventory.ctlLuns.get(name)})`,
        );
      }
      continue;
    }
    const st = h.inventory.lunState.get(name);
    if (st === undefined || oldId === undefined) continue;
    try {
      const before = capacityOf(st.be);
      await resizeBackend(st.be, c.new.size!, { allowShrink: allowsShrink(c.new) });
      ctl.lunCapacityChanged(oldId);
      st.config = c.new;
      const msg = `lun "${name}": resized ${formatSize(before)} → ${formatSize(c.new.size!)}`;
      if (c.new.size! < before) {
        // Forced by "option allow_shrink on": say what is gone.
        actions.push(msg);
        log.warn(
          { reload: true, lun: name, ctlLun: oldId, oldSize: before, size: c.new.size, lostBytes: before - c.new.size! },
          `${msg} (option allow_shrink on): the last ${describeBytes(before - c.new.size!)} are gone`,
        );
      } else {
        act({ lun: name, ctlLun: oldId, oldSize: before, size: c.new.size }, msg);
      }
    } catch (e) {
      fail({ lun: name, err: e }, `lun "${name}": resize to ${formatSize(c.new.size!)} failed: ${(e as Error).message}`);
    }
  }
  for (const l of usedLuns(next).values()) {
    const st = h.inventory.lunState.get(l.name);
    if (st !== undefined && opened.get(l.name) !== st.be && diff.luns.changed.every((c) => c.old.name !== l.name)) st.config = l;
  }

  // Targets (one CTL port per target and portal group tag).
  const key = (name: string, tag: number): string => `${name.toLowerCase()}\0${tag}`;
  const desired = new Map<string, { t: TargetConfig; tag: number; pg: PortalGroupConfig }>();
  for (const t of next.targets) {
    for (const ref of t.portalGroups) {
      const pg = next.portalGroups.get(ref.portalGroup);
      if (pg !== undefined) desired.set(key(t.name, pg.tag), { t, tag: pg.tag, pg });
    }
  }
  const removals: Array<Promise<void>> = [];
  const graceS = h.opts.stopGraceMs / 1000;
  for (const port of frontend.targets()) {
    if (port.state !== TargetState.Active || desired.has(key(port.targetName, port.portalGroupTag))) continue;
    const sessions = frontend.sessions().filter((s) => s.targetName === port.targetName && s.portalGroupTag === port.portalGroupTag && s.state === 'active').length;
    act(
      { target: port.targetName, tag: port.portalGroupTag, sessions },
      `target ${port.targetName} (tag ${port.portalGroupTag}): removed; ${sessions} session(s) asked to log out within ${graceS} s`,
    );
    removals.push(
      frontend.removeTarget(port.targetName, port.portalGroupTag).catch((e: unknown) => fail({ target: port.targetName }, `target ${port.targetName}: removal failed: ${(e as Error).message}`)),
    );
  }
  for (const { t, tag, pg } of desired.values()) {
    const lunMap = h.inventory.lunMapOf(t);
    const port = frontend.target(t.name, tag);
    if (port === undefined || port.state !== TargetState.Active) {
      try {
        const tc: Parameters<IscsiFrontend['addTarget']>[0] = { name: t.name, portalGroupTag: tag, lunMap, alua: portAluaOf(t, pg) };
        if (t.alias !== null) tc.alias = t.alias;
        frontend.addTarget(tc);
        act({ target: t.name, tag, luns: [...lunMap.keys()] }, `target ${t.name} (tag ${tag}): added`);
      } catch (e) {
        fail({ target: t.name, tag }, `target ${t.name} (tag ${tag}): cannot add: ${(e as Error).message}`);
      }
      continue;
    }
    const changes: { alias?: string; lunMap?: ReadonlyMap<number, number> } = {};
    if (!sameLunMap(port.lunMap, lunMap)) changes.lunMap = lunMap;
    if (t.alias !== null && t.alias !== port.alias) changes.alias = t.alias;
    if (changes.lunMap !== undefined || changes.alias !== undefined) {
      frontend.updateTarget(t.name, tag, changes);
      // REPORTED LUNS DATA HAS CHANGED for this target's initiators only.
      if (changes.lunMap !== undefined) ctl.lunInventoryChanged(port.portNumber);
      act({ target: t.name, tag, luns: [...lunMap.keys()] }, `target ${t.name} (tag ${tag}): ${[changes.lunMap !== undefined ? 'LUN map' : '', changes.alias !== undefined ? 'alias' : ''].filter((x) => x !== '').join(' and ')} updated`);
    }
  }
  for (const c of diff.targets.changed) {
    // Login-time settings (auth, ...) take effect through the catalog, for new logins.
    const fields = differingKeys(targetShape(c.old), targetShape(c.new)).filter((k) => k !== 'luns' && k !== 'portalGroups' && k !== 'alias');
    if (fields.length > 0) act({ target: c.new.name, fields }, `target ${c.new.name}: ${fields.join(', ')} changed (applies to new logins; running sessions continue)`);
  }

  // Portals no longer configured stop accepting (their sessions are not affected).
  for (const e of [...h.listeners]) {
    const pg = next.portalGroups.get(e.pg.name);
    if (pg !== undefined && pg.listen.some((a) => addrKey(a) === addrKey(e.addr))) continue;
    h.listeners.splice(h.listeners.indexOf(e), 1);
    await e.listener.close().catch((err: unknown) => log.warn({ err }, 'closing a listener failed'));
    act({ portalGroup: e.pg.name, address: formatHostPort(e.host, e.listener.port) }, `stopped listening on ${formatHostPort(e.host, e.listener.port)} (portal group ${e.pg.name})`);
  }
  h.refreshCatalog();

  // LUNs nobody uses any more go once the removed targets' sessions are gone.
  await Promise.all(removals);
  for (const l of diff.luns.removed) {
    const id = h.inventory.ctlLuns.get(l.name);
    if (id === undefined) continue;
    h.inventory.ctlLuns.delete(l.name);
    h.inventory.lunState.delete(l.name);
    try {
      await ctl.removeLun(id, { inventoryUa: false });
      act({ lun: l.name, ctlLun: id }, `lun "${l.name}": removed (CTL LUN ${id})`);
    } catch (e) {
      fail({ lun: l.name }, `lun "${l.name}": removal failed: ${(e as Error).message}`);
    }
  }
  for (const id of retire) await ctl.removeLun(id, { inventoryUa: false }).catch((e: unknown) => fail({ ctlLun: id }, `CTL LUN ${id}: removal failed: ${(e as Error).message}`));
  for (const w of next.warnings) log.warn({ reload: true }, w);
  const used = usedLuns(next);
  for (const name of [...h.inventory.unserved.keys()]) if (!used.has(name) || h.inventory.lunState.has(name)) h.inventory.unserved.delete(name);
  return { source: next.source, changed: !isEmptyDiff(diff) || actions.length > 0, actions, errors, deferred, problems: storeProblems(h) };
}
