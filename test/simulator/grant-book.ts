import { isValidVerifier, randomChars, randomToken, s256, safeEqual } from './tokens.ts';

/**
 * What a simulated provider does with a refresh token when it is used.
 * - `reusable`: it never changes; refresh responses carry no refresh token (Google-style).
 * - `rotate-keep-old`: every refresh returns a new one and the old ones keep working (Microsoft).
 * - `single-use`: every refresh returns a new one; the old one is rejected from then on.
 * - `reuse-revokes-family`: single-use, and presenting a spent one revokes the whole grant (RFC 9700 §4.14.2).
 * - `old-dies-later`: Withings — the old one works until the new access token is used or `oldTokenGraceMs` passes.
 */
export type SimRotation =
  'reusable' | 'rotate-keep-old' | 'single-use' | 'reuse-revokes-family' | 'old-dies-later';

/** public: client_id only (PKCE / device apps); confidential: authenticated with the secret. */
export type ClientKind = 'public' | 'confidential';

/** An RFC 6749 §5.2 error, before a simulator renders it in its provider's shape. */
export interface SimError {
  status: number;
  error: string;
  description: string;
}

export interface StandardTokenBody {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token?: string;
  scope: string;
}

export type GrantResult =
  { ok: true; body: StandardTokenBody; userId?: string } | { ok: false; error: SimError };

interface Family {
  userId: string;
  scope: string;
  clientKind: ClientKind;
  revoked: boolean;
  current?: string;
  currentAccess?: AccessRecord;
}

interface RefreshRecord {
  family: Family;
  spentAt?: number;
  successor?: AccessRecord;
}

export interface AccessRecord {
  token: string;
  userId?: string;
  scope: string;
  expiresAt: number;
  used: boolean;
  family?: Family;
}

interface AuthCode {
  userId: string;
  scope: string;
  redirectUri: string;
  codeChallenge?: string;
  clientKind: ClientKind;
  expiresAt: number;
}

interface DeviceRecord {
  deviceCode: string;
  userCode: string;
  scope: string;
  clientKind: ClientKind;
  expiresAt: number;
  intervalMs: number;
  lastPollAt?: number;
  state: 'pending' | 'approved' | 'denied';
  userId?: string;
}

export interface GrantBookOptions {
  now: () => number;
  accessTokenLifetimeSeconds: number;
  rotation: (client: ClientKind) => SimRotation;
  tokenPrefix: { access: string; refresh: string };
  /** Refresh tokens are issued only when this scope was granted (e.g. "offline", "offline_access"). */
  offlineScope?: string;
  /** PKCE: required for every client, only for public clients, or ignored (the provider does not support it). */
  pkce: 'required' | 'public-only' | 'ignored';
  codeLifetimeMs: number;
  oldTokenGraceMs: number;
  /** Strava: a refresh while the access token has more than this long left returns the same tokens. */
  reuseTokensWithinSeconds?: number;
}

const fail = (status: number, error: string, description: string): GrantResult => ({
  ok: false,
  error: { status, error, description },
});

/**
 * The token state of a simulated provider: authorization codes, grants ("families" of refresh tokens), access
 * tokens, device codes. Rotation follows `SimRotation`; time comes from the injected clock.
 */
export class GrantBook {
  readonly #opts: GrantBookOptions;
  readonly #refresh = new Map<string, RefreshRecord>();
  readonly #access = new Map<string, AccessRecord>();
  readonly #codes = new Map<string, AuthCode>();
  readonly #devices = new Map<string, DeviceRecord>();
  readonly #families: Family[] = [];
  #slowDownNext = false;
  familyRevocations = 0;

  constructor(options: GrantBookOptions) {
    this.#opts = options;
  }

  issueCode(code: Omit<AuthCode, 'expiresAt'>): string {
    const value = randomChars('0123456789abcdef', 40);
    this.#codes.set(value, { ...code, expiresAt: this.#opts.now() + this.#opts.codeLifetimeMs });
    return value;
  }

  exchangeCode(
    code: string,
    redirectUri: string | null,
    verifier: string | null,
    client: ClientKind,
  ): GrantResult {
    const grant = this.#codes.get(code);
    this.#codes.delete(code); // single use, even when the exchange fails
    if (!grant || grant.expiresAt <= this.#opts.now()) return fail(400, 'invalid_grant', 'invalid code');
    if (redirectUri !== grant.redirectUri) return fail(400, 'invalid_grant', 'redirect_uri does not match');
    const pkce = this.#opts.pkce;
    const checkPkce = pkce === 'required' || (pkce === 'public-only' && grant.codeChallenge !== undefined);
    if (checkPkce) {
      if (grant.codeChallenge === undefined) return fail(400, 'invalid_request', 'code_challenge required');
      if (
        verifier === null ||
        !isValidVerifier(verifier) ||
        !safeEqual(s256(verifier), grant.codeChallenge)
      ) {
        return fail(400, 'invalid_grant', 'PKCE verification failed');
      }
    }
    return { ok: true, body: this.#issueGrant(grant.userId, grant.scope, client), userId: grant.userId };
  }

  /** `rotate` false answers without a new refresh token, leaving the presented one valid (RFC 6749 §6). */
  refresh(token: string, options: { rotate: boolean }): GrantResult {
    const record = this.#refresh.get(token);
    if (!record || record.family.revoked)
      return fail(400, 'invalid_grant', 'refresh token is invalid or revoked');
    const { family } = record;
    const rule = this.#opts.rotation(family.clientKind);
    const now = this.#opts.now();
    if (record.spentAt !== undefined) {
      if (rule === 'reuse-revokes-family') {
        this.#revokeFamily(family);
        this.familyRevocations++;
        return fail(400, 'invalid_grant', 'refresh token was already used; the grant is revoked');
      }
      const stillValid =
        rule === 'rotate-keep-old' ||
        (rule === 'old-dies-later' &&
          now - record.spentAt < this.#opts.oldTokenGraceMs &&
          !record.successor?.used);
      if (!stillValid) return fail(400, 'invalid_grant', 'refresh token was already used');
    }
    const reuseWithin = this.#opts.reuseTokensWithinSeconds;
    const current = family.currentAccess;
    if (reuseWithin !== undefined && family.current === token && current) {
      const left = Math.floor((current.expiresAt - now) / 1000);
      if (left > reuseWithin)
        return { ok: true, body: this.#body(current, left, token), userId: family.userId };
    }
    const access = this.#issueAccess(family.userId, family.scope, family);
    const rotate = options.rotate && rule !== 'reusable';
    if (!rotate) return { ok: true, body: this.#body(access), userId: family.userId };
    const next = this.#newRefresh(family);
    // The first exchange decides when the token was spent and which access token retires it (Withings).
    if (record.spentAt === undefined) {
      record.spentAt = now;
      record.successor = access;
    }
    return { ok: true, body: this.#body(access, undefined, next), userId: family.userId };
  }

  /** RFC 6749 §4.4: an access token for the client itself, never a refresh token. */
  clientCredentials(scope: string): GrantResult {
    const access = this.#issueAccess(undefined, scope, undefined);
    return { ok: true, body: this.#body(access) };
  }

  seed(userId: string, scope: string, client: ClientKind): StandardTokenBody & { refresh_token: string } {
    const body = this.#issueGrant(userId, scope, client, true);
    return { ...body, refresh_token: body.refresh_token as string };
  }

  /** The user disconnects the app at the provider: every grant of that user stops working. */
  revokeUser(userId: string): void {
    for (const family of this.#families) if (family.userId === userId) this.#revokeFamily(family);
  }

  /** RFC 7009: revoking either kind of token revokes its grant; unknown tokens are ignored. */
  revokeToken(token: string): void {
    const family = this.#refresh.get(token)?.family ?? this.#access.get(token)?.family;
    if (family) this.#revokeFamily(family);
    else this.#access.delete(token);
  }

  /** The access token's grant if it works now; marks it used (Withings retires the old refresh token then). */
  useAccess(token: string): AccessRecord | undefined {
    const access = this.#access.get(token);
    if (!access || access.expiresAt <= this.#opts.now() || access.family?.revoked) return undefined;
    access.used = true;
    return access;
  }

  activeRefreshToken(userId: string): string | undefined {
    const family = this.#families.findLast((candidate) => candidate.userId === userId && !candidate.revoked);
    return family?.current;
  }

  startDevice(
    scope: string,
    client: ClientKind,
    intervalSeconds: number,
    expiresInSeconds: number,
  ): DeviceRecord {
    const record: DeviceRecord = {
      deviceCode: randomToken('dc_'),
      userCode: `${randomChars('BCDFGHJKLMNPQRSTVWXZ', 4)}-${randomChars('BCDFGHJKLMNPQRSTVWXZ', 4)}`,
      scope,
      clientKind: client,
      expiresAt: this.#opts.now() + expiresInSeconds * 1000,
      intervalMs: intervalSeconds * 1000,
      state: 'pending',
    };
    this.#devices.set(record.deviceCode, record);
    return record;
  }

  /** The user entered the code and approved (or declined) on the verification page. */
  decideDevice(userCode: string, decision: { approve: true; userId: string } | { approve: false }): boolean {
    const record = [...this.#devices.values()].find((candidate) => candidate.userCode === userCode);
    if (!record || record.state !== 'pending') return false;
    record.state = decision.approve ? 'approved' : 'denied';
    if (decision.approve) record.userId = decision.userId;
    return true;
  }

  /** The next device-code poll is answered slow_down. */
  demandSlowDown(): void {
    this.#slowDownNext = true;
  }

  pollDevice(deviceCode: string): GrantResult {
    const record = this.#devices.get(deviceCode);
    if (!record) return fail(400, 'invalid_grant', 'unknown device_code');
    const now = this.#opts.now();
    if (now >= record.expiresAt) {
      this.#devices.delete(deviceCode);
      return fail(400, 'expired_token', 'the device code expired');
    }
    // Polling faster than the interval (with a margin for timer jitter) is answered slow_down, as RFC 8628 says.
    const tooFast = record.lastPollAt !== undefined && now - record.lastPollAt < record.intervalMs * 0.8;
    record.lastPollAt = now;
    if (tooFast || this.#slowDownNext) {
      this.#slowDownNext = false;
      return fail(400, 'slow_down', 'polling too often');
    }
    if (record.state === 'denied') {
      this.#devices.delete(deviceCode);
      return fail(400, 'access_denied', 'the user declined');
    }
    if (record.state === 'pending') return fail(400, 'authorization_pending', 'waiting for the user');
    this.#devices.delete(deviceCode);
    const userId = record.userId as string;
    return { ok: true, body: this.#issueGrant(userId, record.scope, record.clientKind), userId };
  }

  #issueGrant(userId: string, scope: string, client: ClientKind, forceRefresh = false): StandardTokenBody {
    const family: Family = { userId, scope, clientKind: client, revoked: false };
    this.#families.push(family);
    const access = this.#issueAccess(userId, scope, family);
    const offline = this.#opts.offlineScope;
    const issueRefresh = forceRefresh || offline === undefined || scope.split(/[ ,]/).includes(offline);
    return this.#body(access, undefined, issueRefresh ? this.#newRefresh(family) : undefined);
  }

  #newRefresh(family: Family): string {
    const token = randomToken(this.#opts.tokenPrefix.refresh);
    this.#refresh.set(token, { family });
    family.current = token;
    return token;
  }

  #issueAccess(userId: string | undefined, scope: string, family: Family | undefined): AccessRecord {
    const now = this.#opts.now();
    for (const [token, access] of this.#access) if (access.expiresAt <= now) this.#access.delete(token);
    const token = randomToken(this.#opts.tokenPrefix.access);
    const access: AccessRecord = {
      token,
      userId,
      scope,
      expiresAt: now + this.#opts.accessTokenLifetimeSeconds * 1000,
      used: false,
      family,
    };
    this.#access.set(token, access);
    if (family) family.currentAccess = access;
    return access;
  }

  #body(access: AccessRecord, expiresIn?: number, refreshToken?: string): StandardTokenBody {
    const body: StandardTokenBody = {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: expiresIn ?? this.#opts.accessTokenLifetimeSeconds,
      scope: access.scope,
    };
    if (refreshToken) body.refresh_token = refreshToken;
    return body;
  }

  #revokeFamily(family: Family): void {
    family.revoked = true;
    family.current = undefined;
  }
}
