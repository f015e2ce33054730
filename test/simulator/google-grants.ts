import { isValidVerifier, randomChars, randomToken, s256, safeEqual } from './tokens.ts';

export interface GoogleTokenResponse {
  access_token: string;
  expires_in: number;
  scope: string;
  token_type: 'Bearer';
  refresh_token?: string;
}

export type GoogleGrantResult =
  | { ok: true; response: GoogleTokenResponse }
  | { ok: false; status: number; error: string; description: string };

export interface GoogleGrantsOptions {
  now: () => number;
  accessTokenLifetimeSeconds: number;
  /** Apps in "Testing" status get refresh tokens that die this long after issue (7 days at Google). */
  testingAppRefreshTokenLifetimeMs?: number;
  unusedRefreshTokenLifetimeMs: number;
  /** Per user and client; issuing one more silently invalidates the oldest. */
  maxRefreshTokensPerUser: number;
}

interface RefreshGrant {
  userId: string;
  scope: string;
  issuedAt: number;
  lastUsedAt: number;
}

interface AccessGrant {
  userId: string;
  scope: string;
  expiresAt: number;
  refreshToken?: string;
}

interface AuthCode {
  userId: string;
  scope: string;
  redirectUri: string;
  codeChallenge?: string;
  challengeMethod: 'S256' | 'plain';
  offline: boolean;
  forceConsent: boolean;
  expiresAt: number;
}

const CODE_LIFETIME_MS = 10 * 60_000;
const EXPIRED_OR_REVOKED = 'Token has been expired or revoked.';

/** Google's token rules: long-lived reusable refresh tokens, refresh responses without a new refresh token. */
export class GoogleGrants {
  readonly #opts: GoogleGrantsOptions;
  readonly #refresh = new Map<string, RefreshGrant>();
  readonly #access = new Map<string, AccessGrant>();
  /** userId → that user's refresh tokens, oldest first. */
  readonly #userTokens = new Map<string, string[]>();
  readonly #codes = new Map<string, AuthCode>();

  constructor(options: GoogleGrantsOptions) {
    this.#opts = options;
  }

  issueCode(code: Omit<AuthCode, 'expiresAt'>): string {
    const value = `4/0A${randomChars('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', 70)}`;
    this.#codes.set(value, { ...code, expiresAt: this.#opts.now() + CODE_LIFETIME_MS });
    return value;
  }

  exchangeCode(code: string, redirectUri: string | null, verifier: string | null): GoogleGrantResult {
    const grant = this.#codes.get(code);
    this.#codes.delete(code);
    if (!grant || grant.expiresAt <= this.#opts.now())
      return fail(400, 'invalid_grant', 'Malformed auth code.');
    if (redirectUri !== grant.redirectUri) return fail(400, 'redirect_uri_mismatch', 'Bad Request');
    if (grant.codeChallenge !== undefined) {
      if (verifier === null) return fail(400, 'invalid_grant', 'Missing code verifier.');
      const derived = grant.challengeMethod === 'S256' ? s256(verifier) : verifier;
      if (!isValidVerifier(verifier) || !safeEqual(derived, grant.codeChallenge)) {
        return fail(400, 'invalid_grant', 'Invalid code verifier.');
      }
    }
    // Without prompt=consent Google issues a refresh token only on the user's first offline consent.
    const issueRefresh = grant.offline && (grant.forceConsent || !this.activeRefreshToken(grant.userId));
    const refreshToken = issueRefresh ? this.#issueRefresh(grant.userId, grant.scope) : undefined;
    const response = this.#issueAccess(grant.userId, grant.scope, refreshToken);
    return { ok: true, response: refreshToken ? { ...response, refresh_token: refreshToken } : response };
  }

  refresh(refreshToken: string): GoogleGrantResult {
    const grant = this.#liveRefresh(refreshToken);
    if (!grant) return fail(400, 'invalid_grant', EXPIRED_OR_REVOKED);
    grant.lastUsedAt = this.#opts.now();
    return { ok: true, response: this.#issueAccess(grant.userId, grant.scope, refreshToken) };
  }

  checkAccess(accessToken: string): { userId: string; scope: string } | undefined {
    const grant = this.#access.get(accessToken);
    return grant && grant.expiresAt > this.#opts.now() ? grant : undefined;
  }

  /** Revoking an access token also revokes the refresh token it came from. False for unknown tokens. */
  revoke(token: string): boolean {
    const refreshToken = this.#refresh.has(token) ? token : this.#access.get(token)?.refreshToken;
    if (refreshToken) {
      this.#dropRefresh(refreshToken);
      return true;
    }
    return this.#access.delete(token);
  }

  seed(userId: string, scope: string): GoogleTokenResponse & { refresh_token: string } {
    const refreshToken = this.#issueRefresh(userId, scope);
    return { ...this.#issueAccess(userId, scope, refreshToken), refresh_token: refreshToken };
  }

  /** The newest refresh token of the user that still works. */
  activeRefreshToken(userId: string): string | undefined {
    return [...(this.#userTokens.get(userId) ?? [])].findLast(
      (token) => this.#liveRefresh(token) !== undefined,
    );
  }

  #liveRefresh(refreshToken: string): RefreshGrant | undefined {
    const grant = this.#refresh.get(refreshToken);
    if (!grant) return undefined;
    const now = this.#opts.now();
    const testingLifetime = this.#opts.testingAppRefreshTokenLifetimeMs;
    const testingExpired = testingLifetime !== undefined && now - grant.issuedAt >= testingLifetime;
    if (testingExpired || now - grant.lastUsedAt >= this.#opts.unusedRefreshTokenLifetimeMs) {
      this.#dropRefresh(refreshToken);
      return undefined;
    }
    return grant;
  }

  #issueRefresh(userId: string, scope: string): string {
    const token = randomToken('1//0g');
    const now = this.#opts.now();
    this.#refresh.set(token, { userId, scope, issuedAt: now, lastUsedAt: now });
    const tokens = this.#userTokens.get(userId) ?? [];
    tokens.push(token);
    this.#userTokens.set(userId, tokens);
    while (tokens.length > this.#opts.maxRefreshTokensPerUser) {
      const oldest = tokens[0];
      if (oldest) this.#dropRefresh(oldest);
    }
    return token;
  }

  #issueAccess(userId: string, scope: string, refreshToken: string | undefined): GoogleTokenResponse {
    const now = this.#opts.now();
    for (const [token, grant] of this.#access) if (grant.expiresAt <= now) this.#access.delete(token);
    const accessToken = randomToken('ya29.a0', 96);
    const lifetime = this.#opts.accessTokenLifetimeSeconds;
    const grant: AccessGrant = { userId, scope, expiresAt: now + lifetime * 1000 };
    if (refreshToken) grant.refreshToken = refreshToken;
    this.#access.set(accessToken, grant);
    return { access_token: accessToken, expires_in: lifetime, scope, token_type: 'Bearer' };
  }

  #dropRefresh(refreshToken: string): void {
    const grant = this.#refresh.get(refreshToken);
    if (!grant) return;
    this.#refresh.delete(refreshToken);
    const tokens = this.#userTokens.get(grant.userId) ?? [];
    const index = tokens.indexOf(refreshToken);
    if (index >= 0) tokens.splice(index, 1);
    for (const [token, access] of this.#access)
      if (access.refreshToken === refreshToken) this.#access.delete(token);
  }
}

function fail(status: number, error: string, description: string): GoogleGrantResult {
  return { ok: false, status, error, description };
}
