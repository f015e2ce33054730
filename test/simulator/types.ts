/** A misbehaviour served by the token endpoint instead of (or around) its normal answer. */
export type Fault =
  | { kind: 'status'; status: number; body?: string | object; headers?: Record<string, string> }
  /** Never answer, until the simulator closes or the client disconnects. */
  | { kind: 'hang' }
  /** Wait, then process the request normally. */
  | { kind: 'delay'; ms: number }
  /** A non-JSON body (an HTML error page), status 200 unless given. */
  | { kind: 'garbage'; status?: number }
  /** A 200 response whose body is `bytes` long. */
  | { kind: 'oversized'; bytes: number }
  /** Destroy the socket (TCP RST) without answering. */
  | { kind: 'reset' }
  /** Process the request (the refresh token is now spent, the new pair exists) but never send the answer. */
  | { kind: 'rotate-then-hang' }
  /** Process the request, then answer an error instead of the result. */
  | { kind: 'rotate-then-status'; status: number; body?: string | object; headers?: Record<string, string> }
  /**
   * Answer successfully but leave these fields out of the token response. Leaving out `refresh_token` means the
   * provider did not rotate (the presented one stays valid); leaving out `expires_in` drops every expiry field.
   */
  | { kind: 'omit'; fields: Array<'refresh_token' | 'expires_in' | 'scope'> };

export interface RequestRecord {
  method: string;
  path: string;
  grantType?: string;
  /** Simulator clock (epoch ms) at arrival. */
  at: number;
  /** Set once the response has been sent; absent for hung or reset requests. */
  status?: number;
}

export interface ProviderStats {
  /** Every request to the token endpoint, faulted or not. */
  tokenRequests: number;
  /** Token requests with grant_type=refresh_token. */
  refreshRequests: number;
  /** Refreshes that issued new tokens (grace replays excluded). */
  refreshSuccesses: number;
  /** Refreshes answered by replaying the response of a refresh token spent within the grace window. */
  graceReplays: number;
  /** invalid_grant answers (refresh and code exchange). */
  invalidGrant: number;
  /** Successful authorization-code exchanges. */
  codeExchanges: number;
  /** Accepted revocation requests. */
  revocations: number;
  /** Injected faults taken from the queue. */
  faultsServed: number;
  /** Requests answered 429 by the simulated rate limit (not injected faults). */
  rateLimited: number;
  /** Requests to the simulated resource API (profile / userinfo). */
  apiRequests: number;
  /** The most recent requests (bounded), oldest first. */
  requests: RequestRecord[];
}

export interface SeedGrantOptions {
  userId?: string;
  scope?: string;
}

export interface SeededGrant {
  accessToken: string;
  refreshToken: string;
  userId: string;
  expiresIn: number;
  scope: string;
}

export interface SimulatedProvider {
  readonly provider: 'fitbit' | 'google';
  /** Base URL, e.g. http://127.0.0.1:54321 */
  readonly url: string;
  readonly tokenUrl: string;
  readonly authorizeUrl: string;
  readonly revokeUrl: string;
  /** Base URL of the simulated resource API. */
  readonly apiUrl?: string;
  /** GET with `Authorization: Bearer <access token>`: 200 while the token works. */
  readonly profileUrl: string;
  readonly clientId: string;
  /** Absent for Fitbit "client" (public) apps. */
  readonly clientSecret?: string;
  readonly stats: ProviderStats;
  /** Creates a consented user as if they had connected earlier; replaces that user's tokens where rotation applies. */
  seedGrant(options?: SeedGrantOptions): SeededGrant;
  activeRefreshToken(userId: string): string | undefined;
  /** Queues `fault` for the next `times` (default 1) token-endpoint requests, first in first out. */
  inject(fault: Fault, times?: number): void;
  clearFaults(): void;
  /** Closes the server and destroys every socket, hung ones included. */
  close(): Promise<void>;
}

export interface SimulatorBaseOptions {
  clientId?: string;
  clientSecret?: string;
  /** Only loopback: simulated providers never listen on other interfaces. */
  host?: '127.0.0.1';
  /** 0 (default) picks a free port. */
  port?: number;
  /** Delay before answering token requests, in ms. */
  latencyMs?: number | (() => number);
  /** Clock (epoch ms) for expiry, grace windows and rate limits; lets tests move time without sleeping. */
  now?: () => number;
  /** The user who "consents" on the authorize page (unless the request has a login_hint). Random if absent. */
  userId?: string;
  /**
   * Send `refresh_token_expires_in` with this many seconds in every token response that issues a refresh token
   * (draft-ietf-oauth-refresh-token-expiration). Absent: the field is not sent, as most providers do.
   */
  refreshTokenExpiresInSeconds?: number;
}
