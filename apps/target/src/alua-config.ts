/**
 * The ALUA topology a target port gets from the configuration: its relative
 * target port identifier and target port group (`relative-target-port`,
 * `target-port-group` of its portal group) and every group of the target
 * (`TargetConfig.aluaGroups`, the other gateways' `peer-port-group`s
 * included), as ctl-core's `PortAlua`.
 *
 * Does not check anything (resolve.ts did) and decides no access states.
 */
import type { PortAlua } from '@iscsi-target/ctl-core';
import type { PortalGroupConfig, TargetConfig } from './config/model.js';

/** The port's ALUA topology, or null when the target uses no ALUA keys (CTL's default). */
export function portAluaOf(t: TargetConfig, pg: PortalGroupConfig): PortAlua | null {
  const groups = t.aluaGroups ?? null;
  const tpg = pg.targetPortGroup ?? null;
  const rtp = pg.relativeTargetPort ?? null;
  if (groups === null || tpg === null || rtp === null) return null;
  return {
    relativeTargetPort: rtp,
    targetPortGroup: tpg,
    groups: groups.map((g) => ({ id: g.id, relativeTargetPorts: g.relativeTargetPorts })),
  };
}
