import { describe, expect, it } from 'vitest';
import { startCallbackServer, type CallbackServer } from './callback-server.ts';

async function started(onTestFinished: (fn: () => Promise<void>) => void, answerWithinMs?: number) {
  const server = await startCallbackServer({ port: 0, path: '/callback', answerWithinMs });
  onTestFinished(() => server.close());
  return server;
}

/** A browser delivering the redirect: resolves with the page once the server answers it. */
async function deliver(server: CallbackServer, query = 'code=c&state=s') {
  const response = await fetch(`http://127.0.0.1:${server.port}/callback?${query}`);
  return { status: response.status, html: await response.text() };
}

describe('callback server', () => {
  it('holds the browser until the flow answers, and escapes the error it shows', async ({
    onTestFinished,
  }) => {
    const server = await started(onTestFinished);
    const page = deliver(server);
    const url = await server.waitForRedirect(5_000);
    expect(url.searchParams.get('code')).toBe('c');
    server.answer({ ok: false, error: 'the provider said <b>no</b> & "why"' });
    server.answer({ ok: true, text: 'too late: only the first answer counts' });
    const { status, html } = await page;
    expect(status).toBe(400);
    expect(html).toContain('<h1>Not connected</h1>');
    expect(html).toContain(
      'tokenkeeper: error: the provider said &lt;b&gt;no&lt;/b&gt; &amp; &quot;why&quot;',
    );
    expect(html).not.toContain('too late');
  });

  it('a second request, a flow that never answers, and a close with a browser waiting each get an honest page', async ({
    onTestFinished,
  }) => {
    const slow = await started(onTestFinished, 50);
    const first = deliver(slow);
    await slow.waitForRedirect(5_000);
    const again = await deliver(slow, 'code=other&state=s');
    expect(again.status).toBe(409);
    expect(again.html).toContain('already received');
    const held = await first;
    expect(held.status).toBe(202);
    expect(held.html).toContain('<h1>Still finishing</h1>');

    const closing = await started(onTestFinished);
    const waiting = deliver(closing);
    await closing.waitForRedirect(5_000);
    await closing.close();
    const closed = await waiting;
    expect(closed.status).toBe(400);
    expect(closed.html).toContain('The connection was not completed');
  });
});
