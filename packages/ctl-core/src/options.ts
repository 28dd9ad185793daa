/**
 * Tunables of the CTL core, declared once with their defaults. Passed to
 * `new Ctl(options)`; every field is optional.
 */
import type { CtlCopyCounters } from './counters.js';
import type { TpcOptions } from './tpc.js';

export interface CtlOptions {
  /** Copy counters to charge (default: the process-wide `ctlCopyCounters`). */
  counters?: CtlCopyCounters;
  /**
   * Highest LUN id `addLun` accepts. Default 16383, the largest LUN that
   * REPORT LUNS can encode with flat space addressing (SAM-5 flat space addressing).
   */
  maxLunId?: number;
  /**
   * How many initiator names each port remembers (in use or not). Names are
   * kept after `removeInitiator` so a reconnecting initiator gets its index
   * (and its SCSI state) back; beyond this, the least recently used unused
   * name is forgotten. Default 2048 (FreeBSD `CTL_MAX_INIT_PER_PORT`).
   */
  maxInitiatorsPerPort?: number;
  /** Standard INQUIRY vendor for LUNs that do not exist (8 chars max). */
  inquiryVendor?: string;
  /** Standard INQUIRY product for LUNs that do not exist (16 chars max). */
  inquiryProduct?: string;
  /** Standard INQUIRY revision for LUNs that do not exist (4 chars max). */
  inquiryRevision?: string;
  /** Default of the Control mode page D_SENSE bit (descriptor-format sense). */
  descriptorSense?: boolean;
  /** Tunables of the copy manager (EXTENDED COPY); see tpc.ts `TPC_DEFAULTS`. */
  tpc?: TpcOptions;
}

/** The defaults of `CtlOptions` (counters excepted). */
export const CTL_DEFAULTS = {
  maxLunId: 16383,
  maxInitiatorsPerPort: 2048,
  inquiryVendor: 'NODE',
  inquiryProduct: 'ISCSI TARGET',
  inquiryRevision: '0001',
  descriptorSense: false,
} as const;

/** `CtlOptions` with every default applied. */
export interface ResolvedCtlOptions {
  readonly maxLunId: number;
  readonly maxInitiatorsPerPort: number;
  readonly inquiryVendor: string;
  readonly inquiryProduct: string;
  readonly inquiryRevision: string;
  readonly descriptorSense: boolean;
}

export function resolveCtlOptions(options: CtlOptions): ResolvedCtlOptions {
  const maxLunId = options.maxLunId ?? CTL_DEFAULTS.maxLunId;
  if (!Number.isInteger(maxLunId) || maxLunId < 0 || maxLunId > 16383) {
    throw new RangeError(`maxLunId must be an integer in 0..16383, got ${maxLunId}`);
  }
  const maxInitiatorsPerPort = options.maxInitiatorsPerPort ?? CTL_DEFAULTS.maxInitiatorsPerPort;
  if (!Number.isInteger(maxInitiatorsPerPort) || maxInitiatorsPerPort < 1) {
    throw new RangeError(`maxInitiatorsPerPort must be a positive integer, got ${maxInitiatorsPerPort}`);
  }
  return {
    maxLunId,
    maxInitiatorsPerPort,
    inquiryVendor: options.inquiryVendor ?? CTL_DEFAULTS.inquiryVendor,
    inquiryProduct: options.inquiryProduct ?? CTL_DEFAULTS.inquiryProduct,
    inquiryRevision: options.inquiryRevision ?? CTL_DEFAULTS.inquiryRevision,
    descriptorSense: options.descriptorSense ?? CTL_DEFAULTS.descriptorSense,
  };
}
