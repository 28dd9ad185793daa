/**
 * Operator-facing text of a system error, said once.
 *
 * What it does: `sysErrorText(err, ...already)` turns Node's
 * `listen EADDRINUSE: address already in use 127.0.0.1:3260` into
 * `address already in use (EADDRINUSE)`, and `ENOENT: no such file or
 * directory, open '/x'` into `no such file or directory (ENOENT)`, when the
 * caller's message already
 * names the operation and the address or path (passed in `already`), so
 * messages do not repeat them. Errors that are not system errors (no errno
 * `code` or no `syscall`) come back as their message unchanged.
 *
 * What it does not do: no translation of errno values Node does not
 * describe, no logging.
 */
export function sysErrorText(err: unknown, ...already: string[]): string {
  if (!(err instanceof Error)) return String(err);
  const { code, syscall } = err as Error & { code?: unknown; syscall?: unknown };
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code) || typeof syscall !== 'string') return err.message;
  // fs errors: "ENOENT: no such file or directory, open '/x'".
  const fsForm = `${code}: `;
  if (err.message.startsWith(fsForm)) {
    const m = /^(.*), \w+ '(.*)'$/.exec(err.message.slice(fsForm.length));
    if (m !== null && already.includes(m[2]!)) return `${m[1]!} (${code})`;
    return err.message;
  }
  const prefix = `${syscall} ${code}: `;
  if (!err.message.startsWith(prefix)) return err.message;
  let text = err.message.slice(prefix.length);
  for (const a of already) {
    for (const form of [` ${a}`, `, ${syscall} '${a}'`, ` '${a}'`]) {
      if (a !== '' && text.endsWith(form)) text = text.slice(0, -form.length);
    }
  }
  return `${text} (${code})`;
}
