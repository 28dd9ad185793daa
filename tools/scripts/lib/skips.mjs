// The skipped tests of a vitest JSON report, with their reasons, for the
// summary of run-tests.mjs (issue 13 item 7: `npm test` says why each test
// was skipped).
//
// What it does: `skippedTests(report, root)` lists every test whose status
// is not passed or failed (skipped, pending, todo, disabled) with its file
// (relative to `root`), its full name, and its reason. By the project's
// convention (docs/testing.md) the reason is in the test's or the suite's
// name, in a trailing parenthesis — `(skipped without qemu-io)`,
// `(skipped: cannot mount a tmpfs (needs root))` — so the reason is that
// parenthesis of the test's title, else of the nearest suite title that has
// one; `formatSkip` prints one line.
// What it does NOT do: it does not run anything or read files; a test
// without a reason in its name is listed as such, never hidden.

/**
 * @typedef {{ file: string, name: string, reason: string | null }} Skip
 */

/** A trailing "(…)" of a title, nested parentheses allowed; the reason without a leading "skipped[:]". */
function trailingReason(title) {
  const t = title.trimEnd();
  if (!t.endsWith(')')) return null;
  let depth = 0;
  for (let i = t.length - 1; i >= 0; i--) {
    if (t[i] === ')') depth++;
    else if (t[i] === '(') {
      depth--;
      if (depth === 0) {
        const inner = t.slice(i + 1, -1).trim();
        return /\bskip/i.test(inner) || /\b(without|needs?|requires?|only|not installed|not available|unavailable|missing)\b/i.test(inner)
          ? inner.replace(/^skipped:?\s*/i, '')
          : null;
      }
    }
  }
  return null;
}

/**
 * @param {{ testResults?: Array<{ name: string, assertionResults?: Array<{ status: string, title: string, fullName?: string, ancestorTitles?: string[] }> }> }} report
 * @param {string} root
 * @returns {Skip[]}
 */
export function skippedTests(report, root) {
  /** @type {Skip[]} */
  const out = [];
  for (const file of report.testResults ?? []) {
    const rel = file.name.startsWith(`${root}/`) ? file.name.slice(root.length + 1) : file.name;
    for (const t of file.assertionResults ?? []) {
      if (t.status === 'passed' || t.status === 'failed') continue;
      const ancestors = t.ancestorTitles ?? [];
      let reason = trailingReason(t.title);
      for (let i = ancestors.length - 1; reason === null && i >= 0; i--) reason = trailingReason(ancestors[i]);
      out.push({ file: rel, name: [...ancestors, t.title].join(' > '), reason });
    }
  }
  return out;
}

/** @param {Skip} s */
export function formatSkip(s) {
  return `skipped: ${s.file} > ${s.name} — ${s.reason ?? 'no reason given in its name'}`;
}
