// Types for fuzz.mjs (so the TypeScript e2e test can import the fuzzer).
export interface Finding {
  kind: 'crash' | 'hang' | 'memory' | 'corruption';
  detail: string;
  atPdu: number;
  cases?: string[];
}
export interface FuzzReport {
  seed: number;
  pdusSent: number;
  bytesSent: number;
  connections: number;
  cases: number;
  cleanLogins: number;
  responses: number;
  targetClosed: number;
  healthChecks: number;
  seconds: number;
  rssStartMiB: number;
  rssMaxMiB: number;
  restarts: number;
  corruptionCheck: string | null;
  daemonErrorLines: number;
  daemonErrorSamples: string[];
  findings: Finding[];
}
export const PATTERN: { offset: number; length: number; byte: number };
export function runFuzz(opts?: {
  seed?: number;
  pdus?: number;
  seconds?: number;
  concurrency?: number;
  healthEvery?: number;
  rssBoundMiB?: number;
  stopOnFinding?: boolean;
  findingsDir?: string;
  log?: (line: string) => void;
  daemonArgs?: string[];
  /** Called after every case with the PDUs sent so far and the daemon pid (tests use it to prove the detectors). */
  onProgress?: (pdusSent: number, daemonPid: number) => void;
}): Promise<FuzzReport>;
export function checkPattern(url: string): Promise<string | null>;
export function writePattern(url: string): Promise<void>;
