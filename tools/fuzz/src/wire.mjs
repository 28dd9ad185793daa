// The fuzzer's own iSCSI wire layer: BHS building, framing with optional
// CRC32C digests, an incremental PDU reader, and a well-behaved login.
//
// What it does: builds PDUs from fields at the RFC 7143 §11 offsets, frames
// them (TotalAHSLength, DataSegmentLength, padding, digests, §11.2), reads
// the target's PDUs from a socket, and logs in (operational stage straight
// to Full Feature Phase, §6.3, no authentication) answering the keys the
// target proposes by accepting its value.
// What it does not do: it does not import the project's codec (a fuzzer
// that shares the implementation's framing could not find its bugs); no
// CHAP, no multi-connection sessions, no error recovery.
//
// Buffer ownership: every function returns fresh Buffers the caller owns;
// `frame` copies its inputs; `PduReader.push` keeps the chunks it is given
// (the caller must not write into them afterwards), and the PDUs it returns
// are copies.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';

export const BHS_SIZE = 48;

/** Initiator opcodes, RFC 7143 §11.2.1.2. */
export const Op = {
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskMgmt: 0x02,
  Login: 0x03,
  Text: 0x04,
  DataOut: 0x05,
  Logout: 0x06,
  Snack: 0x10,
};

/** Target opcodes the fuzzer reacts to. */
export const TargetOp = { NopIn: 0x20, ScsiResponse: 0x21, LoginResponse: 0x23, DataIn: 0x25, R2t: 0x31, Reject: 0x3f };

export const FINAL = 0x80;
export const IMMEDIATE = 0x40;

/** Byte offsets of the fields the mutators address (RFC 7143 §11.3, §11.7). */
export const Field = {
  opcode: 0,
  flags: 1,
  totalAhsLength: 4,
  dataSegmentLength: 5,
  lun: 8,
  itt: 16,
  ttt: 20,
  edtl: 20,
  cmdSn: 24,
  expStatSn: 28,
  dataSn: 36,
  bufferOffset: 40,
  cdb: 32,
};

/**
 * A zeroed BHS with the common fields.
 * @param {{ opcode: number, immediate?: boolean, flags?: number, lun?: number, itt?: number }} f
 * @returns {Buffer}
 */
export function newBhs(f) {
  const b = Buffer.alloc(BHS_SIZE);
  b[0] = (f.opcode & 0x3f) | (f.immediate ? IMMEDIATE : 0);
  b[1] = f.flags ?? 0;
  if (f.lun !== undefined) b[9] = f.lun & 0xff;
  b.writeUInt32BE((f.itt ?? 0) >>> 0, 16);
  return b;
}

/**
 * `key=value\0…` (RFC 7143 §6.1).
 * @param {ReadonlyArray<readonly [string, string]>} pairs
 */
export function encodeText(pairs) {
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

/** @param {Buffer} data */
export function decodeText(data) {
  /** @type {Map<string, string>} */
  const m = new Map();
  for (const part of data.toString('utf8').split('\0')) {
    const eq = part.indexOf('=');
    if (eq > 0) m.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return m;
}

/**
 * @typedef {object} PduSpec  A PDU before framing.
 * @property {Buffer} bhs  48 bytes; TotalAHSLength and DataSegmentLength are filled by `frame` unless `keepLengths`
 * @property {Buffer} [ahs]  raw AHS bytes (a multiple of 4 to be well-formed)
 * @property {Buffer} [data]
 * @property {boolean} [keepLengths]  send the length fields as they are in `bhs` (a lie on purpose)
 */

/**
 * Frames one PDU: BHS, AHS, header digest, data, padding, data digest.
 * @param {PduSpec} p
 * @param {{ headerDigest: boolean, dataDigest: boolean }} d
 * @returns {Buffer}
 */
export function frame(p, d) {
  const bhs = Buffer.from(p.bhs);
  const ahs = p.ahs ?? Buffer.alloc(0);
  const data = p.data ?? Buffer.alloc(0);
  if (!p.keepLengths) {
    bhs[4] = (ahs.length >>> 2) & 0xff;
    bhs.writeUIntBE(data.length & 0xffffff, 5, 3);
  }
  const parts = [bhs, ahs];
  if (d.headerDigest) parts.push(digest(crc32c(Buffer.concat([bhs, ahs]))));
  if (data.length > 0) {
    const pad = Buffer.alloc((4 - (data.length & 3)) & 3);
    parts.push(data, pad);
    if (d.dataDigest) parts.push(digest(crc32c(Buffer.concat([data, pad]))));
  }
  return Buffer.concat(parts);
}

/** @param {number} crc */
function digest(crc) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(crc >>> 0, 0);
  return b;
}

/**
 * @typedef {object} RxPdu
 * @property {Buffer} bhs
 * @property {Buffer} data
 * @property {number} opcode
 */

/** Incremental reader of the target's PDUs (digests as negotiated). */
export class PduReader {
  /** @type {Buffer[]} */
  #chunks = [];
  #len = 0;
  headerDigest = false;
  dataDigest = false;
  /** Set when the stream cannot be framed (never expected from a correct target). */
  broken = false;

  /** @param {Buffer} chunk */
  push(chunk) {
    this.#chunks.push(chunk);
    this.#len += chunk.length;
  }

  /** @returns {RxPdu | null} */
  next() {
    if (this.broken || this.#len < BHS_SIZE) return null;
    const head = this.#peek(BHS_SIZE);
    const ahs = head[4] * 4;
    const dsl = head.readUIntBE(5, 3);
    const hd = this.headerDigest ? 4 : 0;
    const dd = this.dataDigest && dsl > 0 ? 4 : 0;
    const total = BHS_SIZE + ahs + hd + dsl + ((4 - (dsl & 3)) & 3) + dd;
    if (dsl > 16 * 1024 * 1024) {
      this.broken = true;
      return null;
    }
    if (this.#len < total) return null;
    const all = this.#take(total);
    const bhs = Buffer.from(all.subarray(0, BHS_SIZE));
    const start = BHS_SIZE + ahs + hd;
    return { bhs, data: Buffer.from(all.subarray(start, start + dsl)), opcode: bhs[0] & 0x3f };
  }

  /** @param {number} n */
  #peek(n) {
    if (this.#chunks[0].length < n) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0].subarray(0, n);
  }

  /** @param {number} n */
  #take(n) {
    const all = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#len -= n;
    return out;
  }
}

/**
 * A connected socket with a PDU reader and a queue of waiters.
 */
export class Conn {
  /** @param {net.Socket} socket */
  constructor(socket) {
    this.socket = socket;
    this.reader = new PduReader();
    this.closed = false;
    /** @type {RxPdu[]} */
    this.inbox = [];
    /** @type {((p: RxPdu | null) => void) | null} */
    this.waiter = null;
    /** @type {((p: RxPdu) => void) | null} */
    this.onPdu = null;
    this.received = 0;
    socket.on('data', (b) => {
      this.reader.push(b);
      for (let p = this.reader.next(); p !== null; p = this.reader.next()) {
        this.received++;
        if (this.onPdu !== null) this.onPdu(p);
        else if (this.waiter !== null) {
          const w = this.waiter;
          this.waiter = null;
          w(p);
        } else this.inbox.push(p);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      if (this.waiter !== null) {
        const w = this.waiter;
        this.waiter = null;
        w(null);
      }
    });
  }

  /**
   * The next PDU, or null when the connection closed or `timeoutMs` passed.
   * @param {number} timeoutMs
   * @returns {Promise<RxPdu | null>}
   */
  read(timeoutMs) {
    const p = this.inbox.shift();
    if (p !== undefined) return Promise.resolve(p);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = null;
        resolve(null);
      }, timeoutMs);
      this.waiter = (x) => {
        clearTimeout(t);
        resolve(x);
      };
    });
  }

  /** @param {Buffer} b */
  write(b) {
    if (this.closed || this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.socket.write(b, (err) => resolve(!err));
    });
  }

  destroy() {
    this.socket.destroy();
  }
}

/**
 * @param {string} host
 * @param {number} port
 * @param {number} timeoutMs
 * @returns {Promise<Conn>}
 */
export function connect(host, port, timeoutMs) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    s.setNoDelay(true);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect ${host}:${port} timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(new Conn(s));
    });
    s.once('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** A random ISID of type 10b (RFC 7143 §11.12.5). */
export function randomIsid() {
  const b = randomBytes(6);
  b[0] = 0x80;
  b[1] = 0;
  return b;
}

const DECLARATIVE = new Set(['MaxRecvDataSegmentLength', 'TargetAlias', 'InitiatorAlias', 'TargetPortalGroupTag', 'TargetAddress', 'TargetName', 'InitiatorName']);

/**
 * A Login Request BHS (RFC 7143 §11.12).
 * @param {{ transit: boolean, cont?: boolean, csg: number, nsg: number, isid: Buffer, tsih?: number, cid?: number, itt: number, cmdSn: number, expStatSn: number, versionMax?: number, versionMin?: number }} o
 */
export function loginBhs(o) {
  const flags = (o.transit ? 0x80 : 0) | (o.cont ? 0x40 : 0) | ((o.csg & 3) << 2) | (o.nsg & 3);
  const b = newBhs({ opcode: Op.Login, immediate: true, flags, itt: o.itt });
  b[2] = o.versionMax ?? 0;
  b[3] = o.versionMin ?? 0;
  o.isid.copy(b, 8, 0, 6);
  b.writeUInt16BE(o.tsih ?? 0, 14);
  b.writeUInt16BE(o.cid ?? 0, 20);
  b.writeUInt32BE(o.cmdSn >>> 0, 24);
  b.writeUInt32BE(o.expStatSn >>> 0, 28);
  return b;
}

/**
 * @typedef {object} Session
 * @property {boolean} ok  Full Feature Phase reached
 * @property {number} status  Status-Class << 8 | Status-Detail of the last Login Response (-1: none)
 * @property {number} cmdSn
 * @property {number} expStatSn
 * @property {number} itt  next Initiator Task Tag
 * @property {boolean} headerDigest
 * @property {boolean} dataDigest
 * @property {number} maxRecv  the target's MaxRecvDataSegmentLength
 * @property {Map<string, string>} keys  what the target answered
 */

/**
 * A well-behaved login of a Normal (or Discovery) session.
 * @param {Conn} c
 * @param {{ targetName?: string, sessionType?: 'Normal' | 'Discovery', extraKeys?: ReadonlyArray<readonly [string, string]>, headerDigest?: boolean, dataDigest?: boolean, timeoutMs?: number }} o
 * @returns {Promise<Session>}
 */
export async function login(c, o) {
  const timeoutMs = o.timeoutMs ?? 5_000;
  const isid = randomIsid();
  /** @type {Session} */
  const s = { ok: false, status: -1, cmdSn: 1, expStatSn: 0, itt: 1, headerDigest: false, dataDigest: false, maxRecv: 8192, keys: new Map() };
  /** @type {Array<[string, string]>} */
  const first = [
    ['InitiatorName', 'iqn.2026-12.org.nodejs-iscsi:fuzzer'],
    ['SessionType', o.sessionType ?? 'Normal'],
  ];
  if ((o.sessionType ?? 'Normal') === 'Normal') first.push(['TargetName', o.targetName ?? 'iqn.2026-11.org.nodejs-iscsi:target0']);
  first.push(['HeaderDigest', o.headerDigest ? 'CRC32C' : 'None'], ['DataDigest', o.dataDigest ? 'CRC32C' : 'None'], ['MaxRecvDataSegmentLength', '65536']);
  for (const [k, v] of o.extraKeys ?? []) {
    const i = first.findIndex(([fk]) => fk === k);
    if (i >= 0) first[i] = [k, v];
    else first.push([k, v]);
  }
  const sent = new Set(first.map(([k]) => k));
  let payload = encodeText(first);
  let tsih = 0;
  for (let round = 0; round < 8; round++) {
    const bhs = loginBhs({ transit: true, csg: 1, nsg: 3, isid, tsih, itt: 0, cmdSn: s.cmdSn, expStatSn: s.expStatSn });
    if (!(await c.write(frame({ bhs, data: payload }, { headerDigest: false, dataDigest: false })))) return s;
    const rsp = await c.read(timeoutMs);
    if (rsp === null || rsp.opcode !== TargetOp.LoginResponse) return s;
    s.status = (rsp.bhs[36] << 8) | rsp.bhs[37];
    tsih = rsp.bhs.readUInt16BE(14);
    s.expStatSn = (rsp.bhs.readUInt32BE(24) + 1) >>> 0;
    s.cmdSn = rsp.bhs.readUInt32BE(28);
    if (s.status !== 0) return s;
    /** @type {Array<[string, string]>} */
    const answers = [];
    for (const [k, v] of decodeText(rsp.data)) {
      s.keys.set(k, v);
      if (!sent.has(k) && !DECLARATIVE.has(k) && !k.startsWith('X-') && v !== 'NotUnderstood' && v !== 'Irrelevant' && v !== 'Reject') {
        answers.push([k, v]);
        sent.add(k);
      }
    }
    if ((rsp.bhs[1] & 0x80) !== 0 && (rsp.bhs[1] & 3) === 3 && answers.length === 0) {
      s.ok = true;
      s.headerDigest = s.keys.get('HeaderDigest') === 'CRC32C';
      s.dataDigest = s.keys.get('DataDigest') === 'CRC32C';
      const mr = Number(s.keys.get('MaxRecvDataSegmentLength'));
      if (Number.isInteger(mr) && mr > 0) s.maxRecv = mr;
      c.reader.headerDigest = s.headerDigest;
      c.reader.dataDigest = s.dataDigest;
      return s;
    }
    payload = encodeText(answers);
  }
  return s;
}
