/**
 * `@iscsi-target/icl-offload-kpi/testing` — the driver conformance kit.
 *
 * What it does: exports two vitest suites that every driver must pass —
 * `runNicDriverConformance` for NIC drivers (byte transport) and
 * `runIclDriverConformance` for ICL drivers (the `IclConn` completion and
 * ownership contract, over a real or simulated NIC) — plus the helpers they
 * use, for drivers' own tests: a counting `BufRef`, a peer harness with
 * independent iSCSI framing, and event-loop wait helpers.
 *
 * What it does not do: run anything at import time, or get loaded by
 * production code (it imports vitest; the package's main entry does not).
 */
export { runNicDriverConformance, type NicConformancePair } from './nic-conformance.js';
export { connectedPair } from './pair.js';
export { runIclDriverConformance, type IclConformancePair } from './icl-conformance.js';
export { CountingRef } from './counting-ref.js';
export { PeerHarness, WireReader, encodePdu, makeBhs, type WireOptions, type WirePdu } from './wire.js';
export { nextTurn, turns, sleep, waitFor } from './wait.js';
