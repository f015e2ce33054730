import type { IncomingMessage, ServerResponse } from 'node:http';
import { admitTokenRequest, answerTokenRequest, FaultQueue } from './faults.ts';
import { GoogleGrants } from './google-grants.ts';
import type { GoogleGrantResult } from './google-grants.ts';
import { bearerToken, consentingUser, parseBasicAuth, readForm, send, startHttpServer } from './http.ts';
import type { Reply } from './http.ts';
import { createStats, recordRequest } from './stats.ts';
import { randomChars, safeEqual } from './tokens.ts';
import { replyWithRefreshTokenExpiry } from './refresh-token-expiry.ts';
import type { RequestRecord, SimulatedProvider, SimulatorBaseOptions } from './types.ts';

const DEFAULT_SEED_SCOPE = 'https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly';
const SIX_MONTHS_MS = 183 * 24 * 3_600_000;

export interface GoogleSimulatorOptions extends SimulatorBaseOptions {
  accessTokenLifetimeSeconds?: number;
  /** Simulates an app in "Testing" status: refresh tokens die this long after issue (Google: 7 days). */
  testingAppRefreshTokenLifetimeMs?: number;
  /** Refresh tokens unused this long stop working (Google: 6 months). */
  unusedRefreshTokenLifetimeMs?: number;
  maxRefreshTokensPerUser?: number;
}

export interface SimulatedGoogle extends SimulatedProvider {
  readonly provider: 'google';
}

export async function startSimulatedGoogle(options: GoogleSimulatorOptions = {}): Promise<SimulatedGoogle> {
  const now = options.now ?? Date.now;
  const clientId = options.clientId ?? 'demo-client.apps.googleusercontent.com';
  const clientSecret = options.clientSecret ?? 'demo-secret';
  const defaultUserId = options.userId ?? `1${randomChars('0123456789', 20)}`;
  const latency = options.latencyMs ?? 0;

  const stats = createStats();
  const faults = new FaultQueue();
  const grants = new GoogleGrants({
    now,
    accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds ?? 3600,
    testingAppRefreshTokenLifetimeMs: options.testingAppRefreshTokenLifetimeMs,
    unusedRefreshTokenLifetimeMs: options.unusedRefreshTokenLifetimeMs ?? SIX_MONTHS_MS,
    maxRefreshTokensPerUser: options.maxRefreshTokensPerUser ?? 100,
  });

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const record = recordRequest(stats, { method: req.method ?? 'GET', path: url.pathname, at: now() });
    res.once('finish', () => (record.status = res.statusCode));
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /o/oauth2/v2/auth':
        return send(res, authorize(url.searchParams));
      case 'POST /token':
        return token(req, res, url, record);
      case 'POST /revoke':
        return revoke(req, res, url);
      case 'GET /oauth2/v3/userinfo':
        return send(res, userinfo(req));
      default:
        return send(res, { status: 404, body: { error: 'not_found', error_description: 'Not Found' } });
    }
  }

  function authorize(query: URLSearchParams): Reply {
    if (query.get('client_id') !== clientId)
      return oauthError(401, 'invalid_client', 'The OAuth client was not found.');
    const redirectUri = query.get('redirect_uri');
    if (!redirectUri || !/^https?:$/.test(URL.parse(redirectUri)?.protocol ?? '')) {
      return oauthError(400, 'redirect_uri_mismatch', 'Invalid redirect_uri.');
    }
    if (query.get('response_type') !== 'code') {
      return oauthError(400, 'unsupported_response_type', 'Only response_type=code is supported.');
    }
    const scope = query.get('scope')?.trim();
    if (!scope) return oauthError(400, 'invalid_request', 'Missing required parameter: scope');
    const codeChallenge = query.get('code_challenge') ?? undefined;
    const challengeMethod = query.get('code_challenge_method') ?? 'plain';
    if (challengeMethod !== 'S256' && challengeMethod !== 'plain') {
      return oauthError(400, 'invalid_request', 'Invalid code_challenge_method.');
    }
    const code = grants.issueCode({
      userId: consentingUser(query, defaultUserId),
      scope: scope.split(/\s+/).join(' '),
      redirectUri,
      challengeMethod,
      offline: query.get('access_type') === 'offline',
      forceConsent: (query.get('prompt') ?? '').split(' ').includes('consent'),
      ...(codeChallenge === undefined ? {} : { codeChallenge }),
    });
    const location = new URL(redirectUri);
    const state = query.get('state');
    if (state !== null) location.searchParams.set('state', state);
    location.searchParams.set('code', code);
    location.searchParams.set('scope', scope);
    return { status: 302, headers: { location: location.href } };
  }

  async function token(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    record: RequestRecord,
  ): Promise<void> {
    stats.tokenRequests++;
    const form = await readForm(req, url, { allowQuery: false });
    if (!form.ok) return send(res, oauthError(form.status, 'invalid_request', form.description));
    const fault = admitTokenRequest(form.params, record, stats, faults);
    await answerTokenRequest(
      {
        req,
        res,
        fault,
        latencyMs: typeof latency === 'function' ? latency() : latency,
        wait: (ms) => server.wait(ms),
        errorBody: googleFaultBody,
      },
      () => replyWithRefreshTokenExpiry(processToken(req, form.params), options.refreshTokenExpiresInSeconds),
    );
  }

  function processToken(req: IncomingMessage, params: URLSearchParams): Reply {
    const authError = clientAuthError(req, params);
    if (authError) return authError;
    switch (params.get('grant_type')) {
      case 'authorization_code': {
        const code = params.get('code');
        if (!code) return oauthError(400, 'invalid_request', 'Missing required parameter: code');
        return grantReply(
          'code',
          grants.exchangeCode(code, params.get('redirect_uri'), params.get('code_verifier')),
        );
      }
      case 'refresh_token': {
        const refreshToken = params.get('refresh_token');
        if (!refreshToken)
          return oauthError(400, 'invalid_request', 'Missing required parameter: refresh_token');
        return grantReply('refresh', grants.refresh(refreshToken));
      }
      case null:
        return oauthError(400, 'unsupported_grant_type', 'Missing required parameter: grant_type');
      default:
        return oauthError(400, 'unsupported_grant_type', `Invalid grant_type: ${params.get('grant_type')}`);
    }
  }

  function grantReply(grant: 'code' | 'refresh', result: GoogleGrantResult): Reply {
    if (!result.ok) {
      if (result.error === 'invalid_grant') stats.invalidGrant++;
      return oauthError(result.status, result.error, result.description);
    }
    if (grant === 'code') stats.codeExchanges++;
    else stats.refreshSuccesses++;
    return { status: 200, body: result.response };
  }

  /** Google accepts the client credentials either in a Basic header or in the form body. */
  function clientAuthError(req: IncomingMessage, params: URLSearchParams): Reply | undefined {
    const basic = parseBasicAuth(req.headers.authorization);
    if (basic === 'malformed') return oauthError(401, 'invalid_client', 'Unauthorized');
    const id = basic ? basic.id : params.get('client_id');
    const secret = basic ? basic.secret : params.get('client_secret');
    if (id !== clientId) return oauthError(401, 'invalid_client', 'The OAuth client was not found.');
    if (secret === null || !safeEqual(secret, clientSecret))
      return oauthError(401, 'invalid_client', 'Unauthorized');
    return undefined;
  }

  /** Google's revoke needs no client auth and, unlike RFC 7009, answers 400 for unknown tokens. */
  async function revoke(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const form = await readForm(req, url, { allowQuery: true });
    if (!form.ok) return send(res, oauthError(form.status, 'invalid_request', form.description));
    const value = form.params.get('token');
    if (!value) return send(res, oauthError(400, 'invalid_request', 'Missing required parameter: token'));
    if (!grants.revoke(value)) return send(res, oauthError(400, 'invalid_token', 'Token expired or revoked'));
    stats.revocations++;
    send(res, { status: 200, body: {} });
  }

  function userinfo(req: IncomingMessage): Reply {
    stats.apiRequests++;
    const accessToken = bearerToken(req.headers.authorization);
    const grant = accessToken ? grants.checkAccess(accessToken) : undefined;
    if (!grant) {
      return {
        ...oauthError(401, 'invalid_request', 'Invalid Credentials'),
        headers: { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
      };
    }
    return { status: 200, body: { sub: grant.userId, name: 'Demo User' } };
  }

  const server = await startHttpServer(handle, { host: options.host, port: options.port });
  const url = server.url;
  return {
    provider: 'google',
    url,
    authorizeUrl: `${url}/o/oauth2/v2/auth`,
    tokenUrl: `${url}/token`,
    revokeUrl: `${url}/revoke`,
    apiUrl: url,
    profileUrl: `${url}/oauth2/v3/userinfo`,
    clientId,
    clientSecret,
    stats,
    seedGrant(seed = {}) {
      const userId = seed.userId ?? defaultUserId;
      const response = grants.seed(userId, seed.scope ?? DEFAULT_SEED_SCOPE);
      return {
        accessToken: response.access_token,
        refreshToken: response.refresh_token,
        userId,
        expiresIn: response.expires_in,
        scope: response.scope,
      };
    },
    activeRefreshToken: (userId) => grants.activeRefreshToken(userId),
    inject: (fault, times) => faults.push(fault, times),
    clearFaults: () => faults.clear(),
    close: () => server.close(),
  };
}

/** RFC 6749 §5.2 error reply. */
function oauthError(status: number, error: string, description: string): Reply {
  return { status, body: { error, error_description: description } };
}

function googleFaultBody(status: number): object {
  return status === 429
    ? { error: 'rate_limit_exceeded', error_description: 'Rate Limit Exceeded' }
    : { error: 'server_error', error_description: `Simulated HTTP ${status}` };
}
