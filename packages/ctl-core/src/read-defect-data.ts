/**
 * READ DEFECT DATA(10) and READ DEFECT DATA(12) (SBC-3 §5.12, §5.13; FreeBSD
 * `ctl_read_defect`): an emulated logical unit has no physical medium and so
 * no primary or grown defects. The answer is the parameter header alone: the
 * requested PLIST/GLIST and DEFECT LIST FORMAT echoed back (PLISTV/GLISTV =
 * the list is valid, and empty), DEFECT LIST LENGTH 0.
 *
 * Does NOT keep any defect list; the ADDRESS DESCRIPTOR INDEX of (12) has
 * nothing to index, so any value gives the same empty list.
 */
import type { CommandHost } from './command.js';
import type { IoState } from './io-state.js';
import { ScsiOpcode } from './scsi-proto.js';

/** READ DEFECT DATA(10/12) (SBC-3 §5.12, §5.13). */
export function readDefectData(state: IoState, host: CommandHost): void {
  const cdb = state.io.cdb;
  if (cdb[0] === ScsiOpcode.ReadDefectData10) {
    // SBC-3 §5.12.2: 4-byte header; byte 1 = PLISTV GLISTV DEFECT LIST FORMAT.
    const data = Buffer.alloc(4);
    data[1] = (cdb[2] ?? 0) & 0x1f;
    return host.sendData(state, data, cdb.readUInt16BE(7));
  }
  // SBC-3 §5.13.2: 8-byte header; GENERATION CODE 0 (defect list never changes).
  const data = Buffer.alloc(8);
  data[1] = (cdb[1] ?? 0) & 0x1f;
  host.sendData(state, data, cdb.readUInt32BE(6));
}
