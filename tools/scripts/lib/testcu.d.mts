// Types for testcu.mjs (so TypeScript tests can import the scorer).
export type TestScore = 'pass' | 'skip' | 'fail' | 'crash';
export interface ScoreCounts {
  tests: number;
  pass: number;
  skip: number;
  fail: number;
  crash: number;
}
export function listSuites(family?: string): Promise<string[]>;
export function scoreLog(log: string): Map<string, TestScore>;
export function countScores(res: Map<string, string>): ScoreCounts;
export function scoreLine(c: ScoreCounts): string;
export function targetAnswers(url: string, timeoutMs?: number): Promise<boolean>;
export function runTestCu(opts: {
  url: string;
  outDir: string;
  family?: string;
  suites?: string[];
  perSuiteSeconds?: number;
  budgetSeconds?: number;
  targetAlive?: () => boolean;
  log?: (line: string) => void;
}): Promise<ScoreCounts & { finished: boolean; targetDied: boolean; targetHung: boolean; notRun: string[]; abnormal: string[] }>;
