// The ICL driver conformance kit over the tcp NIC driver on loopback.
import { runIclDriverConformance } from '@iscsi-target/icl-offload-kpi/testing';
import { tcpSoftPair } from './pairs.js';

runIclDriverConformance('icl-soft over tcp', () => tcpSoftPair());
