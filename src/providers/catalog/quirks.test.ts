import { describe, expect, it } from 'vitest';
import { parseStravaError } from './strava.ts';
import { normalizeWithingsAnswer } from './withings.ts';

describe('Withings {status, body} answers', () => {
  it.each([
    [{ status: 601, error: 'Too Many Requests' }, 429, 'rate_limited'],
    [{ status: 2555, error: 'An unknown error occurred' }, 500, 'server_error'],
    [{ status: 503, error: 'Invalid Params: invalid refresh_token' }, 400, 'invalid_grant'],
    [{ status: 503, error: 'Invalid Params: invalid code' }, 400, 'invalid_grant'],
    [{ status: 503, error: 'Invalid Params: invalid client_id' }, 401, 'invalid_client'],
    [{ status: 503, error: 'Invalid Params: missing grant_type' }, 400, 'invalid_request'],
    [{ status: 401, error: 'Authentication failed' }, 401, 'invalid_client'],
    [{ status: 2554, error: 'Wrong action or wrong webservice' }, 400, 'invalid_request'],
    [{ status: 9999, error: 'something new' }, 502, 'server_error'],
  ])('HTTP 200 with %o becomes HTTP %i %s', (json, status, error) => {
    expect(normalizeWithingsAnswer({ status: 200, json })).toEqual({
      status,
      json: { error, error_description: expect.stringContaining(`Withings status ${json.status}`) },
    });
  });

  it('unwraps status 0 to the token body, and leaves other answers alone', () => {
    const body = { access_token: 'a', refresh_token: 'r', expires_in: 10800, userid: '42' };
    expect(normalizeWithingsAnswer({ status: 200, json: { status: 0, body } })).toEqual({
      status: 200,
      json: body,
    });
    const gateway = { status: 502, json: undefined };
    expect(normalizeWithingsAnswer(gateway)).toBe(gateway);
    const html = { status: 200, json: undefined };
    expect(normalizeWithingsAnswer(html)).toBe(html);
  });
});

describe('Strava error bodies', () => {
  const body = (resource: string, field: string, code: string) => ({
    message: 'Bad Request',
    errors: [{ resource, field, code }],
  });
  it('a rejected refresh token or code means re-authorisation', () => {
    expect(parseStravaError(body('RefreshToken', 'refresh_token', 'invalid'))?.code).toBe('invalid_grant');
    expect(parseStravaError(body('AuthorizationCode', 'code', 'invalid'))?.code).toBe('invalid_grant');
  });
  it('a rejected client id or secret is invalid_client; other errors keep their own code', () => {
    expect(parseStravaError(body('Application', 'client_secret', 'invalid'))?.code).toBe('invalid_client');
    expect(parseStravaError(body('Application', 'rate limit', 'exceeded'))?.code).toBe('strava_exceeded');
    expect(parseStravaError({ error: 'invalid_grant' })).toBeUndefined();
  });
});
