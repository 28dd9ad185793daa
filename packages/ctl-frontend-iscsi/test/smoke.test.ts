import { expect, test } from 'vitest';
import { hello } from '@iscsi-target/icl-core';
test('resolves source', () => { expect(hello).toBe(1); });
