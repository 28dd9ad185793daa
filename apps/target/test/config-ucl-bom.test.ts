// Configuration files from other habits (issue 13 item 6): a UCL file (the
// syntax of `ctld -u`) is refused with a message that names UCL, and a
// UTF-8 byte order mark is accepted (it never shows up in a message, and
// positions on line 1 do not count it). A valid ctl.conf that merely
// contains "=" in a value is not mistaken for UCL.
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrorCode, parseConfig } from '../src/config.js';

function fail(text: string): ConfigError {
  try {
    parseConfig(text, 'ctl.conf');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

// The shape of ctl.conf(5)'s UCL example.
const UCL = `auth-group {
	ag0 {
		chap = [
			{ user = "foo"; secret = "secretsecret"; }
		]
	}
}
portal-group {
	pg0 {
		discovery-auth-group = no-authentication
		listen = [ "0.0.0.0:3260" ]
	}
}
target {
	"iqn.2012-06.com.example:target0" {
		auth-group = ag0
		portal-group = pg0
		lun = [ { number = 0; path = "/dev/zvol/tank/example_0" } ]
	}
}
`;

const PLAIN = `portal-group pg0 {
	discovery-auth-group no-authentication
	listen 127.0.0.1:3260
}
auth-group ag0 {
	chap user c2VjcmV0c2VjcmV0MTI==
}
target iqn.2012-06.com.example:target0 {
	auth-group ag0
	portal-group pg0
	lun 0 { backend ramdisk; size 1M }
}
`;

describe('config: UCL and BOM', () => {
  it('refuses a UCL file (ctld -u) with a message that names UCL, at the first section', () => {
    const e = fail(UCL);
    expect(e.code).toBe(ConfigErrorCode.Syntax);
    expect(e.message).toMatch(/^ctl\.conf:1:1: this looks like a UCL configuration \(the syntax of "ctld -u"; here "auth-group \{" without a name\), which is not supported: write it in the ctl\.conf\(5\) block syntax/);
    expect(e.message).not.toContain('needs an auth group name');
  });

  it('names UCL for "key = value" assignments too', () => {
    const e = fail('debug = 1\n');
    expect(e.message).toMatch(/^ctl\.conf:1:1: this looks like a UCL configuration .*the assignment "debug ="/);
  });

  it('a valid ctl.conf with "=" inside a value is parsed, not taken for UCL', () => {
    const c = parseConfig(PLAIN, 'ctl.conf');
    expect(c.targets).toHaveLength(1);
  });

  it('a ctl.conf mistake is reported as itself', () => {
    const e = fail('portal-group pg0 {\n  bogus 1\n}\n');
    expect(e.message).not.toMatch(/UCL/);
  });

  it('accepts a UTF-8 BOM; messages neither show it nor count it in columns', () => {
    const withBom = parseConfig(`\uFEFF${PLAIN}`, 'ctl.conf');
    expect(withBom.targets.map((t) => t.name)).toEqual(parseConfig(PLAIN, 'ctl.conf').targets.map((t) => t.name));
    const e = fail('\uFEFFbogus 1\n');
    expect(e.message).not.toContain('\uFEFF');
    expect(e.message).toMatch(/^ctl\.conf:1:1: /);
    expect(e.message).toContain('"bogus"');
  });
});
