import { startSimulatedGoogle, type SimulatedGoogle } from '../fakes/index.ts';
import { createHarness, providerConfig, type Harness, type OnFinished } from './harness.ts';

/** The consent URL the CLI prints for the simulated Google ("Open this URL …:\n\n  <url>\n"). */
export const GOOGLE_CONSENT_URL = /^ {2}(http:\/\/127\.0\.0\.1:\d+\/o\/oauth2\/v2\/auth\?\S+)$/m;
/** Every token the simulated Google issues looks like this (ya29.… access, 1//0g… refresh). */
export const GOOGLE_TOKEN_PATTERN = /ya29\.a0\S{20,}|1\/\/0g\S{20,}/;
export const GOOGLE_USER = '104200000000000000001';

/**
 * A harness whose config has both the simulated Fitbit and a simulated Google Health, each with its own client
 * (the Google secret from env:GOOGLE_SECRET), so a Fitbit connection can be moved to google-health.
 */
export async function twoProviders(
  onFinished: OnFinished,
  config: Record<string, unknown> = {},
): Promise<{ h: Harness; google: SimulatedGoogle }> {
  const h = await createHarness(onFinished, { config });
  const google = await startSimulatedGoogle({
    clientId: 'replace-test.apps.googleusercontent.com',
    clientSecret: 'gs_replace-test-client-secret-0123456789',
    userId: GOOGLE_USER,
  });
  onFinished(() => google.close());
  h.env.GOOGLE_SECRET = google.clientSecret;
  h.secrets.add(google.clientSecret as string);
  h.writeConfig(
    {
      ...config,
      providers: {
        fitbit: providerConfig(h.sim),
        'google-health': {
          authorizationUrl: google.authorizeUrl,
          tokenUrl: google.tokenUrl,
          revokeUrl: google.revokeUrl,
          clientId: google.clientId,
          clientSecret: 'env:GOOGLE_SECRET',
        },
      },
    },
    'config.json',
  );
  return { h, google };
}
