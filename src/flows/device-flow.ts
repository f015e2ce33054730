import { TokenkeeperError } from '../core/errors.ts';
import { sleep } from '../core/sleep.ts';
import type { ConnectionSummary, ReplacedConnection } from '../core/types.ts';
import type { FlowHost, SaveConsent } from './host.ts';
import type { ProviderDefinition } from '../providers/types.ts';
import {
  endpointFailure,
  postForm,
  requestToken,
  TokenEndpointError,
  type TokenResponse,
} from '../oauth/token-client.ts';
import { tokenSetFromResponse } from '../oauth/token-set.ts';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** RFC 8628 §3.2 device authorization response. */
export interface DeviceAuthorization {
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  expiresInSeconds: number;
  intervalSeconds: number;
  /** Some providers (Microsoft) send a ready-made instruction for the user. */
  message?: string;
}

interface EndpointOptions {
  provider: ProviderDefinition;
  clientId: string;
  clientSecret?: string;
  timeoutMs: number;
  maxBodyBytes: number;
  signal?: AbortSignal;
}

const DEFAULT_INTERVAL_SECONDS = 5;
const SLOW_DOWN_STEP_MS = 5_000;
const MAX_INTERVAL_MS = 60_000;

/** Step 1: ask the provider for a device code and the user code to show. */
export async function requestDeviceAuthorization(
  options: EndpointOptions & { scopes: string[] },
): Promise<DeviceAuthorization> {
  const { provider } = options;
  if (!provider.deviceAuthorizationUrl) {
    throw new TokenkeeperError(
      'usage',
      `provider ${provider.id} has no device authorization endpoint: connect without --device, or set providers.${provider.id}.deviceAuthorizationUrl in the config`,
    );
  }
  const params: Record<string, string> = {};
  if (options.scopes.length > 0) params.scope = options.scopes.join(provider.scopeSeparator);
  const answer = await postForm({
    ...options,
    url: provider.deviceAuthorizationUrl,
    what: 'device authorization endpoint',
    params,
  });
  if (answer.status < 200 || answer.status >= 300) throw endpointFailure(provider, answer);
  const body = (typeof answer.json === 'object' && answer.json !== null ? answer.json : {}) as Record<
    string,
    unknown
  >;
  // Google spells it verification_url; RFC 8628 says verification_uri.
  const verificationUri = body.verification_uri ?? body.verification_url;
  const expiresIn = Number(body.expires_in);
  if (
    typeof body.device_code !== 'string' ||
    typeof body.user_code !== 'string' ||
    typeof verificationUri !== 'string' ||
    !(expiresIn > 0)
  ) {
    throw new TokenEndpointError(
      'bad_response',
      `${answer.where} answered without device_code, user_code, verification_uri and expires_in`,
      { status: answer.status },
    );
  }
  const interval = Number(body.interval);
  return {
    deviceCode: body.device_code,
    userCode: body.user_code,
    verificationUri,
    verificationUriComplete:
      typeof body.verification_uri_complete === 'string' ? body.verification_uri_complete : undefined,
    expiresInSeconds: expiresIn,
    intervalSeconds: interval > 0 ? interval : DEFAULT_INTERVAL_SECONDS,
    message: typeof body.message === 'string' ? body.message : undefined,
  };
}

/**
 * Step 2: poll the token endpoint until the user approves (RFC 8628 §3.4–3.5): `authorization_pending` waits
 * one more interval, `slow_down` adds 5 s to it, a denial or an expired code ends the flow with a clear error, and
 * a transient failure (network, 5xx, 429) doubles the interval instead of giving up.
 */
export async function pollDeviceToken(
  options: EndpointOptions & {
    device: DeviceAuthorization;
    now?: () => number;
    /** Waits between polls (tests pass one that records the intervals). */
    wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
  },
): Promise<TokenResponse> {
  const now = options.now ?? Date.now;
  const wait = options.wait ?? sleep;
  const { device, provider } = options;
  const deadline = now() + device.expiresInSeconds * 1000;
  let intervalMs = device.intervalSeconds * 1000;
  for (;;) {
    await wait(intervalMs, options.signal).catch((error: unknown) => {
      throw stopped(provider, options.signal, error);
    });
    if (now() >= deadline) throw expired(provider);
    try {
      return await requestToken({
        provider,
        clientId: options.clientId,
        clientSecret: options.clientSecret,
        params: { grant_type: DEVICE_CODE_GRANT, device_code: device.deviceCode },
        timeoutMs: options.timeoutMs,
        maxBodyBytes: options.maxBodyBytes,
        signal: options.signal,
      });
    } catch (error) {
      if (!(error instanceof TokenEndpointError)) throw stopped(provider, options.signal, error);
      const code = error.providerCode;
      if (code === 'authorization_pending') continue;
      if (code === 'slow_down') {
        intervalMs = Math.min(intervalMs + SLOW_DOWN_STEP_MS, MAX_INTERVAL_MS);
        continue;
      }
      if (code === 'access_denied' || code === 'authorization_declined') {
        throw new TokenkeeperError(
          'usage',
          `the sign-in was declined at ${provider.id}: run connect --device again to retry`,
        );
      }
      if (code === 'expired_token' || code === 'code_expired') throw expired(provider);
      if (error.retryable) {
        intervalMs = Math.min(intervalMs * 2, MAX_INTERVAL_MS);
        continue;
      }
      throw error;
    }
  }
}

/** The caller's signal ended the wait (e.g. the CLI's --timeout): say so in one line. */
function stopped(provider: ProviderDefinition, signal: AbortSignal | undefined, error: unknown): unknown {
  if (!signal?.aborted || (signal.reason as Error | undefined)?.name !== 'TimeoutError') return error;
  return new TokenkeeperError(
    'timeout',
    `gave up waiting for the ${provider.id} sign-in (--timeout): run connect --device again`,
  );
}

function expired(provider: ProviderDefinition): TokenkeeperError {
  return new TokenkeeperError(
    'timeout',
    `the ${provider.id} device code expired before the sign-in was completed: run connect --device again`,
  );
}

export interface DeviceConnectOptions {
  provider: string;
  name: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  /** Shows the user code and where to enter it. */
  presentUserCode: (device: DeviceAuthorization) => Promise<void> | void;
  signal?: AbortSignal;
  /** Let a reconnect switch the connection to another provider account (default: refused, nothing changed). */
  allowAccountChange?: boolean;
}

/** The whole device authorization grant: get a code, show it, poll until approved, save the connection. */
export function connectWithDevice(
  keeper: FlowHost,
  options: DeviceConnectOptions,
): Promise<ConnectionSummary> {
  return authorizeDeviceAndSave(keeper, options, (input) =>
    keeper.reconnect(input, { allowAccountChange: options.allowAccountChange }),
  );
}

/** `connectWithDevice` for `connect --replace --device`: the existing connection moves only once approved. */
export function replaceWithDevice(
  keeper: FlowHost,
  options: Omit<DeviceConnectOptions, 'allowAccountChange'>,
): Promise<ReplacedConnection> {
  return authorizeDeviceAndSave(keeper, options, (input) => keeper.replace(input));
}

async function authorizeDeviceAndSave<Saved>(
  keeper: FlowHost,
  options: Omit<DeviceConnectOptions, 'allowAccountChange'>,
  saveConsent: SaveConsent<Saved>,
): Promise<Saved> {
  const provider = keeper.providers.get(options.provider);
  const endpoint = {
    provider,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    timeoutMs: keeper.settings.http.timeoutMs,
    maxBodyBytes: keeper.settings.http.maxBodyBytes,
    signal: options.signal,
  };
  const device = await requestDeviceAuthorization({ ...endpoint, scopes: options.scopes });
  await options.presentUserCode(device);
  const response = await pollDeviceToken({ ...endpoint, device });
  return saveConsent({
    name: options.name,
    provider: provider.id,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    tokens: tokenSetFromResponse(response, keeper.now(), keeper.expiryPolicy(provider.id)),
  });
}
