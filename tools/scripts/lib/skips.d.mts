// Types for skips.mjs (so TypeScript tests can import it).
export interface Skip {
  file: string;
  name: string;
  reason: string | null;
}
export function skippedTests(
  report: { testResults?: Array<{ name: string; assertionResults?: Array<{ status: string; title: string; fullName?: string; ancestorTitles?: string[] }> }> },
  root: string,
): Skip[];
export function formatSkip(s: Skip): string;
