// Fuzz cases: fast-check arbitraries of valid login and full-feature PDU
// streams and of mutations applied to them, and the function that turns a
// case into the bytes to send.
//
// What it does: `caseArb` generates a case — a kind (`login`: the mutated
// stream is the login itself; `ffp`: a clean login first, then a mutated
// full-feature stream; `discovery`: a clean Discovery login, then mutated
// Text requests), template PDUs (SCSI READ/WRITE with immediate data and
// unsolicited Data-Out, INQUIRY, TEST UNIT READY, arbitrary CDBs, NOP-Out,
// Text, Task Management, SNACK, Logout, raw opcodes, Login requests with
// key=value text), mutations (opcodes, flags, lengths that lie, AHS, CmdSN,
// DataSN, buffer offsets, ITT/TTT, LUN, text damage, bit flips after
// framing so digests break, drops, duplicates, truncation) and the points at
// which the byte stream is cut into writes. `buildStream` is deterministic
// given the case and the session's sequence numbers.
// What it does not do: no randomness of its own (every choice comes from
// fast-check, seeded by the caller), no I/O.
//
// Buffer ownership: everything returned is freshly allocated.
import fc from 'fast-check';
import { BHS_SIZE, Field, FINAL, frame, loginBhs, newBhs, Op, encodeText } from './wire.mjs';

/** LBAs the generated writes may touch: [0, SCRATCH_BLOCKS). The corruption check's pattern lies far above. */
export const SCRATCH_BLOCKS = 4096;

const u32 = fc.oneof(
  fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff),
  fc.nat({ max: 0xffffffff }),
);
const smallDelta = fc.integer({ min: -3, max: 3 });

const keyNames = fc.constantFrom(
  'InitiatorName', 'TargetName', 'SessionType', 'AuthMethod', 'HeaderDigest', 'DataDigest', 'MaxRecvDataSegmentLength',
  'MaxBurstLength', 'FirstBurstLength', 'InitialR2T', 'ImmediateData', 'MaxOutstandingR2T', 'MaxConnections',
  'DataPDUInOrder', 'DataSequenceInOrder', 'ErrorRecoveryLevel', 'DefaultTime2Wait', 'DefaultTime2Retain',
  'CHAP_A', 'CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C', 'SendTargets', 'TargetAlias', 'IFMarker', 'OFMarker',
  'X-com.example.key', 'TaskReporting', 'iSCSIProtocolLevel',
);
const keyValues = fc.oneof(
  fc.constantFrom('None', 'CRC32C', 'CRC32C,None', 'Yes', 'No', 'All', 'Normal', 'Discovery', 'CHAP', '5', '0', '65536',
    '16777215', '16777216', '4294967296', '-1', '', 'iqn.2026-11.org.nodejs-iscsi:target0', 'Reject', 'NotUnderstood'),
  fc.string({ maxLength: 40 }),
  fc.nat().map(String),
);
const keyPair = fc.tuple(fc.oneof(keyNames, fc.stringMatching(/^[A-Za-z0-9.\-+@_:#]{1,70}$/)), keyValues);

/** One template PDU of a stream (before sequence numbers and mutations). */
const ffpTemplate = fc.oneof(
  fc.record({ t: fc.constant('read'), lba: fc.nat(SCRATCH_BLOCKS - 16), blocks: fc.integer({ min: 0, max: 16 }), cdb16: fc.boolean() }),
  fc.record({
    t: fc.constant('write'),
    lba: fc.nat(SCRATCH_BLOCKS - 16),
    blocks: fc.integer({ min: 1, max: 8 }),
    immediate: fc.nat(4096),
    unsolicited: fc.nat(8192),
    fill: fc.nat(255),
  }),
  fc.constant({ t: 'inquiry' }),
  fc.constant({ t: 'tur' }),
  fc.record({ t: fc.constant('cdb'), cdb: fc.uint8Array({ minLength: 16, maxLength: 16 }), edtl: fc.nat(65536), flags: fc.nat(255) }),
  fc.record({ t: fc.constant('nop'), data: fc.uint8Array({ maxLength: 256 }), ttt: fc.constantFrom(0xffffffff, 0, 7) }),
  fc.record({ t: fc.constant('text'), pairs: fc.array(keyPair, { maxLength: 4 }), cont: fc.boolean() }),
  fc.record({ t: fc.constant('tmf'), fn: fc.integer({ min: 0, max: 15 }), ref: u32 }),
  fc.record({ t: fc.constant('snack'), type: fc.nat(15), beg: u32, run: u32 }),
  fc.record({ t: fc.constant('logout'), reason: fc.nat(3) }),
  fc.record({ t: fc.constant('raw'), opcode: fc.nat(0x3f), bytes: fc.uint8Array({ minLength: 47, maxLength: 47 }), data: fc.uint8Array({ maxLength: 64 }) }),
);

const loginTemplate = fc.record({
  t: fc.constant('login'),
  transit: fc.boolean(),
  cont: fc.boolean(),
  csg: fc.nat(3),
  nsg: fc.nat(3),
  versionMax: fc.oneof(fc.constant(0), fc.nat(255)),
  versionMin: fc.oneof(fc.constant(0), fc.nat(255)),
  tsih: fc.oneof(fc.constant(0), fc.nat(0xffff)),
  cid: fc.nat(0xffff),
  keepDefaults: fc.boolean(),
  pairs: fc.array(keyPair, { maxLength: 6 }),
});

const fieldName = fc.constantFrom('opcode', 'flags', 'lun', 'itt', 'ttt', 'cmdSn', 'expStatSn', 'dataSn', 'bufferOffset', 'cdb');

/** Mutations, applied in order; `pdu` indices wrap around the stream. */
const mutation = fc.oneof(
  { weight: 3, arbitrary: fc.record({ m: fc.constant('field'), pdu: fc.nat(), field: fieldName, value: u32 }) },
  { weight: 2, arbitrary: fc.record({ m: fc.constant('seq'), pdu: fc.nat(), field: fc.constantFrom('cmdSn', 'expStatSn', 'dataSn', 'bufferOffset'), delta: smallDelta }) },
  { weight: 2, arbitrary: fc.record({ m: fc.constant('byte'), pdu: fc.nat(), off: fc.nat(BHS_SIZE - 1), value: fc.nat(255) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('ahs'), pdu: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }), honest: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ m: fc.constant('dsl'), pdu: fc.nat(), value: fc.oneof(fc.nat(0xffffff), fc.integer({ min: -4, max: 4 })) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('text'), pdu: fc.nat(), how: fc.constantFrom('noNul', 'noEq', 'longValue', 'longKey', 'dupKey', 'nulOnly', 'binary'), bytes: fc.uint8Array({ maxLength: 32 }) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('data'), pdu: fc.nat(), bytes: fc.uint8Array({ maxLength: 1024 }) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('dup'), pdu: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('drop'), pdu: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('swap'), a: fc.nat(), b: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ m: fc.constant('flip'), pos: fc.nat(), bit: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('truncate'), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ m: fc.constant('garbage'), pos: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 96 }) }) },
);

/**
 * @typedef {object} FuzzCase
 * @property {'login' | 'ffp' | 'discovery'} kind
 * @property {boolean} headerDigest  asked for in the clean login (ffp/discovery)
 * @property {boolean} dataDigest
 * @property {boolean} immediateData  ImmediateData=Yes and InitialR2T=No asked for in the clean login
 * @property {any[]} templates
 * @property {any[]} mutations
 * @property {number[]} cuts  byte offsets at which the stream is cut into separate writes
 * @property {{ field: 'dataSn' | 'bufferOffset' | 'ttt' | 'length' | 'none', delta: number }} r2t  how answers to R2T are bent
 */

/** @type {fc.Arbitrary<FuzzCase>} */
export const caseArb = fc.oneof(
  fc.record({
    kind: fc.constant(/** @type {const} */ ('ffp')),
    headerDigest: fc.boolean(),
    dataDigest: fc.boolean(),
    immediateData: fc.boolean(),
    templates: fc.array(ffpTemplate, { minLength: 1, maxLength: 14 }),
    mutations: fc.array(mutation, { maxLength: 4 }),
    cuts: fc.array(fc.nat(), { maxLength: 6 }),
    r2t: fc.record({ field: fc.constantFrom('none', 'none', 'dataSn', 'bufferOffset', 'ttt', 'length'), delta: fc.integer({ min: -600, max: 600 }) }),
  }),
  fc.record({
    kind: fc.constant(/** @type {const} */ ('login')),
    headerDigest: fc.constant(false),
    dataDigest: fc.constant(false),
    immediateData: fc.constant(false),
    templates: fc.array(fc.oneof({ weight: 3, arbitrary: loginTemplate }, { weight: 1, arbitrary: ffpTemplate }), { minLength: 1, maxLength: 5 }),
    mutations: fc.array(mutation, { maxLength: 3 }),
    cuts: fc.array(fc.nat(), { maxLength: 6 }),
    r2t: fc.constant({ field: /** @type {const} */ ('none'), delta: 0 }),
  }),
  fc.record({
    kind: fc.constant(/** @type {const} */ ('discovery')),
    headerDigest: fc.boolean(),
    dataDigest: fc.boolean(),
    immediateData: fc.constant(false),
    templates: fc.array(fc.oneof(fc.record({ t: fc.constant('text'), pairs: fc.array(keyPair, { maxLength: 3 }), cont: fc.boolean() }), ffpTemplate), { minLength: 1, maxLength: 6 }),
    mutations: fc.array(mutation, { maxLength: 3 }),
    cuts: fc.array(fc.nat(), { maxLength: 6 }),
    r2t: fc.constant({ field: /** @type {const} */ ('none'), delta: 0 }),
  }),
);

/**
 * @typedef {object} SeqState  sequence numbers of the session the stream is sent on
 * @property {number} cmdSn
 * @property {number} expStatSn
 * @property {number} itt
 */

/**
 * @param {number} opcode
 * @param {number} lba
 * @param {number} blocks
 * @param {boolean} cdb16
 */
function rwCdb(opcode, lba, blocks, cdb16) {
  const cdb = Buffer.alloc(16);
  if (cdb16) {
    cdb[0] = opcode === 0x28 ? 0x88 : 0x8a;
    cdb.writeUInt32BE(lba, 6);
    cdb.writeUInt32BE(blocks, 10);
  } else {
    cdb[0] = opcode;
    cdb.writeUInt32BE(lba, 2);
    cdb.writeUInt16BE(blocks, 7);
  }
  return cdb;
}

/**
 * @param {{ flags: number, itt: number, edtl: number, cmdSn: number, expStatSn: number, cdb: Buffer, data?: Buffer }} o
 * @returns {import('./wire.mjs').PduSpec}
 */
function scsiCmd(o) {
  const bhs = newBhs({ opcode: Op.ScsiCommand, flags: o.flags, lun: 0, itt: o.itt });
  bhs.writeUInt32BE(o.edtl >>> 0, 20);
  bhs.writeUInt32BE(o.cmdSn >>> 0, 24);
  bhs.writeUInt32BE(o.expStatSn >>> 0, 28);
  o.cdb.copy(bhs, 32);
  return o.data === undefined ? { bhs } : { bhs, data: o.data };
}

/**
 * A Data-Out PDU (RFC 7143 §11.7).
 * @param {{ itt: number, ttt: number, expStatSn: number, dataSn: number, offset: number, data: Buffer, final: boolean }} o
 */
export function dataOut(o) {
  const bhs = newBhs({ opcode: Op.DataOut, flags: o.final ? FINAL : 0, lun: 0, itt: o.itt });
  bhs.writeUInt32BE(o.ttt >>> 0, 20);
  bhs.writeUInt32BE(o.expStatSn >>> 0, 28);
  bhs.writeUInt32BE(o.dataSn >>> 0, 36);
  bhs.writeUInt32BE(o.offset >>> 0, 40);
  return { bhs, data: o.data };
}

/**
 * Expands the templates into PDU specs with consecutive sequence numbers.
 * @param {FuzzCase} c
 * @param {SeqState} seq  advanced in place
 * @param {{ blockSize: number, firstBurst: number, maxRecv: number, unsolicitedOk: boolean }} neg
 * @returns {import('./wire.mjs').PduSpec[]}
 */
export function expand(c, seq, neg) {
  /** @type {import('./wire.mjs').PduSpec[]} */
  const out = [];
  for (const t of c.templates) {
    const itt = seq.itt++;
    switch (t.t) {
      case 'read': {
        const len = t.blocks * neg.blockSize;
        out.push(scsiCmd({ flags: FINAL | 0x40 | 1, itt, edtl: len, cmdSn: seq.cmdSn++, expStatSn: seq.expStatSn, cdb: rwCdb(0x28, t.lba, t.blocks, t.cdb16) }));
        break;
      }
      case 'write': {
        const len = t.blocks * neg.blockSize;
        const payload = Buffer.alloc(len, t.fill);
        const imm = c.immediateData ? Math.min(t.immediate, len, neg.firstBurst, neg.maxRecv) : 0;
        const unsol = neg.unsolicitedOk ? Math.min(t.unsolicited, len - imm, neg.firstBurst - imm) : 0;
        const final = unsol <= 0;
        out.push(scsiCmd({ flags: (final ? FINAL : 0) | 0x20 | 1, itt, edtl: len, cmdSn: seq.cmdSn++, expStatSn: seq.expStatSn, cdb: rwCdb(0x2a, t.lba, t.blocks, false), data: payload.subarray(0, imm) }));
        let off = imm;
        let dataSn = 0;
        while (unsol > 0 && off < imm + unsol) {
          const n = Math.min(neg.maxRecv, imm + unsol - off);
          out.push(dataOut({ itt, ttt: 0xffffffff, expStatSn: seq.expStatSn, dataSn: dataSn++, offset: off, data: payload.subarray(off, off + n), final: off + n >= imm + unsol }));
          off += n;
        }
        break;
      }
      case 'inquiry': {
        const cdb = Buffer.alloc(16);
        cdb[0] = 0x12;
        cdb.writeUInt16BE(255, 3);
        out.push(scsiCmd({ flags: FINAL | 0x40 | 1, itt, edtl: 255, cmdSn: seq.cmdSn++, expStatSn: seq.expStatSn, cdb }));
        break;
      }
      case 'tur':
        out.push(scsiCmd({ flags: FINAL | 1, itt, edtl: 0, cmdSn: seq.cmdSn++, expStatSn: seq.expStatSn, cdb: Buffer.alloc(16) }));
        break;
      case 'cdb':
        // Never a write-type opcode aimed outside the scratch area: the CDB is arbitrary, so writes are sent as reads' flags.
        out.push(scsiCmd({ flags: t.flags & ~0x20, itt, edtl: t.edtl, cmdSn: seq.cmdSn++, expStatSn: seq.expStatSn, cdb: safeCdb(Buffer.from(t.cdb)) }));
        break;
      case 'nop': {
        const bhs = newBhs({ opcode: Op.NopOut, immediate: true, flags: FINAL, lun: 0, itt: t.ttt === 0xffffffff ? itt : 0xffffffff });
        bhs.writeUInt32BE(t.ttt >>> 0, 20);
        bhs.writeUInt32BE(seq.cmdSn >>> 0, 24);
        bhs.writeUInt32BE(seq.expStatSn >>> 0, 28);
        out.push({ bhs, data: Buffer.from(t.data) });
        break;
      }
      case 'text': {
        const bhs = newBhs({ opcode: Op.Text, immediate: true, flags: t.cont ? 0x40 : FINAL, itt });
        bhs.writeUInt32BE(0xffffffff, 20);
        bhs.writeUInt32BE(seq.cmdSn >>> 0, 24);
        bhs.writeUInt32BE(seq.expStatSn >>> 0, 28);
        out.push({ bhs, data: encodeText(t.pairs.length > 0 ? t.pairs : [['SendTargets', 'All']]) });
        break;
      }
      case 'tmf': {
        const bhs = newBhs({ opcode: Op.TaskMgmt, immediate: true, flags: FINAL | t.fn, lun: 0, itt });
        bhs.writeUInt32BE(t.ref >>> 0, 20);
        bhs.writeUInt32BE(seq.cmdSn >>> 0, 24);
        bhs.writeUInt32BE(seq.expStatSn >>> 0, 28);
        bhs.writeUInt32BE(seq.cmdSn >>> 0, 32);
        out.push({ bhs });
        break;
      }
      case 'snack': {
        const bhs = newBhs({ opcode: Op.Snack, flags: FINAL | t.type, lun: 0, itt });
        bhs.writeUInt32BE(0xffffffff, 20);
        bhs.writeUInt32BE(seq.expStatSn >>> 0, 28);
        bhs.writeUInt32BE(t.beg >>> 0, 40);
        bhs.writeUInt32BE(t.run >>> 0, 44);
        out.push({ bhs });
        break;
      }
      case 'logout': {
        const bhs = newBhs({ opcode: Op.Logout, immediate: true, flags: FINAL | t.reason, itt });
        bhs.writeUInt32BE(seq.cmdSn >>> 0, 24);
        bhs.writeUInt32BE(seq.expStatSn >>> 0, 28);
        out.push({ bhs });
        break;
      }
      case 'raw': {
        const bhs = Buffer.alloc(BHS_SIZE);
        bhs[0] = t.opcode;
        Buffer.from(t.bytes).copy(bhs, 1);
        // The raw PDU keeps its own LUN/CDB bytes, except that a SCSI Command carries a safe CDB.
        if ((t.opcode & 0x3f) === Op.ScsiCommand) safeCdb(bhs.subarray(32, 48));
        out.push({ bhs, data: Buffer.from(t.data) });
        break;
      }
      case 'login': {
        const pairs = t.keepDefaults
          ? [['InitiatorName', 'iqn.2026-12.org.nodejs-iscsi:fuzzer'], ['SessionType', 'Normal'], ['TargetName', 'iqn.2026-11.org.nodejs-iscsi:target0'], ...t.pairs]
          : t.pairs;
        const bhs = loginBhs({
          transit: t.transit,
          cont: t.cont,
          csg: t.csg,
          nsg: t.nsg,
          isid: Buffer.from([0x80, 0, 0, 0, (itt >> 8) & 0xff, itt & 0xff]),
          tsih: t.tsih,
          cid: t.cid,
          itt,
          cmdSn: seq.cmdSn,
          expStatSn: seq.expStatSn,
          versionMax: t.versionMax,
          versionMin: t.versionMin,
        });
        out.push({ bhs, data: encodeText(pairs) });
        break;
      }
    }
  }
  return out;
}

/**
 * Makes an arbitrary CDB harmless for the pattern kept above the scratch
 * area: write-type opcodes (and those that change data: UNMAP, WRITE SAME,
 * FORMAT, COMPARE AND WRITE, XDWRITE…) become READ(10) of the same bytes with
 * the LBA bytes cleared into the scratch area. In place; returns `cdb`.
 * @param {Buffer} cdb
 */
function safeCdb(cdb) {
  const writers = new Set([0x04, 0x0a, 0x2a, 0x2e, 0x3b, 0x41, 0x42, 0x50, 0x53, 0x89, 0x8a, 0x8e, 0x93, 0x9e, 0xaa, 0xae, 0x7f, 0x3f, 0x83, 0x1d]);
  if (writers.has(cdb[0])) {
    cdb[0] = 0x28;
    cdb[2] = 0;
    cdb[3] = 0;
  }
  return cdb;
}

/**
 * @param {Buffer} bhs
 * @param {string} field
 * @param {number} value
 */
function setField(bhs, field, value) {
  switch (field) {
    case 'opcode':
      bhs[0] = (bhs[0] & 0x40) | (value & 0x3f);
      if ((bhs[0] & 0x3f) === Op.ScsiCommand) safeCdb(bhs.subarray(32, 48));
      break;
    case 'flags':
      bhs[1] = value & 0xff;
      break;
    case 'lun':
      bhs.writeUInt32BE(value >>> 0, 8);
      break;
    case 'cdb':
      bhs.writeUInt32BE(value >>> 0, 32);
      if ((bhs[0] & 0x3f) === Op.ScsiCommand) safeCdb(bhs.subarray(32, 48));
      break;
    default:
      bhs.writeUInt32BE(value >>> 0, /** @type {Record<string, number>} */ (Field)[field] ?? 16);
  }
}

/**
 * Applies the case's mutations and frames the stream.
 * @param {FuzzCase} c
 * @param {import('./wire.mjs').PduSpec[]} specs  consumed
 * @param {{ headerDigest: boolean, dataDigest: boolean }} digests
 * @returns {{ pieces: Buffer[], pdus: number }}
 */
export function buildStream(c, specs, digests) {
  const list = specs.map((s) => ({ ...s, bhs: Buffer.from(s.bhs) }));
  /** @type {Array<{ pos: number, bit: number }>} */
  const flips = [];
  /** @type {Array<{ pos: number, bytes: Buffer }>} */
  const garbage = [];
  let truncate = -1;
  for (const m of c.mutations) {
    if (list.length === 0) break;
    const p = list[(m.pdu ?? 0) % list.length];
    const opcode = p.bhs[0] & 0x3f;
    switch (m.m) {
      case 'field':
        setField(p.bhs, m.field, m.value);
        break;
      case 'seq': {
        const off = /** @type {Record<string, number>} */ (Field)[m.field];
        p.bhs.writeUInt32BE((p.bhs.readUInt32BE(off) + m.delta) >>> 0, off);
        break;
      }
      case 'byte':
        // The CDB of a SCSI Command stays harmless for the pattern (see safeCdb).
        p.bhs[m.off] = m.value;
        if (opcode === Op.ScsiCommand || (p.bhs[0] & 0x3f) === Op.ScsiCommand) safeCdb(p.bhs.subarray(32, 48));
        break;
      case 'ahs': {
        const words = Math.ceil(m.bytes.length / 4);
        const ahs = Buffer.alloc(words * 4);
        Buffer.from(m.bytes).copy(ahs);
        p.ahs = ahs;
        if (!m.honest) p.ahs = Buffer.from(m.bytes); // not a multiple of 4: TotalAHSLength rounds down
        break;
      }
      case 'dsl': {
        p.keepLengths = true;
        p.bhs[4] = ((p.ahs?.length ?? 0) >>> 2) & 0xff;
        const n = m.value < 0 || m.value <= 4 ? Math.max(0, (p.data?.length ?? 0) + m.value) : m.value;
        p.bhs.writeUIntBE(n & 0xffffff, 5, 3);
        break;
      }
      case 'text':
        p.data = damageText(p.data ?? Buffer.alloc(0), m.how, Buffer.from(m.bytes));
        if (p.keepLengths) p.bhs.writeUIntBE(p.data.length & 0xffffff, 5, 3);
        break;
      case 'data':
        if (opcode !== Op.ScsiCommand && opcode !== Op.DataOut) p.data = Buffer.from(m.bytes);
        break;
      case 'dup':
        list.push({ ...p, bhs: Buffer.from(p.bhs) });
        break;
      case 'drop':
        list.splice((m.pdu ?? 0) % list.length, 1);
        break;
      case 'swap': {
        const a = m.a % list.length;
        const b = m.b % list.length;
        [list[a], list[b]] = [list[b], list[a]];
        break;
      }
      case 'flip':
        flips.push({ pos: m.pos, bit: m.bit });
        break;
      case 'truncate':
        truncate = m.at;
        break;
      case 'garbage':
        garbage.push({ pos: m.pos, bytes: Buffer.from(m.bytes) });
        break;
    }
  }
  const frames = list.map((s) => frame(s, digests));
  for (const f of flips) {
    if (frames.length === 0) break;
    const i = f.pos % frames.length;
    const fr = frames[i];
    const pos = Math.floor(f.pos / frames.length) % fr.length;
    // A flip in a SCSI Command's CDB could turn a read into a write outside
    // the scratch area: flip anything else (lengths, digests, data, fields).
    if ((fr[0] & 0x3f) === Op.ScsiCommand && pos >= 32 && pos < 48) continue;
    fr[pos] ^= 1 << f.bit;
  }
  let wire = Buffer.concat(frames);
  for (const g of garbage) {
    const pos = g.pos % (wire.length + 1);
    wire = Buffer.concat([wire.subarray(0, pos), g.bytes, wire.subarray(pos)]);
  }
  if (truncate >= 0 && wire.length > 0) wire = wire.subarray(0, truncate % wire.length);
  const at = [...new Set(c.cuts.map((x) => x % (wire.length + 1)))].sort((a, b) => a - b);
  /** @type {Buffer[]} */
  const pieces = [];
  let start = 0;
  for (const p of [...at, wire.length]) {
    if (p > start) pieces.push(wire.subarray(start, p));
    start = Math.max(start, p);
  }
  return { pieces, pdus: list.length };
}

/**
 * @param {Buffer} data
 * @param {string} how
 * @param {Buffer} bytes
 */
function damageText(data, how, bytes) {
  switch (how) {
    case 'noNul':
      return data.length > 0 && data[data.length - 1] === 0 ? data.subarray(0, data.length - 1) : Buffer.concat([data, Buffer.from('X=1')]);
    case 'noEq':
      return Buffer.concat([data, Buffer.from('NoEqualsSign\0')]);
    case 'longValue':
      return Buffer.concat([data, Buffer.from(`MaxBurstLength=${'9'.repeat(9000)}\0`)]);
    case 'longKey':
      return Buffer.concat([data, Buffer.from(`${'K'.repeat(200)}=1\0`)]);
    case 'dupKey':
      return Buffer.concat([data, data]);
    case 'nulOnly':
      return Buffer.alloc(Math.max(1, bytes.length));
    default:
      return Buffer.concat([data, bytes]);
  }
}
