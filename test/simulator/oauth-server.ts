import type { IncomingMessage, ServerResponse } from 'node:http';
import { admitTokenRequest, answerTokenRequest, FaultQueue } from './faults.ts';
import {
  GrantBook,
  type ClientKind,
  type GrantResult,
  type SimError,
  type SimRotation,
  type StandardTokenBody,
} from './grant-book.ts';
import {
  bearerToken,
  consentingUser,
  parseBasicAuth,
  readForm,
  send,
  startHttpServer,
  type Reply,
} from './http.ts';
import { withRefreshTokenExpiry } from './refresh-token-expiry.ts';
import { createStats, recordRequest } from './stats.ts';
import { randomChars, safeEqual } from './tokens.ts';
import type {
  Fault,
  ProviderStats,
  RequestRecord,
  SeededGrant,
  SeedGrantOptions,
  SimulatorBaseOptions,
} from './types.ts';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** What the token endpoint was asked, for conformance checks (the fake is test code: it may keep tokens). */
export interface TokenRequestLog {
  grantType?: string;
  clientAuth: 'basic' | 'body' | 'none';
  params: Record<string, string>;
}

/** The context a profile's response shaper sees. */
export interface SuccessContext {
  grantType: string;
  userId?: string;
  now: number;
  omitted: ReadonlySet<string>;
}

/**
 * One provider's documented behaviour, as data plus small hooks: paths, client authentication, PKCE, scopes,
 * rotation, request checks, and the shapes of its answers. `startOAuthSimulator` turns it into a real HTTP server.
 */
export interface OAuthSimProfile {
  provider: string;
  paths: { authorize: string; token: string; api: string; revoke?: string; deviceAuthorization?: string };
  /** How confidential clients must authenticate at the token endpoint. */
  clientAuth: 'basic' | 'body' | 'basic-or-body';
  /** Accept clients that send only client_id (PKCE or device apps). */
  publicClients: boolean;
  pkce: 'required' | 'public-only' | 'ignored';
  scopeSeparator: ' ' | ',';
  /** Scopes the authorize endpoint knows; others (e.g. joined with the wrong separator) are rejected. */
  knownScopes?: readonly string[];
  offlineScope?: string;
  /** Scope of grants made with seedGrant() when the test names none. */
  seedScope: string;
  /** The authorize endpoint insists on a state of at least this many characters. */
  minStateLength?: number;
  accessTokenLifetimeSeconds: number;
  rotation: SimRotation | ((client: ClientKind) => SimRotation);
  tokenPrefix: { access: string; refresh: string };
  reuseTokensWithinSeconds?: number;
  clientCredentials?: { validateScope?: (scope: string | null) => SimError | undefined };
  deviceFlow?: {
    intervalSeconds: number;
    expiresInSeconds: number;
    extraFields?: (userCode: string, url: string) => object;
  };
  /** Provider-specific checks on every token request (required parameters and the like). */
  checkTokenRequest?: (grantType: string | null, params: URLSearchParams) => SimError | undefined;
  /** Shapes a success body (add fields, wrap it). Omitted fields are already removed from `body`. */
  successBody?: (body: Partial<StandardTokenBody>, context: SuccessContext) => object;
  renderError: (error: SimError, grantType: string | null) => Reply;
  /** Renders injected status faults; default: that HTTP status with `faultBody`. */
  renderFault?: (fault: { status: number; headers?: Record<string, string> }) => Reply;
  faultBody?: (status: number) => object;
  /** The resource API's answer to a good (userId) or bad (undefined) bearer token. */
  renderApi?: (userId: string | undefined) => Reply;
  /** Answers requests to paths the profile does not serve (e.g. Microsoft's other tenants). */
  unknownPath?: (url: URL) => Reply | undefined;
}

export interface OAuthSimulatorOptions extends SimulatorBaseOptions {
  /** Override the profile's access-token lifetime. */
  accessTokenLifetimeSeconds?: number;
  /** Withings: how long a rotated refresh token keeps working (default 8 h). */
  oldTokenGraceMs?: number;
  /** Token responses name the account (`user_id`, as Fitbit's do), so a client can tell accounts apart. */
  reportUserId?: boolean;
}

export interface SimulatedOAuthStats extends ProviderStats {
  clientCredentialsGrants: number;
  devicePolls: number;
  familyRevocations: number;
}

/** A running simulated provider of the catalog (withings, oura, strava, …). */
export interface SimulatedOAuthProvider {
  readonly provider: string;
  readonly url: string;
  readonly authorizeUrl: string;
  readonly tokenUrl: string;
  readonly revokeUrl?: string;
  readonly deviceAuthorizationUrl?: string;
  /** The simulated user-facing page a device user is sent to. */
  readonly verificationUrl?: string;
  /** GET with `Authorization: Bearer <access token>`. */
  readonly profileUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly stats: SimulatedOAuthStats;
  /** Every token request, oldest first (bounded). */
  readonly tokenRequests: readonly TokenRequestLog[];
  seedGrant(options?: SeedGrantOptions & { publicClient?: boolean }): SeededGrant;
  activeRefreshToken(userId: string): string | undefined;
  /** The user disconnects the app at the provider. */
  revokeUser(userId: string): void;
  /** Calls the resource API with the token; true when the provider accepts it. */
  useAccessToken(accessToken: string): Promise<boolean>;
  approveDevice(userCode: string, userId?: string): boolean;
  denyDevice(userCode: string): boolean;
  /** The next device-code poll is answered slow_down. */
  demandSlowDown(): void;
  inject(fault: Fault, times?: number): void;
  clearFaults(): void;
  close(): Promise<void>;
}

const MAX_LOG = 500;

export async function startOAuthSimulator(
  profile: OAuthSimProfile,
  options: OAuthSimulatorOptions = {},
): Promise<SimulatedOAuthProvider> {
  const now = options.now ?? Date.now;
  const clientId = options.clientId ?? `${profile.provider}-client`;
  const clientSecret = options.clientSecret ?? `${profile.provider}-secret`;
  const defaultUserId = options.userId ?? randomChars('0123456789', 8);
  const latency = options.latencyMs ?? 0;
  const rotation = profile.rotation;
  const stats: SimulatedOAuthStats = {
    ...createStats(),
    clientCredentialsGrants: 0,
    devicePolls: 0,
    familyRevocations: 0,
  };
  const tokenLog: TokenRequestLog[] = [];
  const faults = new FaultQueue();
  const book = new GrantBook({
    now,
    accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds ?? profile.accessTokenLifetimeSeconds,
    rotation: typeof rotation === 'function' ? rotation : () => rotation,
    tokenPrefix: profile.tokenPrefix,
    offlineScope: profile.offlineScope,
    pkce: profile.pkce,
    codeLifetimeMs: 10 * 60_000,
    oldTokenGraceMs: options.oldTokenGraceMs ?? 8 * 3_600_000,
    reuseTokensWithinSeconds: profile.reuseTokensWithinSeconds,
  });
  const { paths } = profile;

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const record = recordRequest(stats, { method: req.method ?? 'GET', path: url.pathname, at: now() });
    res.once('finish', () => (record.status = res.statusCode));
    const route = `${req.method} ${url.pathname}`;
    if (route === `GET ${paths.authorize}`) return send(res, authorize(url.searchParams));
    if (route === `POST ${paths.token}`) return token(req, res, url, record);
    if (route === `GET ${paths.api}`) return send(res, api(req));
    if (paths.revoke && route === `POST ${paths.revoke}`) return revoke(req, res, url);
    if (paths.deviceAuthorization && route === `POST ${paths.deviceAuthorization}`) {
      return deviceAuthorization(req, res, url);
    }
    const special = profile.unknownPath?.(url);
    send(
      res,
      special ?? { status: 404, body: { error: 'not_found', error_description: `no route ${route}` } },
    );
  }

  function authorize(query: URLSearchParams): Reply {
    const error = (description: string) => ({
      status: 400,
      body: { error: 'invalid_request', error_description: description },
    });
    if (query.get('client_id') !== clientId) return error('unknown client_id');
    if (query.get('response_type') !== 'code') return error('response_type must be code');
    const redirectUri = query.get('redirect_uri');
    if (!redirectUri || !/^https?:$/.test(URL.parse(redirectUri)?.protocol ?? ''))
      return error('invalid redirect_uri');
    const state = query.get('state') ?? '';
    if (profile.minStateLength !== undefined && state.length < profile.minStateLength) {
      return error(`state must be at least ${profile.minStateLength} characters`);
    }
    const scopes = (query.get('scope') ?? '').split(profile.scopeSeparator).filter(Boolean);
    const unknown = profile.knownScopes && scopes.find((scope) => !profile.knownScopes?.includes(scope));
    if (unknown)
      return error(`invalid scope "${unknown}" (scopes are separated by "${profile.scopeSeparator}")`);
    const challenge = query.get('code_challenge') ?? undefined;
    if (
      challenge !== undefined &&
      profile.pkce !== 'ignored' &&
      query.get('code_challenge_method') !== 'S256'
    ) {
      return error('code_challenge_method must be S256');
    }
    if (profile.pkce === 'required' && challenge === undefined) return error('code_challenge required');
    const code = book.issueCode({
      userId: consentingUser(query, defaultUserId),
      scope: scopes.join(profile.scopeSeparator),
      redirectUri,
      clientKind: 'confidential',
      ...(challenge !== undefined && profile.pkce !== 'ignored' ? { codeChallenge: challenge } : {}),
    });
    const location = new URL(redirectUri);
    location.searchParams.set('code', code);
    if (query.has('state')) location.searchParams.set('state', state);
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
    if (!form.ok) return send(res, invalidRequest(form.description, form.status));
    const params = form.params;
    const grantType = params.get('grant_type');
    logTokenRequest(req, params);
    const fault = admitTokenRequest(params, record, stats, faults);
    const omitted = new Set<string>(fault?.kind === 'omit' ? fault.fields : []);
    await answerTokenRequest(
      {
        req,
        res,
        fault,
        latencyMs: typeof latency === 'function' ? latency() : latency,
        wait: (ms) => server.wait(ms),
        errorBody: (status) => profile.faultBody?.(status) ?? defaultFaultBody(status),
        ...(profile.renderFault ? { faultReply: profile.renderFault } : {}),
      },
      () => processToken(req, params, grantType, omitted),
    );
  }

  function logTokenRequest(req: IncomingMessage, params: URLSearchParams): void {
    const basic = parseBasicAuth(req.headers.authorization);
    tokenLog.push({
      grantType: params.get('grant_type') ?? undefined,
      clientAuth: basic ? 'basic' : params.has('client_secret') ? 'body' : 'none',
      params: Object.fromEntries(params),
    });
    if (tokenLog.length > MAX_LOG) tokenLog.splice(0, tokenLog.length - MAX_LOG);
  }

  function processToken(
    req: IncomingMessage,
    params: URLSearchParams,
    grantType: string | null,
    omitted: ReadonlySet<string>,
  ): Reply {
    const client = authenticate(req, params);
    if (typeof client !== 'string') return profile.renderError(client, grantType);
    const checked = profile.checkTokenRequest?.(grantType, params);
    if (checked) return profile.renderError(checked, grantType);
    const result = grant(grantType, params, client, omitted);
    if (!result.ok) {
      if (result.error.error === 'invalid_grant') stats.invalidGrant++;
      return profile.renderError(result.error, grantType);
    }
    if (grantType === 'authorization_code') stats.codeExchanges++;
    if (grantType === 'refresh_token') stats.refreshSuccesses++;
    if (grantType === 'client_credentials') stats.clientCredentialsGrants++;
    const body: Partial<StandardTokenBody> & { user_id?: string } = { ...result.body };
    for (const field of omitted) delete body[field as keyof StandardTokenBody];
    if (options.reportUserId && result.userId) body.user_id = result.userId;
    const announced = withRefreshTokenExpiry(body, options.refreshTokenExpiresInSeconds);
    const context: SuccessContext = {
      grantType: grantType ?? '',
      userId: result.userId,
      now: now(),
      omitted,
    };
    return {
      status: 200,
      body: profile.successBody ? profile.successBody(announced, context) : announced,
    };
  }

  function grant(
    grantType: string | null,
    params: URLSearchParams,
    client: ClientKind,
    omitted: ReadonlySet<string>,
  ): GrantResult {
    const missing = (name: string): GrantResult => ({
      ok: false,
      error: { status: 400, error: 'invalid_request', description: `missing ${name}` },
    });
    switch (grantType) {
      case 'authorization_code': {
        const code = params.get('code');
        if (!code) return missing('code');
        return book.exchangeCode(code, params.get('redirect_uri'), params.get('code_verifier'), client);
      }
      case 'refresh_token': {
        const refreshToken = params.get('refresh_token');
        if (!refreshToken) return missing('refresh_token');
        const result = book.refresh(refreshToken, { rotate: !omitted.has('refresh_token') });
        stats.familyRevocations = book.familyRevocations;
        return result;
      }
      case 'client_credentials': {
        if (!profile.clientCredentials || client !== 'confidential') {
          return {
            ok: false,
            error: {
              status: 400,
              error: 'unauthorized_client',
              description: 'client_credentials is not allowed for this client',
            },
          };
        }
        const scope = params.get('scope');
        const invalid = profile.clientCredentials.validateScope?.(scope);
        if (invalid) return { ok: false, error: invalid };
        return book.clientCredentials(scope ?? '');
      }
      case DEVICE_CODE_GRANT: {
        if (!profile.deviceFlow) break;
        stats.devicePolls++;
        const deviceCode = params.get('device_code');
        if (!deviceCode) return missing('device_code');
        return book.pollDevice(deviceCode);
      }
      case null:
        return missing('grant_type');
    }
    return {
      ok: false,
      error: {
        status: 400,
        error: 'unsupported_grant_type',
        description: `unsupported grant_type ${grantType}`,
      },
    };
  }

  /** Returns the client kind, or the error to answer. */
  function authenticate(req: IncomingMessage, params: URLSearchParams): ClientKind | SimError {
    const invalid = (description: string): SimError => ({
      status: 401,
      error: 'invalid_client',
      description,
    });
    const basic = parseBasicAuth(req.headers.authorization);
    if (basic === 'malformed') return invalid('malformed Authorization header');
    if (basic) {
      if (profile.clientAuth === 'body')
        return invalid('client credentials must be sent in the request body');
      if (!safeEqual(basic.id, clientId) || !safeEqual(basic.secret, clientSecret))
        return invalid('client authentication failed');
      return 'confidential';
    }
    const id = params.get('client_id');
    const secret = params.get('client_secret');
    if (secret !== null) {
      if (profile.clientAuth === 'basic')
        return invalid('client credentials must be sent with HTTP Basic authentication');
      if (id === null || !safeEqual(id, clientId) || !safeEqual(secret, clientSecret))
        return invalid('client authentication failed');
      return 'confidential';
    }
    if (id !== null && profile.publicClients && safeEqual(id, clientId)) return 'public';
    return invalid(id === null ? 'client authentication required' : 'client authentication failed');
  }

  function invalidRequest(description: string, status = 400): Reply {
    return profile.renderError({ status, error: 'invalid_request', description }, null);
  }

  /** Reads a form-encoded request and authenticates its client; on failure answers it and returns undefined. */
  async function readClientForm(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
  ): Promise<{ params: URLSearchParams; client: ClientKind } | undefined> {
    const form = await readForm(req, url, { allowQuery: false });
    if (!form.ok) {
      send(res, invalidRequest(form.description, form.status));
      return undefined;
    }
    const client = authenticate(req, form.params);
    if (typeof client !== 'string') {
      send(res, profile.renderError(client, null));
      return undefined;
    }
    return { params: form.params, client };
  }

  async function deviceAuthorization(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const device = profile.deviceFlow as NonNullable<OAuthSimProfile['deviceFlow']>;
    const form = await readClientForm(req, res, url);
    if (!form) return;
    const { params, client } = form;
    const scope = params.get('scope');
    if (!scope) return send(res, invalidRequest('missing scope'));
    const record = book.startDevice(scope, client, device.intervalSeconds, device.expiresInSeconds);
    send(res, {
      status: 200,
      body: {
        device_code: record.deviceCode,
        user_code: record.userCode,
        verification_uri: `${server.url}/device`,
        expires_in: device.expiresInSeconds,
        interval: device.intervalSeconds,
        ...device.extraFields?.(record.userCode, `${server.url}/device`),
      },
    });
  }

  async function revoke(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const form = await readClientForm(req, res, url);
    if (!form) return;
    const value = form.params.get('token');
    if (!value) return send(res, invalidRequest('missing token'));
    book.revokeToken(value); // RFC 7009 §2.2: 200 even for unknown tokens
    stats.revocations++;
    send(res, { status: 200 });
  }

  function api(req: IncomingMessage): Reply {
    stats.apiRequests++;
    const accessToken = bearerToken(req.headers.authorization);
    const access = accessToken ? book.useAccess(accessToken) : undefined;
    const userId = access ? (access.userId ?? `client:${clientId}`) : undefined;
    if (profile.renderApi) return profile.renderApi(userId);
    if (!userId) {
      return {
        status: 401,
        body: { error: 'invalid_token', error_description: 'The access token is invalid or expired' },
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      };
    }
    return { status: 200, body: { id: userId } };
  }

  const server = await startHttpServer(handle, { host: options.host, port: options.port });
  const url = server.url;
  return {
    provider: profile.provider,
    url,
    authorizeUrl: `${url}${paths.authorize}`,
    tokenUrl: `${url}${paths.token}`,
    ...(paths.revoke ? { revokeUrl: `${url}${paths.revoke}` } : {}),
    ...(paths.deviceAuthorization
      ? { deviceAuthorizationUrl: `${url}${paths.deviceAuthorization}`, verificationUrl: `${url}/device` }
      : {}),
    profileUrl: `${url}${paths.api}`,
    clientId,
    clientSecret,
    stats,
    tokenRequests: tokenLog,
    seedGrant(seed = {}) {
      const userId = seed.userId ?? defaultUserId;
      const scope = seed.scope ?? profile.seedScope;
      const body = book.seed(userId, scope, seed.publicClient ? 'public' : 'confidential');
      return {
        accessToken: body.access_token,
        refreshToken: body.refresh_token,
        userId,
        expiresIn: body.expires_in,
        scope: body.scope,
      };
    },
    activeRefreshToken: (userId) => book.activeRefreshToken(userId),
    revokeUser: (userId) => book.revokeUser(userId),
    async useAccessToken(accessToken) {
      const response = await fetch(`${url}${paths.api}`, {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      const body = (await response.json().catch(() => undefined)) as { status?: unknown } | undefined;
      return response.status === 200 && (body?.status === undefined || body.status === 0);
    },
    approveDevice: (userCode, userId = defaultUserId) =>
      book.decideDevice(userCode, { approve: true, userId }),
    denyDevice: (userCode) => book.decideDevice(userCode, { approve: false }),
    demandSlowDown: () => book.demandSlowDown(),
    inject: (fault, times) => faults.push(fault, times),
    clearFaults: () => faults.clear(),
    close: () => server.close(),
  };
}

/** RFC 6749 §5.2 error reply; 401 for invalid_client as the RFC says. */
export function rfcErrorReply(error: SimError): Reply {
  return { status: error.status, body: { error: error.error, error_description: error.description } };
}

function defaultFaultBody(status: number): object {
  return status === 429
    ? { error: 'rate_limited', error_description: 'Too Many Requests' }
    : { error: 'server_error', error_description: `Simulated HTTP ${status}` };
}
