// sysErrorText: a system error said once, in the operator's words.
import { describe, expect, it } from 'vitest';
import { sysErrorText } from '../src/sys-error.js';

const sysErr = (message: string, code: string, syscall: string) => Object.assign(new Error(message), { code, syscall });

describe('sysErrorText', () => {
  it('drops the syscall and the address the caller already named', () => {
    expect(sysErrorText(sysErr('listen EADDRINUSE: address already in use 127.0.0.1:3260', 'EADDRINUSE', 'listen'), '127.0.0.1:3260')).toBe('address already in use (EADDRINUSE)');
  });
  it('drops the path of an fs error the caller already named', () => {
    expect(sysErrorText(sysErr("ENOENT: no such file or directory, open '/x/a.img'", 'ENOENT', 'open'), '/x/a.img')).toBe('no such file or directory (ENOENT)');
  });
  it('keeps a path the caller did not name, and plain errors as they are', () => {
    expect(sysErrorText(sysErr("ENOENT: no such file or directory, open '/y'", 'ENOENT', 'open'), '/x')).toBe("ENOENT: no such file or directory, open '/y'");
    expect(sysErrorText(new Error('size 1P exceeds the file system'))).toBe('size 1P exceeds the file system');
    expect(sysErrorText('text')).toBe('text');
  });
});
