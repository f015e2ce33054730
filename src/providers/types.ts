import type { RefreshTokenLifetime } from '../core/expiry.ts';

export type { RefreshTokenLifetime };

export type ClientAuthStyle = 'basic' | 'body';

/**
 * How a provider treats refresh tokens on refresh (the engine always saves what it gets; schedulers, simulators and
 * conformance tests read this). A spent token that still works for a while is `spentTokenGraceMs`, not a rule.
 * - `single-use`: every refresh returns a new refresh token and the old one stops working.
 * - `reuse-revokes-family`: single-use, and presenting a spent one revokes the whole grant (RFC 9700 §4.14.2).
 * - `rotate-keep-old`: every refresh returns a new refresh token and the old one keeps working too.
 * - `reusable`: the same refresh token keeps working; responses usually carry none.
 * - `may-rotate`: not known in advance (the generic template): a new one may come back; if none does, the old
 *   one stays valid.
 */
export type RotationRule =
  'single-use' | 'reuse-revokes-family' | 'rotate-keep-old' | 'reusable' | 'may-rotate';

/** A token-endpoint request quota per connection (one user at one app). */
export interface RateLimit {
  requests: number;
  windowMs: number;
}

/** Where a token response names the provider's account. */
export interface AccountIdLocation {
  /** Dot path into the token response body, e.g. `user_id` or Strava's `athlete.id`. */
  path: string;
  /** Refresh responses carry it too, not only the first token response of a consent. */
  everyRefresh: boolean;
}

/** Ways to obtain a connection's first token set. */
export type ConnectGrant = 'authorization_code' | 'device_code' | 'client_credentials';

/** An error the provider returned, reduced to what the engine classifies on. */
export interface ProviderErrorInfo {
  code?: string;
  message?: string;
}

/** A token endpoint answer as HTTP status + parsed JSON body (undefined when the body is not JSON). */
export interface EndpointAnswer {
  status: number;
  json: unknown;
}

/**
 * How one OAuth 2.0 server behaves: data plus small hooks for what is not RFC 6749-shaped. User-defined providers
 * are the same data, from config.
 */
export interface ProviderDefinition {
  id: string;
  displayName: string;
  authorizationUrl?: string;
  tokenUrl: string;
  revokeUrl?: string;
  /** RFC 8628 device authorization endpoint, for providers that support the device grant. */
  deviceAuthorizationUrl?: string;
  apiBaseUrl?: string;
  clientAuth: ClientAuthStyle;
  pkce: boolean;
  scopeSeparator: string;
  defaultScopes: string[];
  /** Added to the authorization URL (e.g. Google's access_type=offline). */
  extraAuthParams: Record<string, string>;
  /** Added to every token request body. */
  extraTokenParams: Record<string, string>;
  /** Added to refresh requests only (e.g. WHOOP wants scope=offline on every refresh). */
  extraRefreshParams?: Record<string, string>;
  rotation: RotationRule;
  /** The rule for public clients (no client secret), where it differs (Spotify's PKCE apps: single-use). */
  publicClientRotation?: RotationRule;
  /**
   * How long a just-spent refresh token is still accepted (until the new access token is first used), e.g.
   * Fitbit's 2-minute grace that replays the same answer. Unknown outcomes are retried well inside it.
   */
  spentTokenGraceMs?: number;
  /** The documented access-token lifetime: assumed (if shorter than refresh.defaultLifetimeSeconds) without expires_in. */
  accessTokenLifetimeMs?: number;
  /**
   * The access-token lifetime assumed without expires_in, as configured for this provider
   * (providers.<id>.defaultLifetimeSeconds); wins over the documented one and the global default.
   */
  defaultLifetimeMs?: number;
  /** How long refresh tokens live (catalog data, cited in docs/providers.md); absent: no time limit known. */
  refreshTokenLifetime?: RefreshTokenLifetime;
  /**
   * The lifetime while the app is in "Testing" publishing status (Google: 7 days from consent). The registry puts
   * it in `refreshTokenLifetime` when providers.<id>.publishingStatus is "testing".
   */
  testingRefreshTokenLifetime?: RefreshTokenLifetime;
  /** Refresh at least this often while a scheduler runs, so idle-expiring refresh tokens never lapse. */
  keepAliveMs?: number;
  /** Warn this long before a refresh token dies (providers.<id>.expiringSoonDays); default see core/expiry. */
  expiringSoonMs?: number;
  /** When the configured client secret expires (epoch ms, providers.<id>.clientSecretExpiresAt), if known. */
  clientSecretExpiresAt?: number;
  /** The provider's token-endpoint quota per connection, respected by a fleet of daemons together. */
  rateLimit?: RateLimit;
  /** Where token responses name the account (absent: they do not). */
  accountId?: AccountIdLocation;
  /** How a connection can be made; default authorization code only. */
  grants?: ConnectGrant[];
  /**
   * Values for `{name}` placeholders in the endpoint URLs (e.g. Microsoft's `{tenant}`), overridable in config.
   * The registry fills them in, so the rest of the code only ever sees finished URLs.
   */
  urlParameters?: Record<string, string>;
  docsUrl?: string;
  /** What to set up in the provider's developer console, shown by `tokenkeeper providers`. */
  setupNotes?: string;
  /** Shown when the provider answers 410 Gone. */
  retiredHint?: string;
  /** The provider that replaced this one once it retired: where its connections are connected again. */
  successor?: string;
  /** Reads a non-RFC error body; return undefined to fall back to RFC 6749 §5.2 `{error, error_description}`. */
  parseError?: (body: unknown) => ProviderErrorInfo | undefined;
  /**
   * Turns a non-standard answer into the HTTP status and body an RFC 6749 server would have sent, before it is
   * classified: e.g. Withings wraps tokens in `{status, body}` and reports errors inside HTTP 200.
   */
  normalizeResponse?: (answer: EndpointAnswer) => EndpointAnswer;
}
