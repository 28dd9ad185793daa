/**
 * Portal addresses: the `listen ADDR[:PORT]` argument of a portal group.
 *
 * What it does: splits `ADDR[:PORT]` into host and port the way ctld does
 * — `1.2.3.4`, `1.2.3.4:3261`, `[::1]`, `[::1]:3261`, a bare IPv6 address
 * without port (`::1`), or a host name — and formats a portal for a
 * `TargetAddress` key (IPv6 in brackets, RFC 7143 §13.9).
 *
 * What it does not do: no DNS; a host name is kept as written and resolved
 * by the NIC driver when it listens.
 */
import { isIP } from 'node:net';

/** The iSCSI well-known port (RFC 7143 §4.1). */
export const ISCSI_PORT = 3260;

export interface ListenAddress {
  /** Host as given, without brackets: "0.0.0.0", "::1", "storage.example". */
  readonly host: string;
  readonly port: number;
  /** 4 or 6 for literal addresses, 0 for host names. */
  readonly family: 0 | 4 | 6;
  /** True for 0.0.0.0 and :: (every local address). */
  readonly wildcard: boolean;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Parses `ADDR[:PORT]`; returns an error message instead of throwing. */
export function parseListenAddress(text: string): ListenAddress | string {
  let host: string;
  let portText: string | null = null;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) return `invalid address "${text}": missing "]"`;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return `invalid address "${text}": expected ":PORT" after "]"`;
      portText = rest.slice(1);
    }
    if (isIP(host) !== 6) return `invalid address "${text}": "${host}" is not an IPv6 address`;
  } else {
    const colons = text.split(':').length - 1;
    if (colons === 1) {
      const at = text.indexOf(':');
      host = text.slice(0, at);
      portText = text.slice(at + 1);
    } else {
      host = text;
    }
    if (colons >= 2 && isIP(host) !== 6) return `invalid address "${text}"`;
    if (colons < 2 && isIP(host) === 0 && !HOSTNAME.test(host)) return `invalid address "${text}"`;
  }
  let port = ISCSI_PORT;
  if (portText !== null) {
    // Port 0 asks the system for a free port (tests); the bound port is logged and advertised.
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
      return `invalid port "${portText}" in "${text}" (expected 0-65535)`;
    }
    port = Number(portText);
  }
  const ip = isIP(host);
  const family = ip === 4 ? 4 : ip === 6 ? 6 : 0;
  const wildcard = host === '0.0.0.0' || (family === 6 && /^[0:]+$/.test(host));
  return { host, port, family, wildcard };
}

/** `host:port` with IPv6 in brackets, for logs and `TargetAddress`. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A canonical key for duplicate detection ("[::1]:3260"). */
export function listenKey(a: ListenAddress): string {
  return formatHostPort(a.host.toLowerCase(), a.port);
}
