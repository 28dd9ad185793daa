// End-to-end: INQUIRY (standard data, VPD 0x00/0x80/0x83) and READ CAPACITY
// (16) of the default LUN with libiscsi's iscsi-inq / iscsi-readcapacity16.
//
// Note: iscsi-inq parses -c/-e as decimal integers (popt), so VPD 0x80 is
// passed as "128" and 0x83 as "131"; "-c 0x80" would silently ask for page 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BLOCK_SIZE, DEFAULT_LUN_BYTES, haveCommand, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

/** "Key:value" lines of iscsi-inq / iscsi-readcapacity16 output (first occurrence wins). */
function fields(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !m.has(line.slice(0, i))) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

const printable = /^[\x20-\x7e]+$/;

describe.skipIf(!haveCommand('iscsi-inq') || !haveCommand('iscsi-readcapacity16'))('inquiry and capacity (libiscsi)', () => {
  let target: TargetHandle;
  beforeAll(async () => {
    target = await startTarget();
  });
  afterAll(async () => {
    await target?.stop();
  });

  it('standard INQUIRY: a connected direct-access device with T10 identification (SPC-4 §6.6.2)', async () => {
    const r = await run('iscsi-inq', [target.url(0)], { timeoutMs: 30_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const f = fields(r.stdout);
    expect(f.get('Peripheral Qualifier')).toBe('CONNECTED');
    expect(f.get('Peripheral Device Type')).toBe('DIRECT_ACCESS');
    expect(f.get('Removable')).toBe('0');
    // Command queuing is how iSCSI carries tagged commands (SAM-5 / RFC 7143 §4.2.3).
    expect(f.get('CmdQue')).toBe('1');
    const vendor = f.get('Vendor') ?? '';
    const product = f.get('Product') ?? '';
    const revision = f.get('Revision') ?? '';
    // T10 VENDOR IDENTIFICATION 8 bytes, PRODUCT 16, REVISION 4: printable ASCII, left-aligned.
    expect(vendor.trim()).toMatch(printable);
    expect(vendor.length).toBeLessThanOrEqual(8);
    expect(product.trim()).toMatch(printable);
    expect(product.length).toBeLessThanOrEqual(16);
    expect(revision.trim()).toMatch(printable);
    expect(revision.length).toBeLessThanOrEqual(4);
  });

  it('VPD 0x00 lists at least pages 0x00, 0x80 and 0x83 (SPC-4 §7.8.16)', async () => {
    const r = await run('iscsi-inq', ['-e', '1', '-c', '0', target.url(0)], { timeoutMs: 30_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^Page:0x00 SUPPORTED_VPD_PAGES$/m);
    expect(r.stdout).toMatch(/^Page:0x80 UNIT_SERIAL_NUMBER$/m);
    expect(r.stdout).toMatch(/^Page:0x83 DEVICE_IDENTIFICATION$/m);
  });

  it('VPD 0x80 returns a non-empty printable unit serial number (SPC-4 §7.8.18)', async () => {
    const r = await run('iscsi-inq', ['-e', '1', '-c', '128', target.url(0)], { timeoutMs: 30_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const m = /^Unit Serial Number:\[(.*)\]$/m.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect((m?.[1] ?? '').trim()).toMatch(printable);
    // Stable across logins: a second session sees the same serial.
    const again = await run('iscsi-inq', ['-e', '1', '-c', '128', target.url(0)], { timeoutMs: 30_000 });
    expect(again.stdout).toBe(r.stdout);
  });

  it('VPD 0x83 identifies the logical unit with an NAA designator (SPC-4 §7.8.6)', async () => {
    const r = await run('iscsi-inq', ['-e', '1', '-c', '131', target.url(0)], { timeoutMs: 30_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^Page Code:\(0x83\) DEVICE_IDENTIFICATION$/m);
    // Split into designators and look for one with LU association and NAA type.
    const designators = r.stdout.split(/^DEVICE DESIGNATOR #\d+$/m).slice(1);
    expect(designators.length).toBeGreaterThan(0);
    const luNaa = designators.filter((d) => /Association:\(0\) LOGICAL_UNIT/.test(d) && /Designator Type:\(3\) NAA/.test(d));
    expect(luNaa.length, r.stdout).toBeGreaterThan(0);
  });

  it('READ CAPACITY (16): 1 GiB of 512-byte blocks (SBC-3 §5.16)', async () => {
    const r = await run('iscsi-readcapacity16', [target.url(0)], { timeoutMs: 30_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const f = fields(r.stdout);
    expect(Number(f.get('RETURNED LOGICAL BLOCK ADDRESS'))).toBe(DEFAULT_LUN_BYTES / DEFAULT_BLOCK_SIZE - 1);
    expect(Number(f.get('LOGICAL BLOCK LENGTH IN BYTES'))).toBe(DEFAULT_BLOCK_SIZE);
    expect(Number(f.get('Total size'))).toBe(DEFAULT_LUN_BYTES);
    const size = await run('iscsi-readcapacity16', ['-s', target.url(0)], { timeoutMs: 30_000 });
    expect(size.stdout.trim()).toBe(String(DEFAULT_LUN_BYTES));
  });
});
