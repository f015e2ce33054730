import { describe, expect, it } from 'vitest';
import { defaultExpiryPolicy } from '../core/expiry.ts';
import { googleHealth } from '../providers/catalog/google-health.ts';
import { expiryPolicyFor } from './provider-expiry.ts';

const HOUR = 3_600_000;

describe('expiryPolicyFor', () => {
  it("assumes the shorter of the global default and the provider's documented lifetime without expires_in", () => {
    const global = { ...defaultExpiryPolicy, defaultLifetimeMs: 8 * HOUR };
    expect(expiryPolicyFor(global, googleHealth).defaultLifetimeMs).toBe(HOUR);
    expect(expiryPolicyFor({ ...global, defaultLifetimeMs: HOUR / 2 }, googleHealth).defaultLifetimeMs).toBe(
      HOUR / 2,
    );
  });

  it("lets the provider's configured default lifetime win over both", () => {
    const provider = { ...googleHealth, defaultLifetimeMs: 3 * HOUR };
    expect(expiryPolicyFor(defaultExpiryPolicy, provider).defaultLifetimeMs).toBe(3 * HOUR);
  });

  it("carries the provider's keep-alive, refresh-token lifetime and warning window, over the global ones", () => {
    const lifetime = { ms: 7 * 24 * HOUR, renewedByUse: false };
    const provider = {
      ...googleHealth,
      keepAliveMs: HOUR,
      refreshTokenLifetime: lifetime,
      expiringSoonMs: 2 * HOUR,
    };
    const global = { ...defaultExpiryPolicy, keepAliveMs: 5 * HOUR, expiringSoonMs: 9 * HOUR };
    expect(expiryPolicyFor(global, provider)).toMatchObject({
      keepAliveMs: HOUR,
      refreshTokenLifetime: lifetime,
      expiringSoonMs: 2 * HOUR,
    });
    const plain = { ...googleHealth, keepAliveMs: undefined, expiringSoonMs: undefined };
    expect(expiryPolicyFor(global, plain)).toMatchObject({ keepAliveMs: 5 * HOUR, expiringSoonMs: 9 * HOUR });
  });
});
