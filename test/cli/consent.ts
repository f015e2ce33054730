import { expect } from 'vitest';

/** The consent URL the CLI prints on stderr ("Open this URL …:\n\n  <url>\n"). */
export const CONSENT_URL = /^ {2}(http:\/\/127\.0\.0\.1:\d+\/oauth2\/authorize\?\S+)$/m;

/**
 * Plays the user approving on the simulated consent page, signed in as `account` (sent as login_hint) or the
 * simulator's default user: returns where the provider redirects the browser.
 */
export async function approve(consentUrl: string, account?: string): Promise<string> {
  const url = new URL(consentUrl);
  if (account !== undefined) url.searchParams.set('login_hint', account);
  const consent = await fetch(url, { redirect: 'manual' });
  await consent.body?.cancel();
  expect(consent.status).toBe(302);
  const location = consent.headers.get('location');
  if (!location) throw new Error('the consent page did not redirect');
  return location;
}
