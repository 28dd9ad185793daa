/**
 * A minimal iSCSI login and logout with hand-built PDUs, for tests that need a
 * session they fully control (bad input, health checks after bad input).
 *
 * What this module does: connects over `node:net`, sends Login Requests that
 * start directly in the operational stage (CSG=1, NSG=3, T=1: allowed when no
 * authentication is required, RFC 7143 §6.3), answers keys the target offers
 * by accepting its value, follows Continue, and returns the session's sequence
 * numbers and the target's keys. Also a Logout (RFC 7143 §11.14).
 * What it does not do: no CHAP, no digests (it asks for HeaderDigest=None and
 * DataDigest=None), no Discovery beyond login, no multi-connection sessions.
 * It never throws for a login the target refused: the status is in the result.
 */
import net, { type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { RawProtocolError } from './errors.js';
import { attachReader, FINAL_BIT, newBhs, Opcode, readPdu, sendPdu, type RawPdu } from './raw-pdu.js';
import { decodeText, encodeText, entryKey, type TextEntry } from './raw-text.js';

/** Login stages (CSG/NSG). RFC 7143 §11.12.3. */
export const LoginStage = { Security: 0, Operational: 1, FullFeature: 3 } as const;
/** Login Request/Response byte 1 bits. RFC 7143 §11.12.2. */
const TRANSIT = 0x80;
const CONTINUE = 0x40;

/** Login status (Status-Class << 8 | Status-Detail). RFC 7143 §11.13.5. */
export const LoginStatus = {
  Success: 0x0000,
  TargetMovedTemporarily: 0x0101,
  TargetMovedPermanently: 0x0102,
  InitiatorError: 0x0200,
  AuthenticationFailure: 0x0201,
  AuthorizationFailure: 0x0202,
  NotFound: 0x0203,
  TargetRemoved: 0x0204,
  UnsupportedVersion: 0x0205,
  TooManyConnections: 0x0206,
  MissingParameter: 0x0207,
  CantIncludeInSession: 0x0208,
  SessionTypeNotSupported: 0x0209,
  SessionDoesNotExist: 0x020a,
  InvalidDuringLogin: 0x020b,
  TargetError: 0x0300,
  ServiceUnavailable: 0x0301,
  OutOfResources: 0x0302,
} as const;

/** Initiator name the raw client uses unless told otherwise. */
export const RAW_INITIATOR_NAME = 'iqn.2026-11.org.nodejs-iscsi:raw-test-client';

/** Options of {@link rawLogin}. */
export interface RawLoginOptions {
  /** TargetName key; default the daemon's default target. `null` omits the key. */
  readonly targetName?: string | null;
  /** InitiatorName key; `null` omits it. */
  readonly initiatorName?: string | null;
  /** SessionType key. Default Normal. */
  readonly sessionType?: 'Normal' | 'Discovery';
  /**
   * Extra keys for the first Login Request. A `[key, value]` pair replaces the
   * client's default for that key; a plain string is sent verbatim (malformed
   * text on purpose).
   */
  readonly keys?: readonly TextEntry[];
  /** Byte 2 of the first request. Default 0. */
  readonly versionMax?: number;
  /** Byte 3 of the first request. Default 0. */
  readonly versionMin?: number;
  /** 6-byte ISID. Default: random, type 10b (RFC 7143 §11.12.5). */
  readonly isid?: Buffer;
  readonly tsih?: number;
  readonly cid?: number;
  /** First CmdSN. Default 1. */
  readonly cmdSn?: number;
  /** Per-PDU read timeout. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Use this connected socket instead of opening one. */
  readonly socket?: Socket;
}

/** A raw session: the socket, the login outcome and the sequence numbers to use next. */
export interface RawSession {
  readonly socket: Socket;
  /** Status-Class << 8 | Status-Detail of the last Login Response. */
  status: number;
  statusClass: number;
  statusDetail: number;
  /** True when the login reached Full Feature Phase. */
  fullFeature: boolean;
  readonly isid: Buffer;
  tsih: number;
  readonly cid: number;
  /** CmdSN for the next non-immediate command. */
  cmdSn: number;
  /** ExpStatSN to send next (last StatSN + 1). */
  expStatSn: number;
  maxCmdSn: number;
  /** Initiator Task Tag for the next task (incremented by users). */
  nextTag: number;
  /** Keys the target sent during login. */
  readonly targetKeys: Map<string, string>;
  /** The target's MaxRecvDataSegmentLength (8192 if it did not declare one, RFC 7143 §13.12). */
  targetMaxRecvDataSegmentLength: number;
  /** Every Login Response received. */
  readonly responses: RawPdu[];
}

/** Opens a TCP connection (rejects after `timeoutMs`). */
export function rawConnect(host: string, port: number, timeoutMs = 5_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.setNoDelay(true);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect ${host}:${port} timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.removeAllListeners('error');
      s.on('error', () => {}); // errors surface through readPdu/waitForClose
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

function defaultIsid(): Buffer {
  const b = randomBytes(6);
  b[0] = 0x80; // T=10b "random", A reserved
  b[1] = 0;
  return b;
}

function loginRequest(s: RawSession, o: { transit: boolean; cont?: boolean; versionMax: number; versionMin: number; itt: number }): Buffer {
  const flags = (o.transit ? TRANSIT : 0) | (o.cont ? CONTINUE : 0) | (LoginStage.Operational << 2) | LoginStage.FullFeature;
  const bhs = newBhs({ opcode: Opcode.LoginRequest, immediate: true, flags, initiatorTaskTag: o.itt });
  bhs[2] = o.versionMax;
  bhs[3] = o.versionMin;
  s.isid.copy(bhs, 8, 0, 6);
  bhs.writeUInt16BE(s.tsih, 14);
  bhs.writeUInt16BE(s.cid, 20);
  bhs.writeUInt32BE(s.cmdSn >>> 0, 24);
  bhs.writeUInt32BE(s.expStatSn >>> 0, 28);
  return bhs;
}

/**
 * Logs in with hand-built Login PDUs. Resolves once the target answered with a
 * final status: `fullFeature` says whether the session is usable; `status`
 * holds the exact Status-Class/Detail otherwise.
 * @throws PduReadError if the target closes or stays silent instead of answering.
 * @throws RawProtocolError if it answers with something other than a Login Response.
 */
export async function rawLogin(host: string, port: number, options: RawLoginOptions = {}): Promise<RawSession> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const socket = options.socket ?? (await rawConnect(host, port, timeoutMs));
  attachReader(socket);
  const session: RawSession = {
    socket,
    status: -1,
    statusClass: -1,
    statusDetail: -1,
    fullFeature: false,
    isid: options.isid ?? defaultIsid(),
    tsih: options.tsih ?? 0,
    cid: options.cid ?? 0,
    cmdSn: options.cmdSn ?? 1,
    expStatSn: 0,
    maxCmdSn: 0,
    nextTag: 0x100,
    targetKeys: new Map(),
    targetMaxRecvDataSegmentLength: 8192,
    responses: [],
  };
  const defaults: [string, string][] = [];
  if (options.initiatorName !== null) defaults.push(['InitiatorName', options.initiatorName ?? RAW_INITIATOR_NAME]);
  const sessionType = options.sessionType ?? 'Normal';
  defaults.push(['SessionType', sessionType]);
  if (options.targetName !== null && sessionType === 'Normal') {
    defaults.push(['TargetName', options.targetName ?? 'iqn.2026-11.org.nodejs-iscsi:target0']);
  }
  defaults.push(['HeaderDigest', 'None'], ['DataDigest', 'None'], ['MaxRecvDataSegmentLength', '262144']);
  const extra = options.keys ?? [];
  const overridden = new Set(extra.filter((e) => typeof e !== 'string').map(entryKey));
  const first: TextEntry[] = [...defaults.filter(([k]) => !overridden.has(k)), ...extra];
  const sentKeys = new Set(first.map(entryKey));

  let payload: Buffer = encodeText(first);
  let versionMax = options.versionMax ?? 0;
  let versionMin = options.versionMin ?? 0;
  const itt = session.nextTag++;
  let pendingText: Buffer = Buffer.alloc(0);
  let transitRequest = true;
  for (let round = 0; round < 16; round++) {
    await sendPdu(socket, loginRequest(session, { transit: transitRequest, versionMax, versionMin, itt }), payload);
    const rsp = await readPdu(socket, timeoutMs);
    if (rsp.opcode !== Opcode.LoginResponse) {
      throw new RawProtocolError(`expected a Login Response, got opcode 0x${rsp.opcode.toString(16)}`);
    }
    session.responses.push(rsp);
    session.statusClass = rsp.bhs[36] ?? 0;
    session.statusDetail = rsp.bhs[37] ?? 0;
    session.status = (session.statusClass << 8) | session.statusDetail;
    session.tsih = rsp.bhs.readUInt16BE(14);
    session.expStatSn = (rsp.bhs.readUInt32BE(24) + 1) >>> 0; // StatSN + 1
    session.cmdSn = rsp.bhs.readUInt32BE(28); // ExpCmdSN
    session.maxCmdSn = rsp.bhs.readUInt32BE(32);
    if (session.status !== LoginStatus.Success) return session;
    pendingText = pendingText.length === 0 ? rsp.data : Buffer.concat([pendingText, rsp.data]);
    if (rsp.flags & CONTINUE) {
      // RFC 7143 §11.13.3: more text follows; ask for it with an empty request (T=0).
      payload = Buffer.alloc(0);
      transitRequest = false;
      continue;
    }
    transitRequest = true;
    const offered = decodeText(pendingText);
    pendingText = Buffer.alloc(0);
    const answers: [string, string][] = [];
    for (const [k, v] of offered) {
      session.targetKeys.set(k, v);
      // Keys the target proposed on its own need an answer (RFC 7143 §6.2): accept its value.
      if (!sentKeys.has(k) && v !== 'NotUnderstood' && v !== 'Irrelevant' && v !== 'Reject' && !isDeclarative(k)) {
        answers.push([k, v]);
        sentKeys.add(k);
      }
    }
    const mrdsl = Number(session.targetKeys.get('MaxRecvDataSegmentLength'));
    if (Number.isInteger(mrdsl) && mrdsl > 0) session.targetMaxRecvDataSegmentLength = mrdsl;
    const transit = (rsp.flags & TRANSIT) !== 0;
    const nsg = rsp.flags & 0x03;
    if (transit && nsg === LoginStage.FullFeature && answers.length === 0) {
      session.fullFeature = true;
      return session;
    }
    payload = encodeText(answers);
    versionMax = rsp.bhs[2] ?? 0;
    versionMin = rsp.bhs[3] ?? 0;
  }
  throw new RawProtocolError('login did not reach Full Feature Phase within 16 exchanges');
}

/** Declarative keys need no answer. RFC 7143 §6.2 and §13. */
function isDeclarative(key: string): boolean {
  return (
    key === 'MaxRecvDataSegmentLength' ||
    key === 'TargetAlias' ||
    key === 'InitiatorAlias' ||
    key === 'TargetPortalGroupTag' ||
    key === 'TargetAddress' ||
    key === 'TargetName' ||
    key === 'InitiatorName' ||
    key.startsWith('X-') ||
    key.startsWith('X#')
  );
}

/**
 * Logs the session out (reason 0: close the session) and closes the socket.
 * @returns the Logout Response's Response field (0 = closed successfully). RFC 7143 §11.15.1.
 */
export async function rawLogout(session: RawSession, timeoutMs = 5_000): Promise<number> {
  const itt = session.nextTag++;
  const bhs = newBhs({ opcode: Opcode.LogoutRequest, immediate: true, flags: FINAL_BIT /* reason 0: close the session */, initiatorTaskTag: itt });
  bhs.writeUInt16BE(session.cid, 20);
  bhs.writeUInt32BE(session.cmdSn >>> 0, 24);
  bhs.writeUInt32BE(session.expStatSn >>> 0, 28);
  await sendPdu(session.socket, bhs);
  try {
    for (;;) {
      const p = await readPdu(session.socket, timeoutMs);
      if (p.opcode === Opcode.LogoutResponse && p.initiatorTaskTag === itt) return p.bhs[2] ?? -1;
    }
  } finally {
    session.socket.end();
    session.socket.destroy();
  }
}

/** Sends a NOP-Out ping (immediate) and waits for the matching NOP-In. RFC 7143 §11.18, §11.19. */
export async function rawNopOut(session: RawSession, timeoutMs = 5_000): Promise<RawPdu> {
  const itt = session.nextTag++;
  const bhs = newBhs({ opcode: Opcode.NopOut, immediate: true, flags: FINAL_BIT, initiatorTaskTag: itt });
  bhs.writeUInt32BE(0xffffffff, 20); // Target Transfer Tag: reserved (not an answer to a ping)
  bhs.writeUInt32BE(session.cmdSn >>> 0, 24);
  bhs.writeUInt32BE(session.expStatSn >>> 0, 28);
  await sendPdu(session.socket, bhs);
  for (;;) {
    const p = await readPdu(session.socket, timeoutMs);
    if (p.opcode === Opcode.NopIn && p.initiatorTaskTag === itt) return p;
    if (p.opcode === Opcode.Reject) {
      throw new RawProtocolError(`NOP-Out rejected with reason 0x${(p.bhs[2] ?? 0).toString(16)}`);
    }
  }
}

/** Destroys the session's socket without logging out. */
export function rawClose(session: RawSession): void {
  session.socket.destroy();
}
