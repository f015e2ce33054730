import { describeError, TokenkeeperError } from '../core/errors.ts';
import type { ConnectionSummary, ReplacedConnection } from '../core/types.ts';
import type { FlowHost, SaveConsent } from './host.ts';
import { buildAuthorizationRequest, parseAuthorizationResponse } from '../oauth/authorize.ts';
import { startCallbackServer } from '../oauth/callback-server.ts';
import { exchangeCode } from '../oauth/code-exchange.ts';
import { isLoopbackHost } from '../core/url-policy.ts';

export interface ConnectOptions {
  provider: string;
  name: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  /** Must match a redirect URI registered with the provider's app. Port 0 (loopback only): any free port. */
  redirectUri: string;
  timeoutMs: number;
  /**
   * Shows the authorization URL to the user (print, open a browser, or — in the demo — follow it), with the
   * redirect URI really used (port 0 replaced by the port the callback server got).
   */
  presentAuthorizationUrl: (url: string, request: { redirectUri: string }) => Promise<void>;
  /** When set, no callback server is started: the user pastes the URL the browser was redirected to. */
  readPastedRedirect?: () => Promise<string>;
  signal?: AbortSignal;
  /** Let a reconnect switch the connection to another provider account (default: refused, nothing changed). */
  allowAccountChange?: boolean;
}

type AuthorizationRequest = ReturnType<typeof buildAuthorizationRequest>;

/**
 * Authorization code + PKCE + state: show the consent URL, receive the redirect on a one-shot loopback server
 * (or as a pasted URL on headless machines), exchange the code, and save the connection. Connecting an existing
 * name re-authorises it in place. The browser that delivered the redirect is answered only once the tokens are
 * saved (or with the error the caller sees).
 */
export function connectAccount(keeper: FlowHost, options: ConnectOptions): Promise<ConnectionSummary> {
  return authorizeAndSave(
    keeper,
    options,
    (input) => keeper.reconnect(input, { allowAccountChange: options.allowAccountChange }),
    (summary) => summary,
  );
}

/**
 * `connectAccount` for `connect --replace`: the consent runs at the new provider, and only once its tokens are
 * in hand does the existing connection `options.name` move to them (the old grant is then revoked). A consent
 * that fails changes nothing.
 */
export function replaceAccount(
  keeper: FlowHost,
  options: Omit<ConnectOptions, 'allowAccountChange'>,
): Promise<ReplacedConnection> {
  return authorizeAndSave(
    keeper,
    options,
    (input) => keeper.replace(input),
    (replaced) => replaced.summary,
  );
}

async function authorizeAndSave<Saved>(
  keeper: FlowHost,
  options: Omit<ConnectOptions, 'allowAccountChange'>,
  saveConsent: SaveConsent<Saved>,
  summaryOf: (saved: Saved) => ConnectionSummary,
): Promise<Saved> {
  const provider = keeper.providers.get(options.provider);
  const redirect = new URL(options.redirectUri);
  const authorize = (redirectUri: string) =>
    buildAuthorizationRequest({ provider, clientId: options.clientId, redirectUri, scopes: options.scopes });

  const save = async (redirected: URL, request: AuthorizationRequest) => {
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
      expiry: keeper.expiryPolicy(provider.id),
      now: keeper.now(),
    });
    return saveConsent({
      name: options.name,
      provider: provider.id,
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      tokens,
    });
  };

  if (options.readPastedRedirect) {
    if (redirect.port === '0') {
      throw new TokenkeeperError(
        'usage',
        'pasting needs a redirect URI with a fixed port (the one registered with the app), not port 0: pass --port or --redirect-uri',
      );
    }
    const request = authorize(options.redirectUri);
    await options.presentAuthorizationUrl(request.url, { redirectUri: request.redirectUri });
    const pasted = (await options.readPastedRedirect()).trim();
    let redirected: URL;
    try {
      redirected = new URL(pasted);
    } catch {
      throw new TokenkeeperError(
        'usage',
        'the pasted text is not a URL: paste the full address the browser was sent to',
      );
    }
    return save(redirected, request);
  }

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
    const request = authorize(redirect.toString());
    const waiting = server.waitForRedirect(options.timeoutMs, options.signal);
    // The presenter may itself be the browser (demo, tests) and wait for the callback page, which is answered
    // only after the save: so the redirect is awaited alongside it, not after it.
    const presented = Promise.resolve().then(() =>
      options.presentAuthorizationUrl(request.url, { redirectUri: request.redirectUri }),
    );
    waiting.catch(() => undefined);
    presented.catch(() => undefined);
    const redirected = await Promise.race([waiting, presented.then(() => waiting)]);
    try {
      const saved = await save(redirected, request);
      const summary = summaryOf(saved);
      server.answer({
        ok: true,
        text: `tokenkeeper saved the connection "${summary.name}" to ${provider.displayName}${summary.account ? ` (account ${summary.account})` : ''}.`,
      });
      return saved;
    } catch (error) {
      server.answer({ ok: false, error: describeError(error) });
      throw error;
    }
  } finally {
    await server.close();
  }
}
