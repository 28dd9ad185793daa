import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { IoStatus } from '@iscsi-target/ctl-core';
import { FileBackend, nodeFileIo, type FileIo } from '../src/index.js';
import { FakeCtl, randomBytes, rng } from '@iscsi-target/ctl-core/testing';

const BS = 512;
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-block-integrity-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('data-integrity requests on a file LUN', () => {
  it('COMPARE AND WRITE reaches the file only on a match; FUA syncs it', async () => {
    const file = path.join(dir, 'lun.img');
    let syncs = 0;
    const io: FileIo = { ...nodeFileIo, fdatasync: (fd) => (syncs++, nodeFileIo.fdatasync(fd)) };
    const be = await FileBackend.open({ path: file, size: 1024 * 1024, maxIoSize: 4096, fileIo: io });
    const medium = randomBytes(rng(21), 20 * BS);
    const next = randomBytes(rng(22), 20 * BS);
    let payload = medium;
    const ctl = new FakeCtl({ payload: () => payload });
    expect((await ctl.submit(be, { op: 'write', lba: 100, blocks: 20, fua: false })).status).toBe(IoStatus.Success);

    payload = Buffer.concat([medium, next]);
    const before = syncs;
    const ok = await ctl.submit(be, { op: 'compareAndWrite', lba: 100, blocks: 20, fua: true }, 2);
    expect(ok.status).toBe(IoStatus.Success);
    expect(syncs).toBeGreaterThan(before);
    const fd = fs.openSync(file, 'r');
    const onDisk = Buffer.alloc(20 * BS);
    fs.readSync(fd, onDisk, 0, onDisk.length, 100 * BS);
    expect(onDisk.equals(next)).toBe(true);

    const wrongVerify = Buffer.from(next);
    wrongVerify[17 * BS + 9] = (wrongVerify[17 * BS + 9]! ^ 0x20) & 0xff;
    payload = Buffer.concat([wrongVerify, Buffer.alloc(20 * BS, 0xee)]);
    const bad = await ctl.submit(be, { op: 'compareAndWrite', lba: 100, blocks: 20, fua: false }, 3);
    expect(ctl.sense.get(bad)).toEqual({ senseKey: 0x0e, asc: 0x1d, ascq: 0x00, information: 17 * BS + 9 });
    fs.readSync(fd, onDisk, 0, onDisk.length, 100 * BS);
    fs.closeSync(fd);
    expect(onDisk.equals(next)).toBe(true);
    await be.shutdown();
  });

  it('ORWRITE and WRITE AND VERIFY on a file', async () => {
    const file = path.join(dir, 'lun2.img');
    const be = await FileBackend.open({ path: file, size: 1024 * 1024, maxIoSize: 4096 });
    const a = randomBytes(rng(23), 12 * BS);
    const b = randomBytes(rng(24), 12 * BS);
    let payload = a;
    const ctl = new FakeCtl({ payload: () => payload });
    expect((await ctl.submit(be, { op: 'writeVerify', lba: 0, blocks: 12, bytchk: true })).status).toBe(IoStatus.Success);
    payload = b;
    expect((await ctl.submit(be, { op: 'orWrite', lba: 0, blocks: 12, fua: false }, 2)).status).toBe(IoStatus.Success);
    const onDisk = fs.readFileSync(file).subarray(0, 12 * BS);
    for (let i = 0; i < onDisk.length; i++) expect(onDisk[i]).toBe(a[i]! | b[i]!);
    await be.shutdown();
  });
});
