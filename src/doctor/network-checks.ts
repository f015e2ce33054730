import { lookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, createServer, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describeError, exitCodes } from '../core/errors.ts';
import { parseListen, urlOf, type ListenAddress } from '../server/listen.ts';
import { fail, ok, withDeadline, type CheckResult } from './check.ts';

/**
 * DNS, then a TCP connection (and for https a TLS handshake with certificate and host name verified) to the
 * token endpoint. No HTTP request is sent: nothing about the user or the client reaches the provider.
 */
export async function checkEndpointReachable(
  id: string,
  title: string,
  endpoint: string,
  timeoutMs: number,
): Promise<CheckResult> {
  const url = new URL(endpoint);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const secure = url.protocol === 'https:';
  const port = Number(url.port) || (secure ? 443 : 80);
  const unreachable = (message: string, fix: string) =>
    fail(id, title, `${url.host}: ${message}`, fix, exitCodes.providerUnavailable);
  let address = host;
  if (!isIP(host)) {
    try {
      address = (await withDeadline(lookup(host), timeoutMs, `DNS lookup of ${host}`)).address;
    } catch (error) {
      return unreachable(
        `DNS lookup failed (${describeError(error)})`,
        'check the network and DNS, or the tokenUrl in the config',
      );
    }
  }
  try {
    // An IP literal is checked against the certificate as it is; SNI carries host names only (RFC 6066).
    await connectOnce(
      address,
      port,
      secure ? { servername: isIP(host) ? undefined : host } : undefined,
      timeoutMs,
    );
  } catch (error) {
    return secure
      ? unreachable(
          `TLS connection failed (${describeError(error)})`,
          'check the network, a proxy or firewall, and the system clock (certificates)',
        )
      : unreachable(
          `TCP connection failed (${describeError(error)})`,
          'is the provider (or `tokenkeeper demo --serve`) running?',
        );
  }
  return ok(
    id,
    title,
    `${url.host}: ${isIP(host) ? '' : `DNS ${address}, `}${secure ? 'TLS certificate valid' : 'TCP connect ok'}`,
  );
}

/**
 * Opens and closes one connection; with `tls`, completes a verified TLS handshake. Past `timeoutMs` the
 * socket is destroyed, so a silent host cannot keep the process alive.
 */
function connectOnce(
  address: string,
  port: number,
  tls: { servername?: string } | undefined,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const socket = tls
      ? tlsConnect({ host: address, port, servername: tls.servername, ALPNProtocols: ['http/1.1'] }, () =>
          done(),
        )
      : netConnect({ host: address, port }, () => done());
    const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    socket.once('error', (error) => done(error));
  });
}

/**
 * Is the daemon's port free, or held by a tokenkeeper daemon (its /healthz and /openapi.json answer)?
 * Binding for a moment is the only reliable "free" test; it touches nothing on disk.
 */
export async function checkDaemonPort(
  listenSetting: string | undefined,
  defaultListen: string,
  tls: boolean,
  timeoutMs: number,
): Promise<CheckResult> {
  const id = 'daemon-port';
  const title = 'daemon port';
  let address: ListenAddress;
  try {
    address = parseListen(listenSetting ?? defaultListen, 'server.listen');
  } catch (error) {
    return fail(id, title, describeError(error), 'fix server.listen in the config', exitCodes.usage);
  }
  const where = `${address.host}:${address.port}${listenSetting ? ' (server.listen)' : ' (default)'}`;
  const bound = await tryBind(address);
  if (bound === 'free') return ok(id, title, `${where} is free for \`tokenkeeper run\``);
  if (bound !== 'EADDRINUSE') {
    return fail(
      id,
      title,
      `cannot listen on ${where}: ${bound}`,
      bound === 'EACCES'
        ? 'use a port above 1023, or run as a user allowed to bind it'
        : 'set server.listen to an address of this machine',
      exitCodes.failure,
    );
  }
  const probe = { ...address, host: wildcardToLoopback(address.host) };
  const base = urlOf(probe, tls);
  if (await isTokenkeeper(base, tls, timeoutMs)) {
    return ok(id, title, `${where} is held by a running tokenkeeper daemon (${base})`);
  }
  return fail(
    id,
    title,
    `${where} is in use by another program`,
    'stop it, or set server.listen (or run --listen) to a free port',
    exitCodes.failure,
  );
}

function wildcardToLoopback(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

function tryBind(address: ListenAddress): Promise<'free' | string> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ host: address.host, port: address.port, exclusive: true }, () =>
      server.close(() => resolve('free')),
    );
  });
}

async function isTokenkeeper(base: string, tls: boolean, timeoutMs: number): Promise<boolean> {
  try {
    const health = await getJson(`${base}/healthz`, tls, timeoutMs);
    if ((health as { status?: unknown } | undefined)?.status !== 'ok') return false;
    const openapi = await getJson(`${base}/openapi.json`, tls, timeoutMs);
    return (openapi as { info?: { title?: unknown } } | undefined)?.info?.title === 'tokenkeeper';
  } catch {
    return false;
  }
}

/**
 * GET a small JSON document from this machine. The daemon's certificate is often self-signed, and only its
 * identity is probed (nothing is sent), so the certificate is not verified here.
 */
function getJson(url: string, tls: boolean, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const request = (tls ? httpsRequest : httpRequest)(
      url,
      {
        method: 'GET',
        timeout: timeoutMs,
        rejectUnauthorized: false,
        headers: { accept: 'application/json' },
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > 1_000_000) request.destroy(new Error('response too large'));
          else chunks.push(chunk);
        });
        response.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (error) {
            reject(error as Error);
          }
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end();
  });
}
