import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TokenkeeperError } from '../../src/core/errors.ts';
import type { KeeperEvent } from '../../src/core/events.ts';
import type { Keeper } from '../../src/keeper/keeper.ts';
import { connectAccount } from '../../src/flows/connect-flow.ts';
import { connectWithDevice } from '../../src/flows/device-flow.ts';
import { requestToken, TokenEndpointError } from '../../src/oauth/token-client.ts';
import { describeCliError } from '../../src/cli/output.ts';
import {
  catalogFacts,
  keeperFactory,
  movableClock,
  stored,
  type ConformanceSim,
  type ConformanceTarget,
  type KeeperFactory,
} from './harness.ts';

/**
 * The scenario table every provider runs: one fake server per provider (started once per file), a fresh keeper
 * and a fresh user per scenario. Expectations come from the provider's documented behaviour (ConformanceTarget).
 */
export function defineConformanceSuite(target: ConformanceTarget): void {
  describe(`conformance: ${target.title ?? target.providerId}`, () => {
    const clock = movableClock();
    let sim: ConformanceSim;
    let keepers: KeeperFactory;
    let nextUser = 0;
    const facts = target.facts ?? catalogFacts(target.providerId, target.publicClient);
    const lifetimeMs = facts.accessTokenLifetimeMs;
    const rotation = facts.spentTokenGraceMs ? `${facts.rotation} after a grace` : facts.rotation;

    beforeAll(async () => {
      sim = await target.start(clock.now);
      keepers = keeperFactory(target.providerId, () => target.settings(sim));
    });
    afterEach(async () => {
      sim.clearFaults();
      await keepers.cleanup();
    });
    afterAll(async () => {
      await sim?.close();
    });

    /** A consented user at the fake, imported into the keeper by refresh token (as `tokenkeeper add` does). */
    async function connection(keeper: Keeper, options: { clientSecret?: string; clientId?: string } = {}) {
      const userId = String(40_000_000 + ++nextUser);
      const name = `user-${userId}`;
      const grant = sim.seedGrant({ userId, publicClient: target.publicClient });
      await keeper.addConnection({
        name,
        provider: target.providerId,
        clientId: options.clientId ?? sim.clientId,
        clientSecret: target.publicClient ? undefined : (options.clientSecret ?? sim.clientSecret),
        tokens: { refreshToken: grant.refreshToken },
      });
      return { name, userId, refreshToken: grant.refreshToken };
    }

    const lastRefreshTokensSent = (count: number) =>
      sim.tokenRequests
        ?.filter((request) => request.grantType === 'refresh_token')
        .slice(-count)
        .map((request) => request.params.refresh_token);

    /** Fails once with an unknown outcome, then must succeed by retrying the same refresh token. */
    async function expectRetriedWithSameToken(keeper: Keeper, name: string, code: string) {
      const before = await stored(keeper, name);
      await expect(keeper.refresh(name)).rejects.toMatchObject({ code });
      const failing = await keeper.get(name);
      expect(failing).toMatchObject({ status: 'failing', refreshInProgress: true });
      expect((await stored(keeper, name)).tokens.refreshToken).toBe(before.tokens.refreshToken);
      const recovered = await keeper.refresh(name);
      expect(recovered).toMatchObject({ status: 'active', refreshInProgress: false, failureCount: 0 });
      const sent = lastRefreshTokensSent(2);
      if (sent) expect(sent).toEqual([before.tokens.refreshToken, before.tokens.refreshToken]);
      expect(await sim.useAccessToken(await keeper.accessToken(name))).toBe(true);
    }

    it('first refresh: the documented request, a working access token, nothing retried', async () => {
      const keeper = await keepers.open();
      const user = await connection(keeper);
      const requestsBefore = sim.stats.refreshRequests;
      const startedAt = Date.now();
      const summary = await keeper.refresh(user.name);
      expect(summary.status).toBe('active');
      expect(sim.stats.refreshRequests - requestsBefore).toBe(1);
      const request = sim.tokenRequests?.at(-1);
      if (request) {
        expect(request.grantType).toBe('refresh_token');
        expect(request.clientAuth).toBe(target.refreshRequest.clientAuth);
        expect(request.params).toMatchObject({
          refresh_token: user.refreshToken,
          ...target.refreshRequest.params,
        });
        if (target.refreshRequest.clientAuth !== 'basic') expect(request.params.client_id).toBe(sim.clientId);
      }
      const connection_ = await stored(keeper, user.name);
      expect(connection_.tokens.expiresAt).toBeGreaterThanOrEqual(startedAt + lifetimeMs - 5_000);
      expect(connection_.tokens.expiresAt).toBeLessThanOrEqual(Date.now() + lifetimeMs);
      if (facts.accountInRefresh) expect(summary.account).toBe(user.userId);
      expect(await sim.useAccessToken(await keeper.accessToken(user.name))).toBe(true);
      expect(sim.stats.refreshRequests - requestsBefore).toBe(1);
    });

    it(`rotation (${rotation}): the newest refresh token is saved; a replayed old one behaves as documented`, async () => {
      const keeper = await keepers.open();
      const user = await connection(keeper);
      const spent: string[] = [];
      for (let i = 0; i < 3; i++) {
        clock.advance(lifetimeMs); // the access token has run out at the provider
        const before = (await stored(keeper, user.name)).tokens.refreshToken as string;
        await keeper.refresh(user.name, { force: true });
        const after = (await stored(keeper, user.name)).tokens.refreshToken as string;
        expect(after).toBe(sim.activeRefreshToken(user.userId));
        if (facts.rotation === 'reusable') expect(after).toBe(before);
        else {
          expect(after).not.toBe(before);
          spent.push(before);
        }
      }
      const provider = keeper.providers.get(target.providerId);
      const replay = (refreshToken: string) =>
        requestToken({
          provider,
          clientId: sim.clientId,
          clientSecret: target.publicClient ? undefined : sim.clientSecret,
          params: { grant_type: 'refresh_token', refresh_token: refreshToken },
          timeoutMs: 2_000,
          maxBodyBytes: 65_536,
        }).then(
          () => 'accepted',
          (error: unknown) => (error instanceof TokenEndpointError ? error.kind : error),
        );
      const current = await stored(keeper, user.name);
      switch (facts.rotation) {
        case 'reusable':
          expect(await replay(current.tokens.refreshToken as string)).toBe('accepted');
          break;
        case 'rotate-keep-old':
          expect(await replay(spent[0] as string)).toBe('accepted');
          break;
        case 'single-use':
          if (facts.spentTokenGraceMs) {
            // Until the new access token is used the old refresh token still works (Withings: up to 8 h;
            // Fitbit: a 2-minute grace that replays the same answer); once it is used, the old one is dead.
            expect(await replay(spent.at(-1) as string)).toBe('accepted');
            expect(await sim.useAccessToken(await keeper.accessToken(user.name))).toBe(true);
          }
          expect(await replay(spent.at(-1) as string)).toBe('invalid_grant');
          break;
        case 'may-rotate':
          throw new Error(`${target.providerId}: state the rotation the provider documents`);
        case 'reuse-revokes-family': {
          expect(await replay(spent.at(-1) as string)).toBe('invalid_grant');
          // RFC 9700 §4.14.2: the provider revoked the whole grant, so the keeper's current token is dead too.
          await expect(keeper.refresh(user.name, { force: true })).rejects.toMatchObject({
            code: 'needs_reauth',
          });
          expect((await keeper.get(user.name))?.status).toBe('needs_reauth');
          return;
        }
      }
      clock.advance(lifetimeMs);
      const summary = await keeper.refresh(user.name, { force: true });
      expect(summary.status).toBe('active');
      expect(await sim.useAccessToken(await keeper.accessToken(user.name))).toBe(true);
    });

    it('a response without a refresh token keeps the old one (RFC 6749 §6)', async () => {
      const keeper = await keepers.open();
      const user = await connection(keeper);
      clock.advance(lifetimeMs);
      sim.inject({ kind: 'omit', fields: ['refresh_token'] });
      const summary = await keeper.refresh(user.name, { force: true });
      expect(summary.status).toBe('active');
      expect((await stored(keeper, user.name)).tokens.refreshToken).toBe(user.refreshToken);
      // The kept token still works. (At Fitbit the old token was spent anyway; its grace window replays the
      // answer that carried the new one — which is why the keeper retries the same token at once.)
      expect((await keeper.refresh(user.name, { force: true })).status).toBe('active');
      const after = await stored(keeper, user.name);
      expect(after.tokens.refreshToken).toBe(sim.activeRefreshToken(user.userId));
      expect(await sim.useAccessToken(after.tokens.accessToken as string)).toBe(true);
    });

    it('a response without expires_in gets refresh.defaultLifetimeSeconds, never "forever"', async () => {
      const keeper = await keepers.open();
      const user = await connection(keeper);
      sim.inject({ kind: 'omit', fields: ['expires_in'] });
      const startedAt = Date.now();
      const summary = await keeper.refresh(user.name);
      expect(summary.status).toBe('active');
      const { expiresAt } = (await stored(keeper, user.name)).tokens;
      expect(expiresAt).toBeGreaterThanOrEqual(startedAt + 1_234_000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 1_234_000);
      expect(summary.nextRefreshAt).toBeLessThan(expiresAt as number);
    });

    it('a revoked grant becomes needs_reauth at once: one request, no retries, no secret in the message', async () => {
      const keeper = await keepers.open({ maxAttempts: 3 });
      const user = await connection(keeper);
      await sim.revokeUser(user.userId);
      const before = sim.stats.refreshRequests;
      const error = await keeper.refresh(user.name).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TokenkeeperError);
      expect(error).toMatchObject({ code: 'needs_reauth', exitCode: 3 });
      // The engine says what would fix it as data; the CLI words it as its command.
      expect(error).toMatchObject({
        hint: { action: 'reconnect', connection: user.name, provider: target.providerId },
      });
      expect(describeCliError(error)).toContain(`tokenkeeper connect ${target.providerId}`);
      expect((error as Error).message).not.toContain(user.refreshToken);
      expect(sim.stats.refreshRequests - before).toBe(1);
      expect(await keeper.get(user.name)).toMatchObject({ status: 'needs_reauth', refreshInProgress: false });
      await expect(keeper.refresh(user.name, { force: true })).rejects.toMatchObject({
        code: 'needs_reauth',
      });
      expect(sim.stats.refreshRequests - before).toBe(1);
    });

    it('429 with Retry-After: waits at least as long as told, then succeeds with the same refresh token', async () => {
      const keeper = await keepers.open({ maxAttempts: 2 });
      const user = await connection(keeper);
      const events: KeeperEvent[] = [];
      keeper.onEvent((event) => events.push(event));
      sim.inject({ kind: 'status', status: 429, headers: { 'retry-after': '1' } });
      const startedAt = Date.now();
      const summary = await keeper.refresh(user.name);
      expect(summary.status).toBe('active');
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(950);
      const failed = events.find((event) => event.type === 'refresh_failed');
      expect(failed).toMatchObject({ type: 'refresh_failed', attempt: 1 });
      expect((failed as { retryInMs: number }).retryInMs).toBeGreaterThanOrEqual(1_000);
      const sent = lastRefreshTokensSent(2);
      if (sent) expect(sent).toEqual([user.refreshToken, user.refreshToken]);
    });

    it('5xx: the outcome is unknown, so the next refresh retries the same refresh token', async () => {
      const keeper = await keepers.open();
      const user = await connection(keeper);
      sim.inject({ kind: 'status', status: 503 });
      await expectRetriedWithSameToken(keeper, user.name, 'provider_unavailable');
    });

    it('timeout: gives up after refresh.timeoutSeconds and retries the same refresh token', async () => {
      const keeper = await keepers.open();
      const user = await connection(keeper);
      sim.inject({ kind: 'hang' });
      const startedAt = Date.now();
      await expectRetriedWithSameToken(keeper, user.name, 'timeout');
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1_000);
    });

    it('a non-JSON body is a bad provider response, retried with the same refresh token', async () => {
      const keeper = await keepers.open();
      const user = await connection(keeper);
      sim.inject({ kind: 'garbage' });
      await expectRetriedWithSameToken(keeper, user.name, 'bad_provider_response');
    });

    it('an oversized body is cut off at refresh.maxResponseBytes, retried with the same refresh token', async () => {
      const keeper = await keepers.open();
      const user = await connection(keeper);
      sim.inject({ kind: 'oversized', bytes: 200_000 });
      await expectRetriedWithSameToken(keeper, user.name, 'bad_provider_response');
    });

    it('wrong client credentials are a configuration error (invalid_client), not needs_reauth', async () => {
      const keeper = await keepers.open();
      const user = await connection(
        keeper,
        target.publicClient ? { clientId: 'someone-else' } : { clientSecret: 'not-the-secret' },
      );
      const error = await keeper.refresh(user.name).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'invalid_client', exitCode: 2 });
      expect((error as Error).message).not.toContain('not-the-secret');
      expect(await keeper.get(user.name)).toMatchObject({ status: 'failing', refreshInProgress: false });
      expect((await stored(keeper, user.name)).tokens.refreshToken).toBe(user.refreshToken);
    });

    it('connect: authorization code with the documented authorize parameters, then refresh', async () => {
      const keeper = await keepers.open();
      const provider = keeper.providers.get(target.providerId);
      let authorizeUrl: URL | undefined;
      const summary = await connectAccount(keeper, {
        provider: target.providerId,
        name: 'connected',
        clientId: sim.clientId,
        clientSecret: target.publicClient ? undefined : sim.clientSecret,
        scopes: provider.defaultScopes,
        redirectUri: 'http://127.0.0.1:0/callback',
        timeoutMs: 5_000,
        presentAuthorizationUrl: async (url) => {
          authorizeUrl = new URL(url);
          // The "browser": the fake consents at once and redirects to the loopback callback.
          const consent = await fetch(url, { redirect: 'manual' });
          const location = consent.headers.get('location');
          if (consent.status !== 302 || !location) {
            throw new Error(`authorize answered ${consent.status}: ${await consent.text()}`);
          }
          await (await fetch(location)).text();
        },
      });
      expect(summary.status).toBe('active');
      const query = authorizeUrl?.searchParams;
      expect(query?.get('scope')).toBe(provider.defaultScopes.join(target.authorize.scopeSeparator));
      expect(query?.has('code_challenge')).toBe(target.authorize.pkce);
      for (const [key, value] of Object.entries(target.authorize.params ?? {}))
        expect(query?.get(key)).toBe(value);
      const exchange = sim.tokenRequests?.findLast((request) => request.grantType === 'authorization_code');
      if (exchange) expect(exchange.params.code_verifier !== undefined).toBe(target.authorize.pkce);
      expect((await stored(keeper, 'connected')).tokens.refreshToken).toBeTruthy();
      clock.advance(lifetimeMs);
      expect((await keeper.refresh('connected', { force: true })).status).toBe('active');
    });

    if (target.clientCredentialsScopes) {
      const scopes = target.clientCredentialsScopes;
      it('client credentials: no refresh token; renewal re-requests with the same scope', async () => {
        const keeper = await keepers.open();
        const provider = keeper.providers.get(target.providerId);
        const scope = scopes.length > 0 ? scopes.join(provider.scopeSeparator) : undefined;
        await keeper.addConnection({
          name: 'app',
          provider: target.providerId,
          clientId: sim.clientId,
          clientSecret: sim.clientSecret,
          grant: 'client_credentials',
          tokens: scope ? { scope } : {},
        });
        const first = await keeper.accessToken('app');
        expect(await sim.useAccessToken(first)).toBe(true);
        const saved = await stored(keeper, 'app');
        expect(saved.grant).toBe('client_credentials');
        expect(saved.tokens.refreshToken).toBeUndefined();
        sim.inject({ kind: 'status', status: 503 });
        await expect(keeper.refresh('app', { force: true })).rejects.toMatchObject({
          code: 'provider_unavailable',
        });
        const renewed = await keeper.refresh('app', { force: true });
        expect(renewed.status).toBe('active');
        const second = await keeper.accessToken('app');
        expect(second).not.toBe(first);
        expect(await sim.useAccessToken(second)).toBe(true);
        const requests =
          sim.tokenRequests?.filter((request) => request.grantType === 'client_credentials') ?? [];
        expect(requests.length).toBeGreaterThanOrEqual(3);
        for (const request of requests.slice(-3)) {
          expect(request.params.scope).toBe(scope);
          expect(request.params.refresh_token).toBeUndefined();
        }
      });
    }

    if (target.device) {
      it('device authorization grant (RFC 8628): pending until the user approves, then connected', async () => {
        const keeper = await keepers.open();
        const summary = await connectWithDevice(keeper, {
          provider: target.providerId,
          name: 'device',
          clientId: sim.clientId,
          scopes: keeper.providers.get(target.providerId).defaultScopes,
          presentUserCode: (device) => {
            // The user approves on another device a little later; the first poll sees authorization_pending.
            setTimeout(() => sim.approveDevice?.(device.userCode, '31337'), 1_200);
          },
          signal: AbortSignal.timeout(15_000),
        });
        expect(summary.status).toBe('active');
        const polls =
          sim.tokenRequests?.filter((request) => request.grantType?.endsWith('device_code')) ?? [];
        expect(polls.length).toBeGreaterThanOrEqual(2);
        clock.advance(lifetimeMs);
        expect((await keeper.refresh('device', { force: true })).status).toBe('active');
      });
    }
  });
}
