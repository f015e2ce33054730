import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { configDefaults } from '../config/defaults.ts';
import { TokenkeeperError } from '../core/errors.ts';

export const DEFAULT_LISTEN = configDefaults.server.listen;

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `host:port`, `[v6]:port` or a bare port (on 127.0.0.1). */
export function parseListen(value: string, what = '--listen'): ListenAddress {
  const trimmed = value.trim();
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d+)$/.exec(trimmed) ?? /^()()(\d+)$/.exec(trimmed);
  const port = Number(match?.[3]);
  const host = match?.[1] ?? (match?.[2] || '127.0.0.1');
  if (!match || !Number.isInteger(port) || port > 65535 || (match[1] !== undefined && isIP(host) !== 6)) {
    throw new TokenkeeperError(
      'usage',
      `${what} must be host:port (e.g. 127.0.0.1:8977, [::1]:8977, 0.0.0.0:8977), got "${value}"`,
    );
  }
  return { host, port };
}

export function urlOf(address: ListenAddress, tls: boolean): string {
  const host = isIP(address.host) === 6 ? `[${address.host}]` : address.host;
  return `${tls ? 'https' : 'http'}://${host}:${address.port}`;
}

/** A wildcard listen address is reached through loopback from the daemon's own machine. */
const reachableHost: Record<string, string> = { '0.0.0.0': '127.0.0.1', '::': '::1' };

/** The URL a browser on the daemon's machine opens to reach a server listening on `address`. */
export function localUrlOf(address: ListenAddress, tls: boolean): string {
  return urlOf({ host: reachableHost[address.host] ?? address.host, port: address.port }, tls);
}

/** Reads the TLS certificate and key files (PEM). */
export function readTlsFiles(paths: { cert: string; key: string }): { cert: Buffer; key: Buffer } {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new TokenkeeperError(
        'config',
        `cannot read the TLS ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  };
  return { cert: read(paths.cert, 'certificate'), key: read(paths.key, 'private key') };
}
