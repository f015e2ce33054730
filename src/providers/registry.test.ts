import { describe, expect, it } from 'vitest';
import { TokenkeeperError } from '../core/errors.ts';
import { fitbit, googleHealth } from './catalog.ts';
import { createProviderRegistry } from './registry.ts';

function configError(work: () => unknown): TokenkeeperError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(TokenkeeperError);
    expect((error as TokenkeeperError).code).toBe('config');
    return error as TokenkeeperError;
  }
  throw new Error('expected a config error');
}

describe('createProviderRegistry', () => {
  it('serves the built-in providers unchanged without config', () => {
    const registry = createProviderRegistry();
    expect(registry.get('fitbit')).toMatchObject({
      id: 'fitbit',
      tokenUrl: fitbit.tokenUrl,
      clientAuth: 'basic',
      retiredHint: fitbit.retiredHint,
    });
    expect(registry.get('google-health')).toMatchObject({
      id: 'google-health',
      tokenUrl: googleHealth.tokenUrl,
      clientAuth: 'body',
    });
    expect(registry.list().map((provider) => provider.id)).toEqual(
      expect.arrayContaining(['fitbit', 'google-health', 'oauth2']),
    );
    expect(registry.clientSettings('fitbit')).toEqual({});
  });

  it('overrides endpoints of a built-in but keeps its behaviour (error parser, retirement hint, auth style)', () => {
    const registry = createProviderRegistry({
      fitbit: {
        tokenUrl: 'http://127.0.0.1:4000/oauth2/token',
        revokeUrl: 'http://127.0.0.1:4000/oauth2/revoke',
        clientId: 'my-client',
        clientSecret: 'env:FITBIT_SECRET',
        redirectUri: 'http://127.0.0.1:8765/callback',
      },
    });
    const provider = registry.get('fitbit');
    expect(provider.tokenUrl).toBe('http://127.0.0.1:4000/oauth2/token');
    expect(provider.revokeUrl).toBe('http://127.0.0.1:4000/oauth2/revoke');
    expect(provider.authorizationUrl).toBe(fitbit.authorizationUrl);
    expect(provider.clientAuth).toBe('basic');
    expect(provider.rotation).toBe('single-use');
    expect(provider.retiredHint).toContain('google-health');
    expect(provider.parseError?.({ errors: [{ errorType: 'invalid_grant', message: 'm' }] })).toEqual({
      code: 'invalid_grant',
      message: 'm',
    });
    expect(registry.clientSettings('fitbit')).toEqual({
      clientId: 'my-client',
      clientSecretRef: 'env:FITBIT_SECRET',
      redirectUri: 'http://127.0.0.1:8765/callback',
    });
    // The catalog itself is not modified.
    expect(fitbit.tokenUrl).toBe('https://api.fitbit.com/oauth2/token');
  });

  it('merges extra parameters instead of replacing them', () => {
    const registry = createProviderRegistry({
      'google-health': { extraAuthParams: { include_granted_scopes: 'true' }, extraTokenParams: { a: 'b' } },
    });
    const provider = registry.get('google-health');
    expect(provider.extraAuthParams).toEqual({
      ...googleHealth.extraAuthParams,
      include_granted_scopes: 'true',
    });
    expect(provider.extraAuthParams).toMatchObject({ access_type: 'offline' });
    expect(provider.extraTokenParams).toEqual({ ...googleHealth.extraTokenParams, a: 'b' });
  });

  it('defines a provider that extends oauth2', () => {
    const registry = createProviderRegistry({
      mycorp: {
        extends: 'oauth2',
        tokenUrl: 'https://auth.example.com/oauth/token',
        authorizationUrl: 'https://auth.example.com/oauth/authorize',
        clientAuth: 'body',
        scopes: ['read', 'offline_access'],
        scopeSeparator: ',',
      },
    });
    const provider = registry.get('mycorp');
    expect(provider.id).toBe('mycorp');
    expect(provider.displayName).toBe('mycorp');
    expect(provider.tokenUrl).toBe('https://auth.example.com/oauth/token');
    expect(provider.clientAuth).toBe('body');
    expect(provider.defaultScopes).toEqual(['read', 'offline_access']);
    expect(provider.scopeSeparator).toBe(',');
    expect(provider.parseError).toBeUndefined();
  });

  it('a provider extending fitbit inherits its quirks under its own id', () => {
    const registry = createProviderRegistry({
      'fitbit-eu': { extends: 'fitbit', tokenUrl: 'https://eu.example.com/oauth2/token' },
    });
    const provider = registry.get('fitbit-eu');
    expect(provider.id).toBe('fitbit-eu');
    expect(provider.clientAuth).toBe('basic');
    expect(provider.parseError?.({ errors: [{ errorType: 'invalid_grant' }] })?.code).toBe('invalid_grant');
    expect(registry.get('fitbit').tokenUrl).toBe(fitbit.tokenUrl);
  });

  it('an unknown provider in config explains how to define one', () => {
    const error = configError(() =>
      createProviderRegistry({ 'acme-health': { tokenUrl: 'https://x.example/t' } }),
    );
    expect(error.message).toContain('providers.acme-health');
    expect(error.message).toContain('"extends": "oauth2"');
    const extendsUnknown = configError(() => createProviderRegistry({ mine: { extends: 'nope' } }));
    expect(extendsUnknown.message).toContain('unknown provider "nope"');
  });

  it('asking for an unknown provider lists the known ones', () => {
    const error = configError(() => createProviderRegistry().get('acme-health'));
    expect(error.message).toContain('unknown provider "acme-health"');
    expect(error.message).toContain('fitbit');
    expect(error.message).toContain('google-health');
    expect(error.message).toContain('providers.acme-health');
  });

  it('a provider without token URL is reported when used', () => {
    const registry = createProviderRegistry({ bare: { extends: 'oauth2' } });
    expect(configError(() => registry.get('bare')).message).toContain('providers.bare.tokenUrl');
    expect(configError(() => registry.get('oauth2')).message).toContain('token URL');
  });

  it('checks every endpoint when the config loads: http only for loopback', () => {
    for (const field of ['tokenUrl', 'authorizationUrl', 'revokeUrl', 'apiBaseUrl'] as const) {
      const error = configError(() =>
        createProviderRegistry({ fitbit: { [field]: 'http://api.example.com/x' } }),
      );
      expect(error.message).toContain(`providers.fitbit.${field}`);
    }
    expect(() =>
      createProviderRegistry({ fitbit: { tokenUrl: 'http://127.0.0.1:1234/oauth2/token' } }),
    ).not.toThrow();
  });

  describe('refresh-token lifetimes and warning windows', () => {
    const DAY = 86_400_000;

    it('publishingStatus picks the lifetime: "testing" is 7 days from consent, "production" the catalog one', () => {
      expect(createProviderRegistry().get('google-health').refreshTokenLifetime).toEqual({
        ms: 180 * DAY,
        renewedByUse: true,
      });
      const testing = createProviderRegistry({ 'google-health': { publishingStatus: 'testing' } });
      expect(testing.get('google-health').refreshTokenLifetime).toEqual({
        ms: 7 * DAY,
        renewedByUse: false,
        fromConsent: true,
      });
      const production = createProviderRegistry({ 'google-health': { publishingStatus: 'production' } });
      expect(production.get('google-health').refreshTokenLifetime).toEqual(googleHealth.refreshTokenLifetime);
      // A user-defined provider built on Google's inherits its testing lifetime.
      const mine = createProviderRegistry({
        mine: { extends: 'google-health', publishingStatus: 'testing' },
      });
      expect(mine.get('mine').refreshTokenLifetime?.ms).toBe(7 * DAY);
    });

    it('publishingStatus "testing" on a provider without a testing lifetime is a config error naming the key', () => {
      const error = configError(() => createProviderRegistry({ fitbit: { publishingStatus: 'testing' } }));
      expect(error.message).toContain('providers.fitbit.publishingStatus');
      expect(error.message).toContain('Google');
      expect(() => createProviderRegistry({ fitbit: { publishingStatus: 'production' } })).not.toThrow();
    });

    it('refreshTokenLifetimeDays and refreshTokenRenewedByUse override the catalog; 0 days means none', () => {
      const registry = createProviderRegistry({
        'google-health': { publishingStatus: 'testing', refreshTokenLifetimeDays: 30 },
        microsoft: { refreshTokenLifetimeDays: 0 },
        fitbit: { refreshTokenLifetimeDays: 10, refreshTokenRenewedByUse: true },
        oura: { refreshTokenLifetimeDays: 60 },
        withings: { refreshTokenRenewedByUse: true },
      });
      expect(registry.get('google-health').refreshTokenLifetime).toEqual({
        ms: 30 * DAY,
        renewedByUse: false,
        fromConsent: true,
      });
      expect(registry.get('microsoft').refreshTokenLifetime).toBeUndefined();
      expect(registry.get('fitbit').refreshTokenLifetime).toEqual({ ms: 10 * DAY, renewedByUse: true });
      expect(registry.get('oura').refreshTokenLifetime).toEqual({ ms: 60 * DAY, renewedByUse: false });
      expect(registry.get('withings').refreshTokenLifetime).toEqual({ ms: 365 * DAY, renewedByUse: true });
      const nothingToRenew = configError(() =>
        createProviderRegistry({ strava: { refreshTokenRenewedByUse: true } }),
      );
      expect(nothingToRenew.message).toContain('providers.strava.refreshTokenLifetimeDays');
    });

    it("keepAliveDays, defaultLifetimeSeconds, expiringSoonDays and clientSecretExpiresAt become the definition's times", () => {
      const registry = createProviderRegistry({
        microsoft: {
          keepAliveDays: 3,
          defaultLifetimeSeconds: 600,
          expiringSoonDays: 2,
          clientSecretExpiresAt: '2027-03-01',
        },
        withings: { clientSecretExpiresAt: '2027-03-01T12:00:00+02:00' },
      });
      expect(registry.get('microsoft')).toMatchObject({
        keepAliveMs: 3 * DAY,
        defaultLifetimeMs: 600_000,
        expiringSoonMs: 2 * DAY,
        clientSecretExpiresAt: Date.UTC(2027, 2, 1),
      });
      expect(registry.get('withings').clientSecretExpiresAt).toBe(Date.UTC(2027, 2, 1, 10));
      // Unset, the catalog's keep-alive stays and nothing else is invented.
      const plain = createProviderRegistry({ microsoft: {} }).get('microsoft');
      expect(plain.keepAliveMs).toBe(14 * DAY);
      expect(plain.defaultLifetimeMs).toBeUndefined();
      expect(plain.expiringSoonMs).toBeUndefined();
      expect(plain.clientSecretExpiresAt).toBeUndefined();
    });
  });
});
