/**
 * The handoff descriptor: what login negotiated, passed once from the
 * control plane to the frontend together with the connection (FreeBSD
 * `CTL_ISCSI_HANDOFF`, freebsd-arch §5.3 / §11.1).
 *
 * What it does: declares `HandoffParams`, validates it against RFC 7143
 * ranges, and builds the SCSI initiator port name `"<iqn>,i,0x<ISID>"`.
 *
 * What it does not do: no negotiation. The daemon negotiates and must have
 * set `conn.maxRecvDataSegmentLength` and the digests on the connection
 * before handing it off; the frontend sets `conn.maxSendDataSegmentLength`
 * from these parameters.
 */
import { InvalidParameterError } from './errors.js';

export interface HandoffParams {
  initiatorName: string;
  initiatorAlias?: string;
  /** For logs and listings, e.g. "192.0.2.1:51234". */
  initiatorAddress: string;
  /** The 6-byte ISID (RFC 7143 §11.12.5). Copied by the frontend. */
  isid: Buffer;
  tsih: number;
  targetName: string;
  portalGroupTag: number;
  /** CmdSN of the last login request; the first full-feature command carries it again. */
  cmdSn: number;
  /** The next StatSN to send. */
  statSn: number;
  /** Ours (already set on the connection); recorded for listings. */
  maxRecvDataSegmentLength: number;
  /** The initiator's MaxRecvDataSegmentLength, capped by the driver's limit. */
  maxSendDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  immediateData: boolean;
  initialR2t: boolean;
  maxOutstandingR2t: number;
  headerDigest: boolean;
  dataDigest: boolean;
  /** Only ERL 0 is implemented. */
  errorRecoveryLevel: 0;
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidParameterError(`handoff: ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

/** Throws `InvalidParameterError` if a parameter is outside its RFC 7143 range. */
export function validateHandoffParams(p: HandoffParams): void {
  if (typeof p.initiatorName !== 'string' || p.initiatorName.length === 0) {
    throw new InvalidParameterError('handoff: initiatorName is empty');
  }
  if (!Buffer.isBuffer(p.isid) || p.isid.length !== 6) throw new InvalidParameterError('handoff: isid must be 6 bytes');
  checkRange('tsih', p.tsih, 0, 0xffff);
  checkRange('portalGroupTag', p.portalGroupTag, 0, 0xffff);
  checkRange('cmdSn', p.cmdSn, 0, 0xffffffff);
  checkRange('statSn', p.statSn, 0, 0xffffffff);
  // RFC 7143 §13.12: MaxRecvDataSegmentLength 512..2^24-1.
  checkRange('maxRecvDataSegmentLength', p.maxRecvDataSegmentLength, 512, 0xffffff);
  checkRange('maxSendDataSegmentLength', p.maxSendDataSegmentLength, 512, 0xffffff);
  // RFC 7143 §13.13-13.14: 512..2^24-1, FirstBurstLength <= MaxBurstLength.
  checkRange('maxBurstLength', p.maxBurstLength, 512, 0xffffff);
  checkRange('firstBurstLength', p.firstBurstLength, 512, p.maxBurstLength);
  // RFC 7143 §13.17: MaxOutstandingR2T 1..65535.
  checkRange('maxOutstandingR2t', p.maxOutstandingR2t, 1, 0xffff);
  if (p.errorRecoveryLevel !== 0) throw new InvalidParameterError('handoff: only ErrorRecoveryLevel=0 is supported');
}

/** `"<iqn>,i,0x<ISID as 12 hex digits>"`: the SCSI initiator port name of RFC 7143 (FreeBSD `cs_initiator_id`). */
export function initiatorPortName(initiatorName: string, isid: Buffer): string {
  return `${initiatorName},i,0x${isid.toString('hex')}`;
}

/** `"<iqn>,t,0x<tag as 4 hex digits>"` (FreeBSD cfiscsi port device-id). */
export function targetPortName(targetName: string, portalGroupTag: number): string {
  return `${targetName},t,0x${portalGroupTag.toString(16).padStart(4, '0')}`;
}
