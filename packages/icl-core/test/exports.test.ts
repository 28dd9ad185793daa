/** Both doors of icl-core load and expose the names other packages import. */
import { describe, expect, it } from 'vitest';
import * as consumer from '@iscsi-target/icl-core';
import * as kpi from '@iscsi-target/icl-core/kpi';

describe('package doors', () => {
  it('consumer door exports the registry, decoder, text and errors', () => {
    for (const name of ['IclRegistry', 'defaultRegistry', 'iclNewConn', 'iclLimits', 'findDriver', 'decodeBhs',
      'parseTextKeys', 'encodeTextKeys', 'TextReassembler', 'splitTextResponse', 'IclError', 'Pdu', 'CopyCounters']) {
      expect(consumer, name).toHaveProperty(name);
    }
  });
  it('kpi door exports codec, digests and registration', () => {
    for (const name of ['IclConnBase', 'registerDriver', 'unregisterDriver', 'validateLimits', 'serializePdu',
      'serializedLength', 'PduParser', 'crc32c', 'crc32cChunks', 'digestToBuffer', 'IclDigestError', 'Pdu']) {
      expect(kpi, name).toHaveProperty(name);
    }
  });
});
