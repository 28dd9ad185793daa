import { describe, expect, it } from 'vitest';
import { Harness } from './helpers/harness.js';
import { expectCheck, expectGood } from './helpers/expect.js';

/** Commands deliberately not offered (docs/decisions.md, "Not offered on a non-removable disk"). */
const NOT_OFFERED: readonly [string, Buffer][] = [
  // SBC-3 SANITIZE (OVERWRITE service action).
  ['SANITIZE', Buffer.from([0x48, 0x01, 0, 0, 0, 0, 0, 0, 0, 0])],
  // SPC-4 PREVENT ALLOW MEDIUM REMOVAL, PREVENT = 01b: the medium is not removable.
  ['PREVENT ALLOW MEDIUM REMOVAL', Buffer.from([0x1e, 0, 0, 0, 0x01, 0])],
  // SPC-4 LOG SELECT with PCR = 1: no log parameter is resettable.
  ['LOG SELECT', Buffer.from([0x4c, 0x02, 0, 0, 0, 0, 0, 0, 0, 0])],
];

describe('commands not offered', () => {
  for (const [name, cdb] of NOT_OFFERED) {
    it(`${name} is INVALID COMMAND OPERATION CODE (field pointer at byte 0) and reported as not supported`, async () => {
      const h = new Harness();
      await h.clearUa();
      expectCheck(await h.exec(cdb), 0x05, 0x20, 0x00, { field: 0 });
      expect(h.lun.submitted.length).toBe(0);
      // REPORT SUPPORTED OPERATION CODES, one command (001b): SUPPORT = 001b.
      const rsoc = Buffer.from([0xa3, 0x0c, 0x01, cdb[0]!, 0, 0, 0, 0, 0x01, 0x00, 0, 0]);
      const r = await h.exec(rsoc);
      expectGood(r);
      expect([...r.data]).toEqual([0, 0x01, 0, 0]);
    });
  }
});
