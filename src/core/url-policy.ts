import { isIP } from 'node:net';
import { TokenkeeperError } from './errors.ts';

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

/** Endpoints must be https; plain http is allowed only for loopback (local fakes, the demo, tests). */
export function checkEndpointUrl(value: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TokenkeeperError('config', `${what} "${value}" is not a valid URL`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return url;
  throw new TokenkeeperError(
    'config',
    `${what} ${url.origin} must use https (plain http is allowed only for 127.0.0.1, ::1 and localhost)`,
  );
}
