import { isValidVerifier, randomChars, randomToken, s256, safeEqual } from './tokens.ts';
import { withToken } from './fitbit-errors.ts';

export interface FitbitTokenResponse {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  scope: string;
  token_type: 'Bearer';
  user_id: string;
}

export type GrantResult =
  | { ok: true; response: FitbitTokenResponse; replay: boolean }
  | { ok: false; status: number; errorType: string; message: string };

export type AccessCheck =
  | { ok: true; userId: string; scope: string }
  | { ok: false; errorType: 'expired_token' | 'invalid_token'; message: string };

export interface FitbitGrantsOptions {
  now: () => number;
  accessTokenLifetimeSeconds: number;
  graceMs: number;
  echoTokenInErrors: boolean;
  /** RFC 9700 §4.14.2 style: reusing a spent refresh token outside the grace window revokes the user's tokens. */
  revokeOnReuse: boolean;
}

interface Pair {
  userId: string;
  accessToken: string;
  refreshToken: string;
  accessExpiresAt: number;
  accessUsed: boolean;
  response: FitbitTokenResponse;
}

interface AuthCode {
  userId: string;
  scope: string;
  redirectUri: string;
  codeChallenge: string;
  expiresAt: number;
}

const CODE_LIFETIME_MS = 10 * 60_000;
// Spent refresh tokens are remembered for grace replays and reuse detection; beyond this many, those past their
// grace window are forgotten.
const SPENT_LIMIT = 10_000;

/** Fitbit's token rules: one active pair per user, single-use refresh tokens, a short grace for identical retries. */
export class FitbitGrants {
  readonly #opts: FitbitGrantsOptions;
  readonly #current = new Map<string, Pair>();
  readonly #byAccess = new Map<string, Pair>();
  readonly #byRefresh = new Map<string, Pair>();
  readonly #spent = new Map<string, { spentAt: number; next: Pair }>();
  readonly #codes = new Map<string, AuthCode>();

  constructor(options: FitbitGrantsOptions) {
    this.#opts = options;
  }

  issueCode(code: Omit<AuthCode, 'expiresAt'>): string {
    const value = randomChars('0123456789abcdef', 40);
    this.#codes.set(value, { ...code, expiresAt: this.#opts.now() + CODE_LIFETIME_MS });
    return value;
  }

  exchangeCode(code: string, redirectUri: string | null, verifier: string | null): GrantResult {
    const grant = this.#codes.get(code);
    this.#codes.delete(code); // single use, even when the exchange fails
    if (!grant || grant.expiresAt <= this.#opts.now()) {
      return this.#fail(
        400,
        'invalid_grant',
        withToken('Authorization code invalid', code, this.#opts.echoTokenInErrors),
      );
    }
    if (redirectUri !== grant.redirectUri) {
      return this.#fail(400, 'invalid_request', 'Invalid redirect_uri parameter value.');
    }
    if (verifier === null) return this.#fail(400, 'invalid_request', 'Missing parameters: code_verifier.');
    if (!isValidVerifier(verifier)) {
      return this.#fail(400, 'invalid_request', 'The code_verifier must be 43 to 128 unreserved characters.');
    }
    if (!safeEqual(s256(verifier), grant.codeChallenge)) {
      return this.#fail(400, 'invalid_grant', 'Invalid code_verifier.');
    }
    return { ok: true, response: this.#issue(grant.userId, grant.scope).response, replay: false };
  }

  refresh(refreshToken: string, expiresIn?: number): GrantResult {
    const now = this.#opts.now();
    const pair = this.#byRefresh.get(refreshToken);
    if (pair) {
      const next = this.#issue(pair.userId, pair.response.scope, expiresIn);
      this.#rememberSpent(refreshToken, now, next);
      return { ok: true, response: next.response, replay: false };
    }
    const spent = this.#spent.get(refreshToken);
    if (spent) {
      const { next } = spent;
      const nextUntouched = this.#current.get(next.userId) === next && !next.accessUsed;
      if (nextUntouched && now - spent.spentAt < this.#opts.graceMs) {
        return { ok: true, response: next.response, replay: true };
      }
      if (this.#opts.revokeOnReuse) this.#revokeUser(next.userId);
    }
    return this.#fail(
      400,
      'invalid_grant',
      withToken('Refresh token invalid', refreshToken, this.#opts.echoTokenInErrors),
    );
  }

  checkAccess(accessToken: string): AccessCheck {
    const pair = this.#byAccess.get(accessToken);
    const echo = this.#opts.echoTokenInErrors;
    if (!pair)
      return {
        ok: false,
        errorType: 'invalid_token',
        message: withToken('Access token invalid', accessToken, echo),
      };
    if (pair.accessExpiresAt <= this.#opts.now()) {
      return {
        ok: false,
        errorType: 'expired_token',
        message: withToken('Access token expired', accessToken, echo),
      };
    }
    return { ok: true, userId: pair.userId, scope: pair.response.scope };
  }

  /** Records a successful API call; from then on the grace window no longer covers the refresh that made it. */
  markAccessUsed(accessToken: string): void {
    const pair = this.#byAccess.get(accessToken);
    if (pair) pair.accessUsed = true;
  }

  /** Revoking either token of a user revokes all that user's tokens; unknown tokens are ignored. */
  revoke(token: string): void {
    const pair = this.#byAccess.get(token) ?? this.#byRefresh.get(token);
    if (pair) this.#revokeUser(pair.userId);
  }

  seed(userId: string, scope: string): FitbitTokenResponse {
    return this.#issue(userId, scope).response;
  }

  activeRefreshToken(userId: string): string | undefined {
    return this.#current.get(userId)?.refreshToken;
  }

  /** The user a token request is about (for per-user rate limits), without side effects. */
  userOf(params: URLSearchParams): string | undefined {
    const code = params.get('code');
    const refreshToken = params.get('refresh_token');
    if (code) return this.#codes.get(code)?.userId;
    if (refreshToken) {
      return this.#byRefresh.get(refreshToken)?.userId ?? this.#spent.get(refreshToken)?.next.userId;
    }
    return undefined;
  }

  #issue(userId: string, scope: string, expiresIn = this.#opts.accessTokenLifetimeSeconds): Pair {
    this.#revokeUser(userId);
    const accessToken = randomToken('fa_');
    const refreshToken = randomToken('fr_');
    const pair: Pair = {
      userId,
      accessToken,
      refreshToken,
      accessExpiresAt: this.#opts.now() + expiresIn * 1000,
      accessUsed: false,
      response: {
        access_token: accessToken,
        expires_in: expiresIn,
        refresh_token: refreshToken,
        scope,
        token_type: 'Bearer',
        user_id: userId,
      },
    };
    this.#current.set(userId, pair);
    this.#byAccess.set(accessToken, pair);
    this.#byRefresh.set(refreshToken, pair);
    return pair;
  }

  #revokeUser(userId: string): void {
    const pair = this.#current.get(userId);
    if (!pair) return;
    this.#current.delete(userId);
    this.#byAccess.delete(pair.accessToken);
    this.#byRefresh.delete(pair.refreshToken);
  }

  #rememberSpent(refreshToken: string, spentAt: number, next: Pair): void {
    this.#spent.set(refreshToken, { spentAt, next });
    if (this.#spent.size <= SPENT_LIMIT) return;
    // Forget the oldest, but never one still inside its grace window: the grace is a time rule, not a count.
    for (const [token, record] of this.#spent) {
      if (spentAt - record.spentAt < this.#opts.graceMs || this.#spent.size <= SPENT_LIMIT) break;
      this.#spent.delete(token);
    }
  }

  #fail(status: number, errorType: string, message: string): GrantResult {
    return { ok: false, status, errorType, message };
  }
}
