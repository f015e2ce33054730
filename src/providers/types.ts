export type ClientAuthStyle = 'basic' | 'body';

/** How a provider treats refresh tokens on refresh (informational; the engine always saves what it gets). */
export type RotationRule = 'single-use' | 'reusable' | 'may-rotate';

/** An error the provider returned, reduced to what the engine classifies on. */
export interface ProviderErrorInfo {
  code?: string;
  message?: string;
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
  apiBaseUrl?: string;
  clientAuth: ClientAuthStyle;
  pkce: boolean;
  scopeSeparator: string;
  defaultScopes: string[];
  /** Added to the authorization URL (e.g. Google's access_type=offline). */
  extraAuthParams: Record<string, string>;
  /** Added to every token request body. */
  extraTokenParams: Record<string, string>;
  rotation: RotationRule;
  docsUrl?: string;
  /** Shown when the provider answers 410 Gone. */
  retiredHint?: string;
  /** Reads a non-RFC error body; return undefined to fall back to RFC 6749 §5.2 `{error, error_description}`. */
  parseError?: (body: unknown) => ProviderErrorInfo | undefined;
}
