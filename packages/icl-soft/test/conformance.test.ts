// The ICL driver conformance kit over the simulated NIC (with fault
// injection: held and reordered completions, segmentation, reset).
import { runIclDriverConformance } from '@iscsi-target/icl-offload-kpi/testing';
import { simSoftPair } from './pairs.js';

runIclDriverConformance('icl-soft over sim', () => simSoftPair());
runIclDriverConformance('icl-soft over sim, flush on a microtask, no coalescing', () =>
  simSoftPair({ flushScheduler: 'microtask', coalesce: false }, 7),
);
