import type { Command } from 'commander';
import { TokenkeeperError } from '../../core/errors.ts';
import { redactSecrets } from '../../core/redact.ts';
import { checkEndpointUrl } from '../../core/url-policy.ts';
import type { ProviderDefinition } from '../../providers/types.ts';
import { commandAction, withKeeper } from '../context.ts';
import type { CliIo } from '../io.ts';
import { secondsOption, withDefault } from '../option-values.ts';

export interface FetchOptions {
  name: string;
  /** A path under the provider's API base URL, or a full https URL. */
  path: string;
  method: string;
  /** Extra request headers, lower-case names. */
  headers: Record<string, string>;
  data?: string;
  /** Print all response headers. */
  include: boolean;
  timeoutSeconds: number;
  /** Other hosts the token may go to. */
  allowHosts: string[];
}

interface FetchFlags {
  method?: string;
  header?: string[];
  data?: string;
  include?: boolean;
  timeout?: string;
  allowHost?: string[];
}

interface ProviderAnswer {
  response: Response;
  text: string;
}

const RATE_LIMIT_HEADER = /rate-?limit|^retry-after$/i;

export const fetchDefaults = { method: 'GET', timeoutSeconds: 30 } as const;

export function fetchOptions(name: string, path: string, flags: FetchFlags): FetchOptions {
  return {
    name,
    path,
    method: (flags.method ?? fetchDefaults.method).toUpperCase(),
    headers: parseHeaders(flags.header ?? []),
    ...(flags.data !== undefined && { data: flags.data }),
    include: flags.include ?? false,
    timeoutSeconds:
      flags.timeout === undefined
        ? fetchDefaults.timeoutSeconds
        : secondsOption(flags.timeout, '--timeout', { positive: true }),
    allowHosts: flags.allowHost ?? [],
  };
}

export async function runFetch(options: FetchOptions, io: CliIo): Promise<void> {
  const { name } = options;
  await withKeeper(io, async (keeper, { logger }) => {
    const summary = await keeper.get(name);
    if (!summary) {
      throw new TokenkeeperError(
        'not_found',
        `no connection named "${name}": see \`tokenkeeper status\` for the names`,
      );
    }
    const url = resolveUrl(keeper.providers.get(summary.provider), options.path, options.allowHosts);
    const call = async (): Promise<ProviderAnswer & { token: string }> => {
      const token = await keeper.accessToken(name);
      const answer = await send(url, token, options);
      return { ...answer, token };
    };
    let answer = await call();
    if (isExpiredTokenAnswer(answer, keeper.providers.get(summary.provider))) {
      logger.warn(
        { connection: name },
        'the provider says the access token expired; refreshing and retrying once',
      );
      await keeper.refresh(name, { force: true });
      answer = await call();
    }
    const stored = await keeper.store.get(name);
    const secrets = [answer.token, stored?.tokens.refreshToken, stored?.clientSecret];
    report(answer, url, options.include, secrets, io);
    if (!answer.response.ok) {
      throw new TokenkeeperError(
        'provider_rejected',
        `${url.origin} answered ${answer.response.status} ${answer.response.statusText}`.trim(),
      );
    }
  });
}

export function registerFetch(program: Command): void {
  program
    .command('fetch')
    .description(
      "call the provider's API with the connection's access token, e.g. `tokenkeeper fetch me /1/user/-/profile.json`: checks a connection end to end",
    )
    .argument('<name>', 'connection name')
    .argument(
      '<path>',
      "path under the provider's API base URL (providers.<id>.apiBaseUrl), or a full https URL",
    )
    .option('-X, --method <method>', withDefault('HTTP method', fetchDefaults.method))
    .option('-H, --header <header...>', 'extra request header(s), "Name: value"')
    .option('--data <body>', 'request body (sent as is)')
    .option('-i, --include', 'print all response headers (to stderr)')
    .option('--timeout <seconds>', withDefault('give up after this long', fetchDefaults.timeoutSeconds))
    .option(
      '--allow-host <host...>',
      "also send the token to these hosts (host or host:port); by default only to the provider's API host",
    )
    .action(commandAction(fetchOptions, runFetch));
}

function resolveUrl(provider: ProviderDefinition, path: string, allowHosts: string[]): URL {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    const url = checkEndpointUrl(path, 'the URL');
    assertTokenMayGo(url, provider, allowHosts);
    return url;
  }
  if (!provider.apiBaseUrl) {
    throw new TokenkeeperError(
      'usage',
      `provider "${provider.id}" has no API base URL: set providers.${provider.id}.apiBaseUrl in the config, or pass a full https URL`,
    );
  }
  const base = provider.apiBaseUrl.replace(/\/+$/, '');
  return new URL(`${base}${path.startsWith('/') ? path : `/${path}`}`);
}

/**
 * The access token was issued for the provider's API: it goes to the API base URL's host, or to a host the user
 * named with --allow-host, and nowhere else (a mistyped or pasted URL must not hand the token to a stranger).
 */
function assertTokenMayGo(url: URL, provider: ProviderDefinition, allowHosts: string[]): void {
  const apiHost = provider.apiBaseUrl ? new URL(provider.apiBaseUrl).host : undefined;
  const allowed = (entry: string) => {
    const wanted = entry.trim().toLowerCase();
    return wanted.includes(':') && !wanted.startsWith('[')
      ? wanted === url.host
      : wanted === url.hostname || wanted === url.host;
  };
  if (url.host === apiHost || allowHosts.some(allowed)) return;
  throw new TokenkeeperError(
    'usage',
    `refusing to send the ${provider.id} access token to ${url.host}: it is not the provider's API host (${
      apiHost ?? `none configured; set providers.${provider.id}.apiBaseUrl`
    }); pass --allow-host ${url.host} if you really mean it`,
  );
}

function parseHeaders(values: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const value of values) {
    const colon = value.indexOf(':');
    if (colon <= 0)
      throw new TokenkeeperError('usage', `--header must look like "Name: value", got "${value}"`);
    const key = value.slice(0, colon).trim().toLowerCase();
    if (key === 'authorization') {
      throw new TokenkeeperError(
        'usage',
        "--header authorization is set by tokenkeeper from the connection's token",
      );
    }
    headers[key] = value.slice(colon + 1).trim();
  }
  return headers;
}

async function send(url: URL, token: string, options: FetchOptions): Promise<ProviderAnswer> {
  const timeoutMs = options.timeoutSeconds * 1000;
  let response: Response;
  try {
    response = await fetch(url, {
      method: options.method,
      // Never follow a redirect with the token attached.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/json', ...options.headers, authorization: `Bearer ${token}` },
      body: options.data,
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
    throw new TokenkeeperError(
      timedOut ? 'timeout' : 'provider_unavailable',
      timedOut
        ? `${url.origin} did not answer within ${timeoutMs / 1000} s`
        : `cannot reach ${url.origin}${cause ? ` (${cause})` : ''}`,
    );
  }
  return { response, text: await response.text() };
}

/** A 401 whose body or WWW-Authenticate says the token expired or is invalid (Fitbit: errorType expired_token). */
function isExpiredTokenAnswer(answer: ProviderAnswer, provider: ProviderDefinition): boolean {
  if (answer.response.status !== 401) return false;
  if (/error="?(invalid_token|expired_token)/i.test(answer.response.headers.get('www-authenticate') ?? ''))
    return true;
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return false;
  }
  const code =
    provider.parseError?.(body)?.code ??
    (typeof body === 'object' && body !== null && 'error' in body ? String(body.error) : undefined);
  return code === 'expired_token' || code === 'invalid_token';
}

function report(
  answer: ProviderAnswer,
  url: URL,
  include: boolean,
  secrets: Array<string | undefined>,
  io: CliIo,
): void {
  const { response } = answer;
  const lines = [`${response.status} ${response.statusText} ${url.origin}${url.pathname}`.trim()];
  const limits: string[] = [];
  response.headers.forEach((value, key) => {
    if (include) lines.push(`${key}: ${value}`);
    else if (RATE_LIMIT_HEADER.test(key)) limits.push(`${key}: ${value}`);
  });
  if (limits.length > 0) lines.push('rate limit:', ...limits.map((line) => `  ${line}`));
  else if (!include) lines.push('rate limit: (no rate-limit headers)');
  io.stderr.write(`${redactSecrets(lines.join('\n'), secrets)}\n`);
  let body = answer.text;
  if (/json/i.test(response.headers.get('content-type') ?? '')) {
    try {
      body = JSON.stringify(JSON.parse(body), null, 2);
    } catch {
      // Not JSON after all: print it as it came.
    }
  }
  if (body) io.stdout.write(`${redactSecrets(body, secrets)}${body.endsWith('\n') ? '' : '\n'}`);
}
