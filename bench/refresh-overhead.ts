/**
 * Refresh overhead: a full `keeper.refresh(name, {force: true})` — rescue-journal check, store lock, write-ahead
 * record, token POST to the simulated Fitbit on loopback, durable save (SQLite WAL, synchronous=FULL), lock
 * release — against a raw `fetch` POST of the same refresh request to the same endpoint. Between the two,
 * `requestToken()` alone (tokenkeeper's HTTP client, no store) shows how the overhead splits.
 *
 * Each operation refreshes its own simulated Fitbit user and always spends the refresh token it was last issued,
 * so every request is a real single-use rotation answered 200 (no grace replays, no invalid_grant).
 */
import { createKeeper } from '../src/keeper/keeper.ts';
import { requestToken } from '../src/oauth/token-client.ts';
import { startSimulatedFitbit } from '../test/simulator/index.ts';
import { benchEnv, freshTokens, makeHome, removeHome } from './fixtures.ts';
import { measureInterleaved, progress, ratioOf, summarize, type BenchResult } from './stats.ts';

export interface RefreshBenchOptions {
  rounds?: number;
  warmup?: number;
}

const CONNECTION = 'bench-fitbit';

export async function benchRefreshOverhead(options: RefreshBenchOptions = {}): Promise<BenchResult> {
  const rounds = options.rounds ?? 300;
  const warmup = options.warmup ?? 30;
  const scope = 'refresh';
  const home = makeHome('refresh');
  // No rate limit in the way: ~700 refreshes per user in one run, far over Fitbit's 150/hour.
  const fitbit = await startSimulatedFitbit({ rateLimitPerHour: 1_000_000_000, userId: 'KEEPER' });
  try {
    const keeper = await createKeeper({
      env: benchEnv(home),
      config: {
        dataDir: home,
        providers: {
          fitbit: {
            tokenUrl: fitbit.tokenUrl,
            authorizationUrl: fitbit.authorizeUrl,
            revokeUrl: fitbit.revokeUrl,
            clientId: fitbit.clientId,
          },
        },
      },
    });
    try {
      const clientSecret = fitbit.clientSecret as string;
      const seeded = fitbit.seedGrant({ userId: 'KEEPER' });
      await keeper.addConnection({
        name: CONNECTION,
        provider: 'fitbit',
        clientId: fitbit.clientId,
        clientSecret,
        tokens: { ...freshTokens(seeded.accessToken, seeded.refreshToken), providerUserId: seeded.userId },
      });
      let refreshedEvents = 0;
      keeper.onEvent((event) => {
        if (event.type === 'refreshed' && event.name === CONNECTION) refreshedEvents++;
      });

      // Raw baseline: the same request tokenkeeper sends (Basic client auth, form body), body read and parsed.
      let rawRefreshToken = fitbit.seedGrant({ userId: 'RAWFETCH' }).refreshToken;
      const basic = `Basic ${Buffer.from(`${encodeURIComponent(fitbit.clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
      const rawRefresh = async () => {
        const response = await fetch(fitbit.tokenUrl, {
          method: 'POST',
          headers: {
            authorization: basic,
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
          },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rawRefreshToken }),
        });
        const body = (await response.json()) as { refresh_token?: unknown };
        if (response.status !== 200 || typeof body.refresh_token !== 'string') {
          throw new Error(`raw refresh answered HTTP ${response.status}: ${JSON.stringify(body)}`);
        }
        rawRefreshToken = body.refresh_token;
      };

      // requestToken() alone: tokenkeeper's token client (timeout, bounded body, classification), no store.
      const provider = keeper.providers.get('fitbit');
      let clientRefreshToken = fitbit.seedGrant({ userId: 'CLIENTONLY' }).refreshToken;
      const clientRefresh = async () => {
        const response = await requestToken({
          provider,
          clientId: fitbit.clientId,
          clientSecret,
          params: { grant_type: 'refresh_token', refresh_token: clientRefreshToken },
          timeoutMs: keeper.settings.http.timeoutMs,
          maxBodyBytes: keeper.settings.http.maxBodyBytes,
        });
        if (!response.refreshToken) throw new Error('requestToken: no rotated refresh token');
        clientRefreshToken = response.refreshToken;
      };

      // A forced refresh that did not reach the provider (coalesced) is not a full refresh: its sample is dropped.
      const keeperRefresh = async () => {
        const before = refreshedEvents;
        await keeper.refresh(CONNECTION, { force: true });
        return refreshedEvents > before;
      };

      progress(
        scope,
        `simulated Fitbit at ${fitbit.url}; ${warmup} warm-up + ${rounds} timed rounds of 3 ops`,
      );
      const { samples, rejected } = await measureInterleaved([keeperRefresh, clientRefresh, rawRefresh], {
        warmup,
        rounds,
        progressEvery: 50,
        onProgress: (done) => progress(scope, `${done}/${rounds} rounds`),
      });
      const [keeperSamples = [], clientSamples = [], rawSamples = []] = samples;

      const stats = fitbit.stats;
      const expectedSuccesses = refreshedEvents + 2 * (warmup + rounds);
      const notes: string[] = [];
      if ((rejected[0] ?? 0) > 0) {
        notes.push(
          `${rejected[0]} forced keeper refreshes returned without calling the provider (coalesced with the previous refresh); their samples were dropped`,
        );
      }
      if (stats.invalidGrant > 0 || stats.graceReplays > 0 || stats.refreshSuccesses !== expectedSuccesses) {
        notes.push(
          `simulator: ${stats.refreshSuccesses} successful rotations (expected ${expectedSuccesses}), ${stats.graceReplays} grace replays, ${stats.invalidGrant} invalid_grant`,
        );
      }
      const stored = await keeper.get(CONNECTION);
      if (stored?.status !== 'active')
        notes.push(`connection ended in status ${stored?.status ?? 'missing'}`);
      if (fitbit.activeRefreshToken('RAWFETCH') !== rawRefreshToken) {
        notes.push('raw baseline lost track of its rotated refresh token');
      }
      progress(
        scope,
        `done: ${stats.refreshSuccesses} rotations, ${stats.graceReplays} grace replays, ${stats.invalidGrant} invalid_grant`,
      );

      const keeperSummary = summarize(keeperSamples);
      const clientSummary = summarize(clientSamples);
      const rawSummary = summarize(rawSamples);
      const rawLabel = 'raw fetch POST + JSON parse';
      return {
        id: 'refresh-overhead',
        title: 'Refresh overhead',
        measurements: [
          { label: rawLabel, role: 'baseline', summary: rawSummary },
          {
            label: 'requestToken() only (no store)',
            role: 'subject',
            summary: clientSummary,
            comparedWith: rawLabel,
          },
          { label: 'keeper.refresh(force)', role: 'subject', summary: keeperSummary, comparedWith: rawLabel },
        ],
        ratios: [
          ratioOf('requestToken() only (no store)', clientSummary, rawSummary),
          ratioOf('keeper.refresh(force)', keeperSummary, rawSummary),
        ],
        derived: {
          keeperMinusRawMedianMs: keeperSummary.median - rawSummary.median,
          keeperMinusClientMedianMs: keeperSummary.median - clientSummary.median,
          simulatorRefreshSuccesses: stats.refreshSuccesses,
          simulatorGraceReplays: stats.graceReplays,
          simulatorInvalidGrant: stats.invalidGrant,
          coalescedKeeperRefreshes: rejected[0] ?? 0,
        },
        notes,
      };
    } finally {
      await keeper.close();
    }
  } finally {
    await fitbit.close();
    removeHome(home);
  }
}
