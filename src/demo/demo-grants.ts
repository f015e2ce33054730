import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** The account the demo provider's consent page always approves. */
export const DEMO_ACCOUNT = 'DEMO42';

/** An RFC 6749 §5.1 token response, with the account id as Fitbit sends it (`user_id`). */
export interface DemoTokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  /** Sent only when the demo provider was started with a refresh-token lifetime. */
  refresh_token_expires_in?: number;
  scope: string;
  user_id: string;
}

export type GrantResult =
  | { ok: true; response: DemoTokenResponse; replay: boolean }
  | { ok: false; error: 'invalid_grant'; description: string };

interface Grant {
  scope: string;
  response: DemoTokenResponse;
  accessExpiresAt: number;
  /** When the current refresh token stops working (epoch ms), if the provider gives them a lifetime. */
  refreshExpiresAt?: number;
  /** The refresh token this pair replaced, and when: an identical retry within the grace window replays it. */
  spent?: { refreshToken: string; at: number };
  revoked: boolean;
}

interface AuthorizationCode {
  scope: string;
  redirectUri: string;
  codeChallenge: string;
  expiresAt: number;
}

const CODE_LIFETIME_MS = 10 * 60_000;
/**
 * Fitbit's rule, which the demo's recovery relies on: a refresh whose answer was lost can be sent again with the
 * same (already spent) refresh token for a while, and gets the same new pair.
 */
const GRACE_MS = 120_000;

/**
 * The demo provider's token rules: authorization codes bound to a redirect URI and a PKCE (S256) challenge,
 * single-use refresh tokens rotated on every refresh, access tokens with a fixed lifetime. State lives in memory.
 */
export class DemoGrants {
  readonly #lifetimeSeconds: number;
  readonly #refreshTokenLifetimeSeconds: number | undefined;
  readonly #codes = new Map<string, AuthorizationCode>();
  readonly #byRefreshToken = new Map<string, Grant>();
  readonly #bySpentRefreshToken = new Map<string, Grant>();
  readonly #byAccessToken = new Map<string, Grant>();

  /** `refreshTokenLifetimeSeconds`: each refresh token dies this long after issue, as its response announces. */
  constructor(lifetimeSeconds: number, refreshTokenLifetimeSeconds?: number) {
    this.#lifetimeSeconds = lifetimeSeconds;
    this.#refreshTokenLifetimeSeconds = refreshTokenLifetimeSeconds;
  }

  issueCode(code: Omit<AuthorizationCode, 'expiresAt'>): string {
    const value = randomBytes(20).toString('hex');
    this.#codes.set(value, { ...code, expiresAt: Date.now() + CODE_LIFETIME_MS });
    return value;
  }

  exchangeCode(code: string, redirectUri: string | null, verifier: string | null): GrantResult {
    const issued = this.#codes.get(code);
    this.#codes.delete(code); // single use, even when the exchange fails
    if (!issued || issued.expiresAt <= Date.now())
      return invalidGrant('authorization code invalid or expired');
    if (redirectUri !== issued.redirectUri)
      return invalidGrant('redirect_uri differs from the authorization request');
    if (verifier === null || !sameText(s256(verifier), issued.codeChallenge)) {
      return invalidGrant('code_verifier does not match the code_challenge');
    }
    const grant: Grant = {
      scope: issued.scope,
      response: this.#pair(issued.scope),
      accessExpiresAt: 0,
      revoked: false,
    };
    this.#index(grant);
    return { ok: true, response: grant.response, replay: false };
  }

  refresh(refreshToken: string): GrantResult {
    const current = this.#byRefreshToken.get(refreshToken);
    if (current?.refreshExpiresAt !== undefined && current.refreshExpiresAt <= Date.now()) {
      return invalidGrant('refresh token expired');
    }
    if (current) {
      this.#unindex(current);
      current.spent = { refreshToken, at: Date.now() };
      current.response = this.#pair(current.scope);
      this.#index(current);
      return { ok: true, response: current.response, replay: false };
    }
    const spent = this.#bySpentRefreshToken.get(refreshToken);
    if (spent && !spent.revoked && spent.spent && Date.now() - spent.spent.at < GRACE_MS) {
      return { ok: true, response: spent.response, replay: true };
    }
    return invalidGrant('refresh token invalid, spent or revoked');
  }

  /** True while `accessToken` is the current, unexpired access token of a grant. */
  accessValid(accessToken: string): boolean {
    const grant = this.#byAccessToken.get(accessToken);
    return grant !== undefined && grant.accessExpiresAt > Date.now();
  }

  /** RFC 7009: either token of a grant revokes the whole grant; unknown tokens are ignored. */
  revoke(token: string): void {
    const grant =
      this.#byRefreshToken.get(token) ??
      this.#byAccessToken.get(token) ??
      this.#bySpentRefreshToken.get(token);
    if (!grant) return;
    this.#unindex(grant);
    grant.revoked = true;
  }

  #pair(scope: string): DemoTokenResponse {
    return {
      // Shaped like the simulated Fitbit's tokens, so tests recognise a leaked one.
      access_token: `fa_${randomBytes(32).toString('base64url')}`,
      token_type: 'Bearer',
      expires_in: this.#lifetimeSeconds,
      refresh_token: `fr_${randomBytes(32).toString('base64url')}`,
      ...(this.#refreshTokenLifetimeSeconds !== undefined && {
        refresh_token_expires_in: this.#refreshTokenLifetimeSeconds,
      }),
      scope,
      user_id: DEMO_ACCOUNT,
    };
  }

  #index(grant: Grant): void {
    grant.accessExpiresAt = Date.now() + grant.response.expires_in * 1000;
    const refreshLifetime = grant.response.refresh_token_expires_in;
    grant.refreshExpiresAt = refreshLifetime === undefined ? undefined : Date.now() + refreshLifetime * 1000;
    this.#byRefreshToken.set(grant.response.refresh_token, grant);
    this.#byAccessToken.set(grant.response.access_token, grant);
    if (grant.spent) this.#bySpentRefreshToken.set(grant.spent.refreshToken, grant);
  }

  /** Forgets the grant's current tokens and the one spent before them: a grant holds at most three entries. */
  #unindex(grant: Grant): void {
    this.#byRefreshToken.delete(grant.response.refresh_token);
    this.#byAccessToken.delete(grant.response.access_token);
    if (grant.spent) this.#bySpentRefreshToken.delete(grant.spent.refreshToken);
  }
}

export function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

export function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

function invalidGrant(description: string): GrantResult {
  return { ok: false, error: 'invalid_grant', description };
}
