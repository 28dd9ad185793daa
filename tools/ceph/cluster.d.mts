/** Types of cluster.mjs (a throw-away Ceph cluster for tests and benchmarks). */
export interface CephCluster {
  readonly dir: string;
  readonly conf: string;
  readonly monAddr: string;
  readonly pids: number[];
  ceph(...args: string[]): Promise<string>;
  rbd(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}
export interface StartClusterOptions {
  readonly dir?: string;
  readonly keep?: boolean;
  readonly timeoutMs?: number;
}
export function cephAvailable(): string | null;
export function startCluster(options?: StartClusterOptions): Promise<CephCluster>;
export function stopClusterDir(dir: string): Promise<number[]>;
export function killPids(pids: number[], graceMs?: number): Promise<void>;
