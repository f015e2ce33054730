import { TokenkeeperError } from '../core/errors.ts';
import type { ConnectionSummary, Keeper } from '../keeper.ts';
import { buildAuthorizationRequest, parseAuthorizationResponse } from './authorize.ts';
import { startCallbackServer } from './callback-server.ts';
import { exchangeCode } from './code-exchange.ts';
import { isLoopbackHost } from './url-policy.ts';

export interface ConnectOptions {
  provider: string;
  name: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  /** Must match a redirect URI registered with the provider's app. */
  redirectUri: string;
  timeoutMs: number;
  /** Shows the authorization URL to the user (print, open a browser, or — in the demo — follow it). */
  presentAuthorizationUrl: (url: string) => Promise<void>;
  /** When set, no callback server is started: the user pastes the URL the browser was redirected to. */
  readPastedRedirect?: () => Promise<string>;
  signal?: AbortSignal;
  /** Let a reconnect switch the connection to another provider account (default: refused, nothing changed). */
  allowAccountChange?: boolean;
}

/**
 * Authorization code + PKCE + state: show the consent URL, receive the redirect on a one-shot loopback server
 * (or as a pasted URL on headless machines), exchange the code, and save the connection. Connecting an existing
 * name re-authorises it in place.
 */
export async function connectAccount(keeper: Keeper, options: ConnectOptions): Promise<ConnectionSummary> {
  const provider = keeper.providers.get(options.provider);
  const redirect = new URL(options.redirectUri);
  const authorize = (redirectUri: string) =>
    buildAuthorizationRequest({ provider, clientId: options.clientId, redirectUri, scopes: options.scopes });

  let request: ReturnType<typeof authorize>;
  let redirected: URL;
  if (options.readPastedRedirect) {
    request = authorize(options.redirectUri);
    await options.presentAuthorizationUrl(request.url);
    const pasted = (await options.readPastedRedirect()).trim();
    try {
      redirected = new URL(pasted);
    } catch {
      throw new TokenkeeperError(
        'usage',
        'the pasted text is not a URL: paste the full address the browser was sent to',
      );
    }
  } else {
    if (redirect.protocol !== 'http:' || !isLoopbackHost(redirect.hostname)) {
      throw new TokenkeeperError(
        'usage',
        `redirect URI ${redirect.origin} is not a loopback http address, so no local callback server can receive it: use --paste`,
      );
    }
    const server = await startCallbackServer({ port: Number(redirect.port || 80), path: redirect.pathname });
    try {
      // Port 0 asks for any free port; the redirect URI then names the one the server got.
      if (redirect.port === '0') redirect.port = String(server.port);
      request = authorize(redirect.toString());
      const waiting = server.waitForRedirect(options.timeoutMs, options.signal);
      await options.presentAuthorizationUrl(request.url);
      redirected = await waiting;
    } finally {
      await server.close();
    }
  }
  const code = parseAuthorizationResponse(redirected, request.state);
  const tokens = await exchangeCode({
    provider,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    code,
    codeVerifier: request.codeVerifier,
    redirectUri: request.redirectUri,
    timeoutMs: keeper.settings.http.timeoutMs,
    maxBodyBytes: keeper.settings.http.maxBodyBytes,
    expiry: keeper.settings.expiry,
    now: keeper.now(),
  });
  return keeper.reconnect(
    {
      name: options.name,
      provider: provider.id,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      tokens,
    },
    { allowAccountChange: options.allowAccountChange },
  );
}
