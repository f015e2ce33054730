import type { FastifyRequest } from 'fastify';
import { keyAllows, type ApiKeyRecord, type ApiKeyStore } from '../api-keys/api-key-store.ts';
import { ApiError } from './errors.ts';
import { bearerToken } from './operator-auth.ts';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: ApiKeyRecord | null;
  }
}

const challenge = { 'www-authenticate': 'Bearer realm="tokenkeeper"' };

/** onRequest hook for the API: the key in `Authorization: Bearer …` must exist and not be revoked. */
export function authenticate(apiKeys: ApiKeyStore) {
  return async (request: FastifyRequest): Promise<void> => {
    const presented = bearerToken(request);
    if (!presented) {
      throw new ApiError(
        401,
        'unauthenticated',
        'send an API key as "Authorization: Bearer tkk_…"; create one with `tokenkeeper api-key create --scope <connection>`',
        challenge,
      );
    }
    const record = await apiKeys.verify(presented);
    if (!record) {
      throw new ApiError(401, 'invalid_api_key', 'the API key is unknown, revoked or mistyped', {
        'www-authenticate': 'Bearer realm="tokenkeeper", error="invalid_token"',
      });
    }
    request.apiKey = record;
  };
}

/** Throws 403 unless the request's key may use `connection`. */
export function requireScope(request: FastifyRequest, connection: string): void {
  const key = request.apiKey;
  if (!key || !keyAllows(key, connection)) {
    throw new ApiError(
      403,
      'forbidden',
      `this API key may not use connection "${connection}"; create a key with --scope ${connection}`,
    );
  }
}
