/**
 * `@iscsi-target/ctl-core/testing` — the CTL-side test kit.
 *
 * What it does: exports `FakeCtl`, one test double of the core for
 * frontend and backend tests (`fake-ctl.ts`), backend behaviours for
 * frontend tests (`behaviors.ts`), seeded test data (`rng.ts`), and
 * `runBackendConformance`, the vitest suite every backend must pass
 * (`backend-conformance.ts`).
 *
 * What it does not do: run anything at import time, or get loaded by
 * production code (it imports vitest; the package's main entry does not).
 */
export {
  FakeCtl,
  defaultTask,
  type DatamoveRecord,
  type FakeCtlOptions,
  type ScsiHandler,
  type SenseRecord,
  type TaskHandler,
} from './fake-ctl.js';
export { RefCounter, WriteSink, holdBehavior, pattern, readBehavior, writeBehavior } from './behaviors.js';
export { randomBytes, rng } from './rng.js';
export {
  runBackendConformance,
  type BackendConformanceOpen,
  type BackendConformanceSubject,
} from './backend-conformance.js';
