import { TokenkeeperError } from '../core/errors.ts';
import { configuredClientSecret, type ProviderRegistry } from '../providers/registry.ts';
import type { CliIo } from './io.ts';
import { decodeBasicCredentials, secretArg } from './secrets.ts';

export interface ClientCredentialFlags {
  clientId?: string;
  /** A secret reference: env:NAME, file:PATH or - (stdin). */
  clientSecret?: string;
  /** The seed's base64("id:secret") value, as a secret reference. */
  basicCredentials?: string;
}

export interface ClientCredentials {
  clientId: string;
  clientSecret?: string;
}

/**
 * The OAuth client a command acts as: --basic-credentials, else --client-id and --client-secret, else the
 * provider's clientId and clientSecret in the config. The client id is checked before any secret is read, so a
 * missing one is reported without waiting on stdin.
 */
export async function resolveClientCredentials(
  providers: ProviderRegistry,
  providerId: string,
  flags: ClientCredentialFlags,
  io: Pick<CliIo, 'stdin' | 'stderr' | 'env'>,
): Promise<ClientCredentials> {
  if (flags.basicCredentials) {
    return decodeBasicCredentials(await secretArg(flags.basicCredentials, 'Basic client credentials', io));
  }
  const configured = providers.clientSettings(providerId);
  const clientId = flags.clientId ?? configured.clientId;
  if (!clientId) {
    throw new TokenkeeperError(
      'usage',
      `no client id: pass --client-id or set providers.${providerId}.clientId in the config`,
    );
  }
  const clientSecret = flags.clientSecret
    ? await secretArg(flags.clientSecret, 'client secret', io)
    : configuredClientSecret(providers, providerId, io.env);
  return { clientId, ...(clientSecret !== undefined && { clientSecret }) };
}
