// `npm test`'s summary lists each skipped test with its reason (issue 13
// item 7): tools/scripts/lib/skips.mjs reads the reason from the trailing
// parenthesis of the test's name or of its nearest suite's, and says so
// when there is none.
import { describe, expect, it } from 'vitest';
import { formatSkip, skippedTests } from '../../../tools/scripts/lib/skips.mjs';

const report = {
  testResults: [
    {
      name: '/repo/apps/target/test/e2e/a.test.ts',
      assertionResults: [
        { status: 'passed', title: 'ok', ancestorTitles: ['suite'] },
        { status: 'skipped', title: 'reads back (skipped without qemu-io)', ancestorTitles: ['suite'] },
        { status: 'skipped', title: 'logs a warn line', ancestorTitles: ['backend faults (skipped: cannot mount a tmpfs (needs root))'] },
        { status: 'pending', title: 'plain name', ancestorTitles: ['suite (with a note)'] },
        { status: 'failed', title: 'broken (skipped? no: failed)', ancestorTitles: [] },
      ],
    },
  ],
};

describe('skipped tests and their reasons', () => {
  it('lists each skipped test with the reason from its name or its suite', () => {
    expect(skippedTests(report, '/repo').map(formatSkip)).toEqual([
      'skipped: apps/target/test/e2e/a.test.ts > suite > reads back (skipped without qemu-io) — without qemu-io',
      'skipped: apps/target/test/e2e/a.test.ts > backend faults (skipped: cannot mount a tmpfs (needs root)) > logs a warn line — cannot mount a tmpfs (needs root)',
      'skipped: apps/target/test/e2e/a.test.ts > suite (with a note) > plain name — no reason given in its name',
    ]);
  });
});
