import type { Reply } from './http.ts';

const DOCS_HINT =
  'Visit https://dev.fitbit.com/docs/oauth2 for more information on the Fitbit Web API authorization process.';

/** Fitbit's (non-RFC 6749) error shape. */
export function fitbitErrorBody(errorType: string, message: string): object {
  return { errors: [{ errorType, message }], success: false };
}

export function fitbitError(status: number, errorType: string, message: string): Reply {
  return { status, body: fitbitErrorBody(errorType, `${message} ${DOCS_HINT}`) };
}

/** Default body for injected status faults: Fitbit answers 429 and 5xx with errorType "system". */
export function fitbitFaultBody(status: number): object {
  return fitbitErrorBody('system', status === 429 ? 'Too Many Requests' : `Simulated HTTP ${status}`);
}

/** "Refresh token invalid: <token>." — Fitbit echoes the token; `echo` false leaves it out. */
export function withToken(label: string, token: string, echo: boolean): string {
  return echo ? `${label}: ${token}.` : `${label}.`;
}
