import { resolveSecretRef } from '../config/secret-ref.ts';
import { describeError, exitCodes } from '../core/errors.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import { fail, ok, warn, type CheckResult } from './check.ts';

/** A configured provider: token URL, client id, and a client secret reference that resolves (never shown). */
export function checkProviderConfig(
  registry: ProviderRegistry,
  id: string,
  env: NodeJS.ProcessEnv,
): CheckResult {
  const checkId = `provider:${id}`;
  const title = `provider ${id}`;
  try {
    registry.get(id);
  } catch (error) {
    return fail(checkId, title, describeError(error), undefined, exitCodes.usage);
  }
  const { clientId, clientSecretRef } = registry.clientSettings(id);
  if (!clientId) {
    return warn(
      checkId,
      title,
      'no clientId',
      `set providers.${id}.clientId (or pass --client-id to connect and add)`,
    );
  }
  if (clientSecretRef === undefined)
    return ok(checkId, title, `client id ${clientId}, public client (no secret)`);
  if (clientSecretRef === '-') {
    return ok(checkId, title, `client id ${clientId}, client secret read from standard input when used`);
  }
  try {
    resolveSecretRef(clientSecretRef, `providers.${id}.clientSecret`, env);
  } catch (error) {
    return fail(
      checkId,
      title,
      describeError(error),
      `make providers.${id}.clientSecret resolve (env:NAME needs NAME set; file:PATH a readable file)`,
      exitCodes.usage,
    );
  }
  const kind = clientSecretRef.slice(0, clientSecretRef.indexOf(':'));
  return ok(checkId, title, `client id ${clientId}, client secret (${kind}:…) resolves`);
}
