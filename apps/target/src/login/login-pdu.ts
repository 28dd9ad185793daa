/**
 * Login Response PDUs (RFC 7143 §11.13): building them on an `IclConn`.
 * (The Login Request is read by icl-core's `decodeLoginRequest`.)
 *
 * What it does: `newLoginResponse` builds a response with stage bits, ISID, TSIH, ITT,
 * sequence numbers, status and an optional key=value data segment.
 *
 * What it does not do: no decisions (which status, which stage: `login.ts`).
 *
 * Buffer ownership: the key text given to `newLoginResponse` is borrowed
 * by the PDU (`noCopy`) — the caller passes a Buffer it never modifies
 * afterwards (a fresh `encodeTextKeys` result). The ISID is copied.
 */
import {
  bhsSetDataSegmentLength,
  bhsSetOpcode,
  Flag,
  LOGIN_CSG_SHIFT,
  LOGIN_STAGE_MASK,
  LoginResponseBhs,
  TargetOpcode,
  type IclConn,
  type Pdu,
} from '@iscsi-target/icl-core';

export interface LoginResponseFields {
  /** T bit; with it, `nsg` is meaningful. */
  readonly transit: boolean;
  /** C bit: our key text continues in the next response. */
  readonly cont: boolean;
  readonly csg: number;
  readonly nsg: number;
  readonly isid: Buffer;
  readonly tsih: number;
  readonly initiatorTaskTag: number;
  readonly statSn: number;
  readonly expCmdSn: number;
  readonly maxCmdSn: number;
  readonly statusClass: number;
  readonly statusDetail: number;
  /** Encoded key=value text, borrowed (see module comment); null for none. */
  readonly keys: Buffer | null;
}

/** Version-max and Version-active: the only version there is (RFC 7143 §11.13.2-3). */
const ISCSI_VERSION = 0x00;

export function newLoginResponse(conn: IclConn, f: LoginResponseFields): Pdu {
  const pdu = conn.newPdu();
  const bhs = pdu.bhs;
  bhs.fill(0);
  bhsSetOpcode(bhs, TargetOpcode.LoginResponse);
  let flags = 0;
  // RFC 7143 §11.13.1: for a reject, T, CSG and NSG are reserved (zero).
  if (f.statusClass === 0) {
    if (f.transit) flags |= Flag.Transit | (f.nsg & LOGIN_STAGE_MASK);
    if (f.cont) flags |= Flag.Continue;
    flags |= (f.csg & LOGIN_STAGE_MASK) << LOGIN_CSG_SHIFT;
  }
  bhs[LoginResponseBhs.flags] = flags;
  bhs[LoginResponseBhs.versionMax] = ISCSI_VERSION;
  bhs[LoginResponseBhs.versionActive] = ISCSI_VERSION;
  f.isid.copy(bhs, LoginResponseBhs.isid, 0, 6);
  bhs.writeUInt16BE(f.tsih, LoginResponseBhs.tsih);
  bhs.writeUInt32BE(f.initiatorTaskTag, LoginResponseBhs.initiatorTaskTag);
  bhs.writeUInt32BE(f.statSn >>> 0, LoginResponseBhs.statSn);
  bhs.writeUInt32BE(f.expCmdSn >>> 0, LoginResponseBhs.expCmdSn);
  bhs.writeUInt32BE(f.maxCmdSn >>> 0, LoginResponseBhs.maxCmdSn);
  bhs[LoginResponseBhs.statusClass] = f.statusClass;
  bhs[LoginResponseBhs.statusDetail] = f.statusDetail;
  const len = f.keys?.length ?? 0;
  if (f.keys !== null && len > 0) conn.pduAppendData(pdu, f.keys, { noCopy: true });
  bhsSetDataSegmentLength(bhs, len);
  return pdu;
}
