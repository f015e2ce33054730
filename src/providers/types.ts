export type ClientAuthStyle = 'basic' | 'body';

/**
 * How a provider treats refresh tokens on refresh (informational; the engine always saves what it gets).
 * - `single-use`: every refresh returns a new refresh token and the old one stops working.
 * - `reuse-revokes-family`: single-use, and presenting a spent one revokes the whole grant (RFC 9700 §4.14.2).
 * - `reusable`: the same refresh token keeps working; responses usually carry none.
 * - `may-rotate`: a new refresh token may come back; if none does, the old one stays valid.
 */
export type RotationRule = 'single-use' | 'reuse-revokes-family' | 'reusable' | 'may-rotate';

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
  /** Reads a non-RFC error body; return undefined to fall back to RFC 6749 §5.2 `{error, error_description}`. */
  parseError?: (body: unknown) => ProviderErrorInfo | undefined;
  /**
   * Turns a non-standard answer into the HTTP status and body an RFC 6749 server would have sent, before it is
   * classified: e.g. Withings wraps tokens in `{status, body}` and reports errors inside HTTP 200.
   */
  normalizeResponse?: (answer: EndpointAnswer) => EndpointAnswer;
  /** The provider's account id from a token response, when it is not `user_id`/`userid` (e.g. Strava's athlete.id). */
  accountIdFrom?: (body: Record<string, unknown>) => string | undefined;
}
