// Root Vitest configuration: one project per package, all resolving workspace
// packages to their TypeScript sources through the "__iscsi_source__" export
// condition, so unit tests need no build. End-to-end tests of the daemon
// (apps/target/test/e2e) spawn the built `bin` and therefore need `pnpm build`.
import { defineConfig } from 'vitest/config';

const conditions = ['__iscsi_source__', 'node', 'import', 'default'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    clearMocks: true,
    restoreMocks: true,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'icl-core', root: 'packages/icl-core', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'icl-offload-kpi', root: 'packages/icl-offload-kpi', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'icl-soft', root: 'packages/icl-soft', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'io-uring', root: 'packages/io-uring', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'ctl-core', root: 'packages/ctl-core', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'ctl-block', root: 'packages/ctl-block', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'ctl-rbd', root: 'packages/ctl-rbd', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'ctl-frontend-iscsi', root: 'packages/ctl-frontend-iscsi', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'native-build', root: 'tools/native-build', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'target', root: 'apps/target', include: ['test/**/*.test.ts'], exclude: ['test/e2e/**'] } },
      {
        extends: true,
        test: {
          name: 'e2e',
          root: 'apps/target',
          include: ['test/e2e/**/*.test.ts'],
          // Real initiators against the real daemon: one file at a time so the
          // two cores are not oversubscribed and ports do not collide.
          fileParallelism: false,
          testTimeout: 300_000,
        },
      },
    ],
  },
});
