// End-to-end: CHAP, mutual CHAP, initiator-name ACLs, discovery filtering and
// redirect, with libiscsi's iscsi-inq / iscsi-ls against the daemon started
// from its bin with a ctl.conf file.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2ePeer, freePort, haveCommand, run, startTarget, type TargetHandle } from '@iscsi-target/test-utils';

const IQN = 'iqn.2026-11.org.nodejs-iscsi';
const ALLOWED = `${IQN}:allowed-initiator`;
const STRANGER = `${IQN}:stranger`;

const skip = !haveCommand('iscsi-inq') || !haveCommand('iscsi-ls') || e2ePeer() !== undefined;


/**
 * The daemon's log lines arrive through a pipe and may reach the test a little after the
 * initiator has exited: polls `find` for up to 5 s and returns what it found (or undefined).
 */
async function logged<T>(find: () => T | undefined): Promise<T | undefined> {
  for (let i = 0; i < 50; i++) {
    const v = find();
    if (v !== undefined) return v;
    await new Promise((res) => setTimeout(res, 100));
  }
  return find();
}

describe.skipIf(skip)('authentication and access control (libiscsi)', () => {
  let target: TargetHandle;
  let dir: string;
  let port: number;
  let port2: number;
  let port3: number;
  const host = '127.0.0.1';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iscsi-auth-e2e-'));
    port = await freePort(host);
    port2 = await freePort(host);
    port3 = await freePort(host);
    const conf = join(dir, 'ctl.conf');
    writeFileSync(
      conf,
      `
auth-group chap-users { chap alice alicesecret12 }
auth-group mutual-users { chap-mutual bob bobsecret1234 target0 targetsecret1 }
auth-group named { auth-type none; initiator-name ${ALLOWED} }
portal-group pg0 {
  discovery-auth-group no-authentication
  discovery-filter portal-name
  listen ${host}:${port}
}
portal-group moved {
  discovery-auth-group no-authentication
  listen ${host}:${port2}
  redirect ${host}:${port}
}
portal-group strict {
  discovery-auth-group chap-users
  discovery-filter portal-name-auth
  listen ${host}:${port3}
}
target ${IQN}:chap { auth-group chap-users; portal-group pg0; portal-group strict; lun 0 { backend ramdisk; size 8M } }
target ${IQN}:mutual { auth-group mutual-users; portal-group pg0; portal-group strict; lun 0 { backend ramdisk; size 8M } }
target ${IQN}:named { auth-group named; portal-group pg0; portal-group strict; lun 0 { backend ramdisk; size 8M } }
target ${IQN}:open { auth-type none; portal-group pg0; portal-group moved; portal-group strict; lun 0 { backend ramdisk; size 8M } }
`,
    );
    target = await startTarget({ host, port, args: ['-f', conf, '--auth-failure-delay', '50'] });
  });
  afterAll(async () => {
    await target?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  const inq = (url: string, initiator = ALLOWED, env?: NodeJS.ProcessEnv) =>
    run('iscsi-inq', ['-i', initiator, url], { timeoutMs: 30_000, ...(env === undefined ? {} : { env: { ...process.env, ...env } }) });
  const ls = (url: string, initiator = ALLOWED) => run('iscsi-ls', ['-i', initiator, url], { timeoutMs: 30_000 });
  // One "Target:<name> Portal:<addr>" line per TargetAddress: the distinct names, sorted.
  const targetsIn = (out: string): string[] => [
    ...new Set(
      out
        .split('\n')
        .filter((l) => l.startsWith('Target:'))
        .map((l) => l.split(' ')[0]!.slice('Target:'.length)),
    ),
  ].sort();

  it('CHAP: iscsi-inq with user%secret logs in; the log names initiator and address', async () => {
    const r = await inq(`iscsi://alice%alicesecret12@${host}:${port}/${IQN}:chap/0`);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/^Peripheral Device Type:DIRECT_ACCESS$/m);
    const ok = await logged(() => target.logs.json().find((l) => typeof l.msg === 'string' && l.msg.includes(`logged in to ${IQN}:chap`)));
    expect(ok).toMatchObject({ initiator: ALLOWED });
    expect(String(ok!.peer)).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('CHAP: a wrong secret or no secret fails with an authentication error', async () => {
    const wrong = await inq(`iscsi://alice%wrongsecret99@${host}:${port}/${IQN}:chap/0`);
    expect(wrong.code).not.toBe(0);
    // libiscsi prints the login status: 513 = 0x0201 "Authentication failure" (RFC 7143 §11.13.5).
    expect(wrong.stdout + wrong.stderr).toMatch(/[Aa]uthentication failure|513|0x0201/);
    const none = await inq(`iscsi://${host}:${port}/${IQN}:chap/0`);
    expect(none.code).not.toBe(0);
    expect(none.stdout + none.stderr).toMatch(/[Aa]uthentication failure|513|0x0201/);
    const failures = () => target.logs.json().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('login failed:') && l.target === `${IQN}:chap`);
    await logged(() => (failures().length >= 2 ? true : undefined));
    const failed = failures();
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed[0]).toMatchObject({ initiator: ALLOWED, address: '127.0.0.1', status: 'AuthenticationFailure (0x0201)' });
    expect(target.alive()).toBe(true);
  });

  it('mutual CHAP: works with the target credentials (URL arguments or environment)', async () => {
    const url = `iscsi://bob%bobsecret1234@${host}:${port}/${IQN}:mutual/0`;
    const viaUrl = await inq(`${url}?target_user=target0&target_password=targetsecret1`);
    expect(viaUrl.code, viaUrl.stderr + viaUrl.stdout).toBe(0);
    const viaEnv = await inq(url, ALLOWED, { LIBISCSI_CHAP_TARGET_USERNAME: 'target0', LIBISCSI_CHAP_TARGET_PASSWORD: 'targetsecret1' });
    expect(viaEnv.code, viaEnv.stderr + viaEnv.stdout).toBe(0);
  });

  it('mutual CHAP: libiscsi refuses a target that answers with another secret; the target refuses a login without mutual CHAP', async () => {
    const url = `iscsi://bob%bobsecret1234@${host}:${port}/${IQN}:mutual/0`;
    const wrongTarget = await inq(`${url}?target_user=target0&target_password=notthesecret`);
    expect(wrongTarget.code).not.toBe(0);
    const noMutual = await inq(url);
    expect(noMutual.code).not.toBe(0);
    expect(noMutual.stdout + noMutual.stderr).toMatch(/[Aa]uthentication failure|513|0x0201/);
  });

  it('an initiator not in initiator-name is refused (authorization failure); an allowed one logs in', async () => {
    const refused = await inq(`iscsi://${host}:${port}/${IQN}:named/0`, STRANGER);
    expect(refused.code).not.toBe(0);
    // 514 = 0x0202 "Authorization failure".
    expect(refused.stdout + refused.stderr).toMatch(/[Aa]uthorization failure|514|0x0202/);
    const allowed = await inq(`iscsi://${host}:${port}/${IQN}:named/0`, ALLOWED);
    expect(allowed.code, allowed.stderr + allowed.stdout).toBe(0);
  });

  it('discovery-filter portal-name: a stranger does not see the target it may not log in to', async () => {
    const stranger = await ls(`iscsi://${host}:${port}`, STRANGER);
    expect(stranger.code, stranger.stderr + stranger.stdout).toBe(0);
    expect(targetsIn(stranger.stdout)).toEqual([`${IQN}:chap`, `${IQN}:mutual`, `${IQN}:open`]);
    const allowed = await ls(`iscsi://${host}:${port}`, ALLOWED);
    expect(targetsIn(allowed.stdout)).toEqual([`${IQN}:chap`, `${IQN}:mutual`, `${IQN}:named`, `${IQN}:open`]);
  });

  it('discovery-auth-group with CHAP and discovery-filter portal-name-auth', async () => {
    // Discovery itself needs CHAP here.
    const anonymous = await run('iscsi-ls', ['-i', ALLOWED, `iscsi://${host}:${port3}`], { timeoutMs: 30_000 });
    expect(anonymous.code).not.toBe(0);
    // alice's discovery credentials also open "chap" (same user and secret), not "mutual"
    // (another user); "named" and "open" need no CHAP. Listing only, so no LUN logins.
    const alice = await run('iscsi-ls', ['-i', ALLOWED, `iscsi://alice%alicesecret12@${host}:${port3}`], { timeoutMs: 30_000 });
    expect(alice.code, alice.stderr + alice.stdout).toBe(0);
    expect(targetsIn(alice.stdout)).toEqual([`${IQN}:chap`, `${IQN}:named`, `${IQN}:open`]);
    const stranger = await run('iscsi-ls', ['-i', STRANGER, `iscsi://alice%alicesecret12@${host}:${port3}`], { timeoutMs: 30_000 });
    expect(targetsIn(stranger.stdout)).toEqual([`${IQN}:chap`, `${IQN}:open`]);
  });

  it('portal-group redirect: libiscsi follows 0x0101 TargetAddress to the other portal', async () => {
    const r = await inq(`iscsi://${host}:${port2}/${IQN}:open/0`);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const redirected = await logged(() => target.logs.json().find((l) => typeof l.msg === 'string' && l.msg.startsWith('login redirected:')));
    expect(redirected).toMatchObject({ status: 'TargetMovedTemporarily (0x0101)' });
    expect(target.alive()).toBe(true);
  });
});
