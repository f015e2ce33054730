/**
 * A lean Fitbit token endpoint for 100,000-user benchmarks: single-use refresh tokens (one active pair per
 * user), Fitbit's 2-minute grace window judged by time per user (the full simulator remembers only the last
 * 10,000 spent tokens, which at hundreds of refreshes a second is shorter than the window), Basic client auth,
 * Fitbit-shaped errors, a per-user hourly limit, and a fixed latency split around the rotation — so a client
 * killed mid-request has spent its token, the hard case for recovery. Two entries per user, nothing else kept.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SeededGrant } from '../../test/simulator/index.ts';

interface UserTokens {
  accessToken: string;
  refreshToken: string;
  response: string;
  /** The refresh token spent to obtain the current pair, and when. */
  previous?: { refreshToken: string; spentAt: number };
  hour: number;
  requestsThisHour: number;
}

export interface FakeFitbitStats {
  refreshRequests: number;
  /** Rotations: a refresh token spent for the first time. */
  refreshSuccesses: number;
  /** A just-spent refresh token presented again inside the grace window: answered with the same pair. */
  graceReplays: number;
  /** A refresh token spent twice outside the grace window, or unknown. */
  invalidGrant: number;
  /** Users whose just-spent refresh token came back after the grace window (among invalidGrant): too late. */
  lateReplayUsers: Set<string>;
  rateLimited: number;
  /** Successful refresh answers per `?worker=` query parameter of the token URL (each bench worker has its own). */
  answeredByWorker: Map<string, number>;
}

export interface FakeFitbit {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  stats: FakeFitbitStats;
  seedGrant(options: { userId: string }): SeededGrant;
  activeRefreshToken(userId: string): string | undefined;
  close(): Promise<void>;
}

const SCOPE = 'activity heartrate profile sleep';
const LIFETIME_SECONDS = 28_800;

export async function startFakeFitbit(options: {
  latencyMs: number;
  graceMs?: number;
  rateLimitPerHour?: number;
}): Promise<FakeFitbit> {
  const clientId = 'bench-client';
  const clientSecret = randomBytes(12).toString('base64url');
  const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
  const graceMs = options.graceMs ?? 120_000;
  const limit = options.rateLimitPerHour ?? 150;
  const users = new Map<string, UserTokens>();
  const userOfRefreshToken = new Map<string, string>();
  const stats: FakeFitbitStats = {
    refreshRequests: 0,
    refreshSuccesses: 0,
    graceReplays: 0,
    invalidGrant: 0,
    lateReplayUsers: new Set(),
    rateLimited: 0,
    answeredByWorker: new Map(),
  };

  function issue(userId: string, previous?: UserTokens['previous']): UserTokens {
    const accessToken = `fa_${randomBytes(24).toString('base64url')}`;
    const refreshToken = `fr_${randomBytes(24).toString('base64url')}`;
    const old = users.get(userId);
    const tokens: UserTokens = {
      accessToken,
      refreshToken,
      response: JSON.stringify({
        access_token: accessToken,
        expires_in: LIFETIME_SECONDS,
        refresh_token: refreshToken,
        scope: SCOPE,
        token_type: 'Bearer',
        user_id: userId,
      }),
      previous,
      hour: old?.hour ?? 0,
      requestsThisHour: old?.requestsThisHour ?? 0,
    };
    if (old?.previous) userOfRefreshToken.delete(old.previous.refreshToken);
    users.set(userId, tokens);
    userOfRefreshToken.set(refreshToken, userId);
    return tokens;
  }

  function refresh(token: string): { status: number; body: string } {
    const userId = userOfRefreshToken.get(token);
    const user = userId === undefined ? undefined : users.get(userId);
    if (!user || userId === undefined) return invalidGrant();
    const hour = Math.floor(Date.now() / 3_600_000);
    if (user.hour !== hour) {
      user.hour = hour;
      user.requestsThisHour = 0;
    }
    if (++user.requestsThisHour > limit) {
      stats.rateLimited++;
      return fitbitError(429, 'system', 'Too Many Requests');
    }
    if (token === user.refreshToken) {
      stats.refreshSuccesses++;
      return { status: 200, body: issue(userId, { refreshToken: token, spentAt: Date.now() }).response };
    }
    if (user.previous?.refreshToken === token) {
      if (Date.now() - user.previous.spentAt < graceMs) {
        stats.graceReplays++;
        return { status: 200, body: user.response };
      }
      stats.lateReplayUsers.add(userId);
    }
    return invalidGrant();
  }

  function invalidGrant() {
    stats.invalidGrant++;
    return fitbitError(
      400,
      'invalid_grant',
      'Refresh token invalid: [token]. Visit https://dev.fitbit.com/docs/oauth2',
    );
  }

  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://fitbit');
    if (req.method !== 'POST' || url.pathname !== '/oauth2/token') {
      return send(res, fitbitError(404, 'not_found', 'The API you are requesting could not be found.'));
    }
    if (req.headers.authorization !== basic) {
      return send(res, fitbitError(401, 'invalid_client', 'Invalid authorization header.'));
    }
    const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    const token = params.get('refresh_token');
    if (params.get('grant_type') !== 'refresh_token' || !token) {
      return send(res, fitbitError(400, 'invalid_request', 'Missing parameters: refresh_token.'));
    }
    stats.refreshRequests++;
    await wait(options.latencyMs / 2);
    const answer = refresh(token);
    const worker = url.searchParams.get('worker');
    if (answer.status === 200 && worker !== null) {
      stats.answeredByWorker.set(worker, (stats.answeredByWorker.get(worker) ?? 0) + 1);
    }
    await wait(options.latencyMs / 2);
    send(res, answer);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    tokenUrl: `http://127.0.0.1:${port}/oauth2/token`,
    clientId,
    clientSecret,
    stats,
    seedGrant({ userId }) {
      const tokens = issue(userId);
      return {
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken,
        userId,
        expiresIn: LIFETIME_SECONDS,
        scope: SCOPE,
      };
    },
    activeRefreshToken: (userId) => users.get(userId)?.refreshToken,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function fitbitError(status: number, errorType: string, message: string) {
  return { status, body: JSON.stringify({ errors: [{ errorType, message }], success: false }) };
}

function send(res: ServerResponse, answer: { status: number; body: string }): void {
  res.writeHead(answer.status, {
    'content-type': 'application/json;charset=UTF-8',
    'content-length': Buffer.byteLength(answer.body),
  });
  res.end(answer.body);
}
