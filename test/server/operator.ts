import { expect } from 'vitest';
import { expectSuccess, type Harness } from '../cli/harness.ts';
import type { RunningDaemon } from './daemon.ts';

/** Logs in as operator the way a person does: `tokenkeeper login`, then opening the printed link. */
export async function operatorLogin(
  h: Harness,
  daemon: RunningDaemon,
): Promise<{ cookie: string; csrf: string }> {
  const link = expectSuccess(await h.cli(['login', '--url', daemon.url])).stdout.trim();
  expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/login\?ticket=tkl_[A-Za-z0-9_-]{43}$/);
  // `login` prints the ticket (that is its job); the daemon must never log it.
  const ticket = new URL(link).searchParams.get('ticket') as string;
  const login = await daemon.fetch(link, { redirect: 'manual' });
  expect(login.status).toBe(303);
  expect(login.headers.get('location')).toBe('/');
  const setCookie = login.headers.get('set-cookie') ?? '';
  expect(setCookie).toMatch(/HttpOnly/);
  expect(setCookie).toMatch(/SameSite=Strict/);
  const cookie = setCookie.split(';')[0] as string;
  h.secrets.add(cookie.split('=')[1] as string);
  const page = await daemon.fetch(`${daemon.url}/`, { headers: { cookie } });
  const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  expect(csrf).toBeDefined();
  h.secrets.add(csrf as string);
  // A login link works once.
  expect((await daemon.fetch(link, { redirect: 'manual' })).status).toBe(401);
  expect(daemon.output()).not.toContain(ticket);
  return { cookie, csrf: csrf as string };
}

/** The consent URL a page answer hands the browser on to, if any (the reconnect's hand-off page). */
export function consentUrlOf(html: string): string | undefined {
  const href = /<a id="consent" href="([^"]+)"/.exec(html)?.[1];
  return href?.replaceAll('&amp;', '&');
}
