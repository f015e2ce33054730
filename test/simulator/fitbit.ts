import type { IncomingMessage, ServerResponse } from 'node:http';
import { admitTokenRequest, answerTokenRequest, FaultQueue } from './faults.ts';
import { fitbitError, fitbitErrorBody, fitbitFaultBody } from './fitbit-errors.ts';
import { FitbitGrants } from './fitbit-grants.ts';
import type { GrantResult } from './fitbit-grants.ts';
import { bearerToken, consentingUser, parseBasicAuth, readForm, send, startHttpServer } from './http.ts';
import type { Reply } from './http.ts';
import { HourlyRateLimiter } from './rate-limit.ts';
import type { RateLimitState } from './rate-limit.ts';
import { createStats, recordRequest } from './stats.ts';
import { randomChars, safeEqual } from './tokens.ts';
import { replyWithRefreshTokenExpiry } from './refresh-token-expiry.ts';
import type { RequestRecord, SimulatedProvider, SimulatorBaseOptions } from './types.ts';

export const FITBIT_SCOPES: readonly string[] = [
  'activity',
  'blood_glucose',
  'cardio_fitness',
  'electrocardiogram',
  'heartrate',
  'irregular_rhythm_notifications',
  'location',
  'nutrition',
  'oxygen_saturation',
  'profile',
  'respiratory_rate',
  'settings',
  'sleep',
  'social',
  'temperature',
  'weight',
];

const DEFAULT_SEED_SCOPE = 'activity heartrate profile sleep';

export interface FitbitSimulatorOptions extends SimulatorBaseOptions {
  /** 'server': Basic client auth with the secret; 'client': client_id in the form body, no secret. */
  clientType?: 'server' | 'client';
  accessTokenLifetimeSeconds?: number;
  /** Window in which an identical refresh request replays the first answer. */
  graceMs?: number;
  /** Fitbit puts the offending token in error messages; keep true to test that clients redact it. */
  echoTokenInErrors?: boolean;
  /** Answer 410 Gone everywhere, as after the Fitbit Web API shutdown. */
  retired?: boolean;
  rateLimitPerHour?: number;
  /** Reusing a spent refresh token after the grace window also revokes the user's active tokens. */
  revokeOnReuse?: boolean;
}

export interface SimulatedFitbit extends SimulatedProvider {
  readonly provider: 'fitbit';
  /** Switches the 410 Gone behaviour on or off while running. */
  setRetired(retired: boolean): void;
  /** The user who consents on the authorize page from now on (as if someone else signed in). */
  setConsentUser(userId: string): void;
}

export async function startSimulatedFitbit(options: FitbitSimulatorOptions = {}): Promise<SimulatedFitbit> {
  const now = options.now ?? Date.now;
  const clientId = options.clientId ?? 'demo-client';
  const clientSecret = options.clientSecret ?? 'demo-secret';
  const clientType = options.clientType ?? 'server';
  let consentUserId = options.userId ?? randomChars('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ', 6);
  const latency = options.latencyMs ?? 0;
  const lifetimeSeconds = options.accessTokenLifetimeSeconds ?? 28_800;
  let retired = options.retired ?? false;

  const stats = createStats();
  const faults = new FaultQueue();
  const limiter = new HourlyRateLimiter(options.rateLimitPerHour ?? 150, now);
  const grants = new FitbitGrants({
    now,
    accessTokenLifetimeSeconds: lifetimeSeconds,
    graceMs: options.graceMs ?? 120_000,
    echoTokenInErrors: options.echoTokenInErrors ?? true,
    revokeOnReuse: options.revokeOnReuse ?? false,
  });

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const record = recordRequest(stats, { method: req.method ?? 'GET', path: url.pathname, at: now() });
    res.once('finish', () => (record.status = res.statusCode));
    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /oauth2/token') stats.tokenRequests++;
    if (retired) return send(res, gone());
    if (route === 'GET /oauth2/authorize') return send(res, authorize(url.searchParams));
    if (route === 'POST /oauth2/token') return token(req, res, url, record);
    if (route === 'POST /oauth2/revoke') return revoke(req, res, url);
    const profile = /^\/1\/user\/([^/]+)\/profile\.json$/.exec(url.pathname);
    if (req.method === 'GET' && profile?.[1]) return send(res, profileReply(req, res, profile[1]));
    send(res, {
      status: 404,
      body: fitbitErrorBody('not_found', 'The API you are requesting could not be found.'),
    });
  }

  function authorize(query: URLSearchParams): Reply {
    if (query.get('client_id') !== clientId) return fitbitError(400, 'invalid_client', 'Invalid client_id.');
    if (query.get('response_type') !== 'code') {
      return fitbitError(400, 'invalid_request', 'Missing or unsupported response_type (expected "code").');
    }
    const redirectUri = query.get('redirect_uri');
    if (!redirectUri || !/^https?:$/.test(URL.parse(redirectUri)?.protocol ?? '')) {
      return fitbitError(400, 'invalid_request', 'Invalid redirect_uri parameter value.');
    }
    const scopes = (query.get('scope') ?? '').split(/[\s+]+/).filter(Boolean);
    const unknown = scopes.find((scope) => !FITBIT_SCOPES.includes(scope));
    if (scopes.length === 0 || unknown !== undefined) {
      return fitbitError(400, 'invalid_request', `Invalid scope: ${unknown ?? '(none)'}.`);
    }
    const codeChallenge = query.get('code_challenge');
    if (!codeChallenge || !/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) {
      return fitbitError(400, 'invalid_request', 'Missing or invalid code_challenge.');
    }
    if (query.get('code_challenge_method') !== 'S256') {
      return fitbitError(400, 'invalid_request', 'code_challenge_method must be S256.');
    }
    const code = grants.issueCode({
      userId: consentingUser(query, consentUserId),
      scope: [...new Set(scopes)].join(' '),
      redirectUri,
      codeChallenge,
    });
    const location = new URL(redirectUri);
    location.searchParams.set('code', code);
    const state = query.get('state');
    if (state !== null) location.searchParams.set('state', state);
    location.hash = '_=_'; // Fitbit really appends "#_=_"
    return { status: 302, headers: { location: location.href } };
  }

  async function token(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    record: RequestRecord,
  ): Promise<void> {
    const form = await readForm(req, url, { allowQuery: true });
    if (!form.ok) return send(res, fitbitError(form.status, 'invalid_request', form.description));
    const params = form.params;
    const fault = admitTokenRequest(params, record, stats, faults);
    const rate = limiter.hit(grants.userOf(params) ?? `client:${clientId}`);
    setRateLimitHeaders(res, rate);
    await answerTokenRequest(
      {
        req,
        res,
        fault,
        latencyMs: typeof latency === 'function' ? latency() : latency,
        wait: (ms) => server.wait(ms),
        errorBody: fitbitFaultBody,
      },
      () =>
        rate.exceeded
          ? rateLimited()
          : replyWithRefreshTokenExpiry(processToken(req, params), options.refreshTokenExpiresInSeconds),
    );
  }

  function processToken(req: IncomingMessage, params: URLSearchParams): Reply {
    const authError = clientAuthError(req, params);
    if (authError) return authError;
    switch (params.get('grant_type')) {
      case 'authorization_code': {
        const code = params.get('code');
        if (!code) return fitbitError(400, 'invalid_request', 'Missing parameters: code.');
        return grantReply(
          'code',
          grants.exchangeCode(code, params.get('redirect_uri'), params.get('code_verifier')),
        );
      }
      case 'refresh_token': {
        const refreshToken = params.get('refresh_token');
        if (!refreshToken) return fitbitError(400, 'invalid_request', 'Missing parameters: refresh_token.');
        const expiresIn = params.get('expires_in');
        if (expiresIn === null) return grantReply('refresh', grants.refresh(refreshToken));
        if (!/^[1-9]\d*$/.test(expiresIn)) return fitbitError(400, 'invalid_request', 'Invalid expires_in.');
        const lifetime = Math.min(Number(expiresIn), lifetimeSeconds);
        return grantReply('refresh', grants.refresh(refreshToken, lifetime));
      }
      case null:
        return fitbitError(400, 'invalid_request', 'Missing parameters: grant_type.');
      default:
        return fitbitError(400, 'invalid_request', `Unsupported grant_type: ${params.get('grant_type')}.`);
    }
  }

  function grantReply(grant: 'code' | 'refresh', result: GrantResult): Reply {
    if (!result.ok) {
      if (result.errorType === 'invalid_grant') stats.invalidGrant++;
      return fitbitError(result.status, result.errorType, result.message);
    }
    if (grant === 'code') stats.codeExchanges++;
    else if (result.replay) stats.graceReplays++;
    else stats.refreshSuccesses++;
    return { status: 200, body: result.response };
  }

  function clientAuthError(req: IncomingMessage, params: URLSearchParams): Reply | undefined {
    const bodyClientId = params.get('client_id');
    if (clientType === 'client') {
      if (bodyClientId === null) return fitbitError(401, 'invalid_client', 'Missing parameters: client_id.');
      if (bodyClientId !== clientId) return fitbitError(401, 'invalid_client', 'Invalid client_id.');
      return undefined;
    }
    const basic = parseBasicAuth(req.headers.authorization);
    if (basic === undefined) return fitbitError(401, 'invalid_client', 'Authorization header required.');
    if (
      basic === 'malformed' ||
      !safeEqual(basic.id, clientId) ||
      !safeEqual(basic.secret, clientSecret) ||
      (bodyClientId !== null && bodyClientId !== clientId)
    ) {
      return fitbitError(401, 'invalid_client', 'Invalid authorization header. Client id or secret invalid.');
    }
    return undefined;
  }

  async function revoke(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const form = await readForm(req, url, { allowQuery: true });
    if (!form.ok) return send(res, fitbitError(form.status, 'invalid_request', form.description));
    const authError = clientAuthError(req, form.params);
    if (authError) return send(res, authError);
    const value = form.params.get('token');
    if (!value) return send(res, fitbitError(400, 'invalid_request', 'Missing parameters: token.'));
    grants.revoke(value);
    stats.revocations++;
    send(res, { status: 200 });
  }

  function profileReply(req: IncomingMessage, res: ServerResponse, pathUser: string): Reply {
    stats.apiRequests++;
    const accessToken = bearerToken(req.headers.authorization);
    const check = accessToken ? grants.checkAccess(accessToken) : undefined;
    const rate = limiter.hit(check?.ok ? check.userId : `client:${clientId}`);
    setRateLimitHeaders(res, rate);
    if (!accessToken || !check) return unauthorized('invalid_token', 'Access token missing.');
    if (!check.ok) return unauthorized(check.errorType, check.message);
    if (rate.exceeded) return rateLimited();
    if (pathUser !== '-' && pathUser !== check.userId) {
      return fitbitError(
        403,
        'insufficient_permissions',
        'This application does not have permission to access this user.',
      );
    }
    if (!check.scope.split(' ').includes('profile')) {
      return fitbitError(
        403,
        'insufficient_scope',
        'This application does not have permission to access profile data.',
      );
    }
    grants.markAccessUsed(accessToken);
    return {
      status: 200,
      body: { user: { encodedId: check.userId, displayName: 'Demo User', fullName: 'Demo User' } },
    };
  }

  function unauthorized(errorType: string, message: string): Reply {
    return {
      ...fitbitError(401, errorType, message),
      headers: { 'www-authenticate': 'Bearer realm="api.fitbit.com"' },
    };
  }

  function rateLimited(): Reply {
    stats.rateLimited++;
    return { status: 429, body: fitbitErrorBody('system', 'Too Many Requests') };
  }

  const server = await startHttpServer(handle, { host: options.host, port: options.port });
  const url = server.url;
  return {
    provider: 'fitbit',
    url,
    authorizeUrl: `${url}/oauth2/authorize`,
    tokenUrl: `${url}/oauth2/token`,
    revokeUrl: `${url}/oauth2/revoke`,
    apiUrl: url,
    profileUrl: `${url}/1/user/-/profile.json`,
    clientId,
    ...(clientType === 'server' ? { clientSecret } : {}),
    stats,
    seedGrant(seed = {}) {
      const response = grants.seed(seed.userId ?? consentUserId, seed.scope ?? DEFAULT_SEED_SCOPE);
      return {
        accessToken: response.access_token,
        refreshToken: response.refresh_token,
        userId: response.user_id,
        expiresIn: response.expires_in,
        scope: response.scope,
      };
    },
    activeRefreshToken: (userId) => grants.activeRefreshToken(userId),
    inject: (fault, times) => faults.push(fault, times),
    clearFaults: () => faults.clear(),
    setRetired(value) {
      retired = value;
    },
    setConsentUser(userId) {
      consentUserId = userId;
    },
    close: () => server.close(),
  };
}

function gone(): Reply {
  return {
    status: 410,
    body: fitbitErrorBody(
      'request',
      'The Fitbit Web API has been retired. Reconnect with the Google Health API.',
    ),
  };
}

function setRateLimitHeaders(res: ServerResponse, rate: RateLimitState): void {
  res.setHeader('fitbit-rate-limit-limit', String(rate.limit));
  res.setHeader('fitbit-rate-limit-remaining', String(rate.remaining));
  res.setHeader('fitbit-rate-limit-reset', String(rate.resetSeconds));
}
