/** Lifecycle of a connection. `refreshing` is the write-ahead mark of an attempt whose outcome is not yet saved. */
export type ConnectionStatus = 'active' | 'refreshing' | 'needs_reauth' | 'provider_retired' | 'failing';

/** Statuses no retry can fix: a human must reconnect the account (or move it to another provider). */
export type HumanStatus = Extract<ConnectionStatus, 'needs_reauth' | 'provider_retired'>;

/**
 * Whether a status is one no retry can fix (the one definition: schedulers skip these, faces flag them). Takes
 * any string so that presentation code holding a status as text asks the same question.
 */
export function needsHuman(status: string): status is HumanStatus {
  return status === 'needs_reauth' || status === 'provider_retired';
}

export interface TokenSet {
  accessToken?: string;
  refreshToken?: string;
  /** Epoch milliseconds at which the access token stops working. */
  expiresAt?: number;
  /** Epoch milliseconds at which this token set was issued (used for the "10 % of lifetime" margin). */
  obtainedAt?: number;
  /**
   * Epoch milliseconds at which the refresh token dies: from the provider's `refresh_token_expires_in`, or the
   * provider's known lifetime. Undefined: it does not expire by time, as far as anyone says.
   */
  refreshTokenExpiresAt?: number;
  /**
   * Epoch milliseconds at which the refresh token's current lifetime started (a consent, a new refresh token, or
   * a refresh that moved its expiry later): `refreshTokenExpiresAt - refreshTokenIssuedAt` is the lifetime it was
   * issued with, which picks its warning window. Undefined for sets saved before it was recorded.
   */
  refreshTokenIssuedAt?: number;
  scope?: string;
  tokenType?: string;
  providerUserId?: string;
}

/** The write-ahead record of a refresh in flight (design step 3). */
export interface PendingAttempt {
  attemptId: string;
  /** The refresh token being spent; equal to tokens.refreshToken until the new set is saved. */
  refreshToken: string;
  startedAt: number;
  owner: string;
}

/**
 * How a connection renews its access token: with its refresh token (consented accounts), or by asking again
 * with the client's own credentials (RFC 6749 §4.4 client-credentials connections, which have no refresh token).
 */
export type RenewalGrant = 'refresh_token' | 'client_credentials';

export interface Connection {
  name: string;
  provider: string;
  /** Default 'refresh_token'. */
  grant?: RenewalGrant;
  clientId: string;
  clientSecret?: string;
  tokens: TokenSet;
  status: ConnectionStatus;
  pending?: PendingAttempt;
  failureCount: number;
  lastError?: string;
  lastErrorAt?: number;
  lastRefreshAt?: number;
  /** Earliest time the scheduler may try again after a failure (epoch ms). */
  nextAttemptAt?: number;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export type NewConnection = Omit<Connection, 'version' | 'createdAt' | 'updatedAt'>;

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** What callers see of a connection: everything but the secrets. */
export interface ConnectionSummary {
  name: string;
  provider: string;
  account?: string;
  status: ConnectionStatus;
  scope?: string;
  expiresAt?: number;
  /** When the refresh token dies (epoch ms), if known. */
  refreshTokenExpiresAt?: number;
  /** The refresh token (or the client secret) dies within the warning window: a human should reconnect soon. */
  expiringSoon: boolean;
  /** What dies first of what is expiring soon, and when (epoch ms): the thing a human should act on. */
  expiring?: { what: 'refresh_token' | 'client_secret'; at: number };
  /** For a `provider_retired` connection: the provider that replaced its provider, to connect it again at. */
  successor?: string;
  lastRefreshAt?: number;
  nextRefreshAt?: number;
  lastError?: string;
  lastErrorAt?: number;
  failureCount: number;
  refreshInProgress: boolean;
  createdAt: number;
}

export interface NewConnectionInput {
  name: string;
  provider: string;
  clientId: string;
  clientSecret?: string;
  tokens: TokenSet;
  /** 'client_credentials' connections have no refresh token and renew by asking again. Default 'refresh_token'. */
  grant?: RenewalGrant;
}

export interface ReconnectOptions {
  /** Accept tokens of a different provider account than the connection had (the operator said so). */
  allowAccountChange?: boolean;
}

/** What `replace` did: the connection now at its new provider, and what became of the grant at the old one. */
export interface ReplacedConnection {
  summary: ConnectionSummary;
  previousProvider: string;
  /** Whether the old grant was revoked at the old provider (false: it could not be; see `revokeError`). */
  revoked: boolean;
  /** Why the old grant could not be revoked (e.g. the retired provider answers 410, or has no revocation URL). */
  revokeError?: string;
}
