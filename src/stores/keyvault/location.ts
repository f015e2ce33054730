import { TokenkeeperError } from '../../core/errors.ts';
import type { ConfigFile } from '../../config/schema.ts';
import {
  assertKeyVaultConnectionName,
  defaultSecretNames,
  secretNamesFor,
  type SecretNameMapping,
  type SecretNaming,
} from './secret-names.ts';

/** The config's `keyVault` section. */
export type KeyVaultSettings = NonNullable<ConfigFile['keyVault']>;

/** Everything a `keyvault://…` store spec (and the config's `keyVault` section) says. */
export interface KeyVaultLocation extends SecretNaming {
  /** https://NAME.vault.azure.net, or https://host[:port] for other clouds and local emulators. */
  vaultUrl: string;
  /** Loopback vaults (local emulators) skip the challenge-resource check, which only accepts *.vault.azure.net hosts. */
  loopback: boolean;
  /** Tag access-token secrets with the account id and scope too (config keyVault.accountTags). */
  accountTags: boolean;
  /** Provider of the seed connection when the vault has no tokenkeeper state yet (the C# function's vault). */
  seedProvider: string;
  lockContainer: string;
}

const VAULT_NAME = /^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const CONTAINER = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

const options = {
  seed: 'connection stored under the unprefixed seed names (default fitbit); naming it lets tokenkeeper take over the seed secrets',
  provider: 'provider of the seed connection before tokenkeeper first writes it (default fitbit)',
  refreshTokenSecret: 'secret name of the refresh token (default RefreshToken)',
  accessTokenSecret: 'secret name of the access token (default AccessToken)',
  credentialsSecret: 'secret holding base64("client_id:client_secret") (default FitbitCredentials)',
  clientIdSecret: 'secret holding the client id (use with clientSecretSecret instead of credentialsSecret)',
  clientSecretSecret: 'secret holding the client secret',
  stateSecret: "secret holding tokenkeeper's own bookkeeping (default TokenkeeperState)",
  lockContainer: 'blob container for the lease locks (default tokenkeeper-locks)',
} as const;

type OptionName = keyof typeof options;

/**
 * Parses `keyvault://NAME[?option=value&…]`:
 * - `keyvault://myvault` → https://myvault.vault.azure.net
 * - `keyvault://myvault.vault.azure.cn` (a full host, other clouds) → https://myvault.vault.azure.cn
 * - `keyvault://127.0.0.1:8443` (loopback with a port: local emulators) → https://127.0.0.1:8443
 */
export function parseKeyVaultSpec(spec: string, settings: KeyVaultSettings = {}): KeyVaultLocation {
  const match = /^keyvault:\/\/([^/?#]+)\/?(?:\?([^#]*))?$/i.exec(spec.trim());
  if (!match?.[1]) {
    throw new TokenkeeperError(
      'config',
      `store "${spec}" is not a Key Vault spec: use keyvault://VAULT_NAME (e.g. keyvault://my-tokens)`,
    );
  }
  const host = match[1];
  const query = new URLSearchParams(match[2] ?? '');
  const { vaultUrl, loopback } = vaultUrlOf(host);
  const values: Partial<Record<OptionName, string>> = {};
  for (const [key, value] of query) {
    if (!(key in options)) {
      throw new TokenkeeperError(
        'config',
        `unknown Key Vault store option "${key}": use ${Object.keys(options).join(', ')}`,
      );
    }
    values[key as OptionName] = value;
  }
  assertSplitCredentialsPaired('Key Vault store options', values);
  const mapping: SecretNameMapping = {
    refreshToken: values.refreshTokenSecret ?? defaultSecretNames.refreshToken,
    accessToken: values.accessTokenSecret ?? defaultSecretNames.accessToken,
    state: values.stateSecret ?? defaultSecretNames.state,
    credentials:
      values.clientIdSecret !== undefined
        ? {
            kind: 'split',
            clientId: values.clientIdSecret,
            clientSecret: values.clientSecretSecret as string,
          }
        : { kind: 'basic', secret: values.credentialsSecret ?? defaultSecretNames.credentials },
  };
  const lockContainer = values.lockContainer ?? 'tokenkeeper-locks';
  if (!CONTAINER.test(lockContainer)) {
    throw new TokenkeeperError(
      'config',
      `lockContainer "${lockContainer}" is not a valid blob container name: 3–63 lowercase letters, digits and single hyphens`,
    );
  }
  const location: KeyVaultLocation = {
    vaultUrl,
    loopback,
    mapping,
    seedConnection: values.seed ?? 'fitbit',
    seedNamed: values.seed !== undefined && values.seed !== '',
    configured: configuredConnections(settings),
    accountTags: settings.accountTags ?? false,
    seedProvider: values.provider ?? 'fitbit',
    lockContainer,
  };
  // Every configured name is checked now, not on the first refresh.
  for (const { name } of location.configured.values()) secretNamesFor(name, location);
  return location;
}

function configuredConnections(settings: KeyVaultSettings): SecretNaming['configured'] {
  const configured = new Map<
    string,
    { name: string; names: NonNullable<KeyVaultSettings['connections']>[string] }
  >();
  for (const [name, names] of Object.entries(settings.connections ?? {})) {
    assertKeyVaultConnectionName(name);
    assertSplitCredentialsPaired(`keyVault.connections.${name}:`, names);
    if (names.credentialsSecret !== undefined && names.clientIdSecret !== undefined) {
      throw new TokenkeeperError(
        'config',
        `keyVault.connections.${name}: set credentialsSecret or clientIdSecret + clientSecretSecret, not both`,
      );
    }
    if (configured.has(name.toLowerCase())) {
      throw new TokenkeeperError(
        'config',
        `keyVault.connections names "${name}" twice (Key Vault ignores case)`,
      );
    }
    configured.set(name.toLowerCase(), { name, names });
  }
  return configured;
}

/** The client id and secret kept in two secrets name both (spec options and config alike). */
function assertSplitCredentialsPaired(
  where: string,
  names: { clientIdSecret?: string; clientSecretSecret?: string },
): void {
  if ((names.clientIdSecret === undefined) !== (names.clientSecretSecret === undefined)) {
    throw new TokenkeeperError(
      'config',
      `${where} clientIdSecret and clientSecretSecret go together: set both, or neither to use credentialsSecret`,
    );
  }
}

function vaultUrlOf(host: string): { vaultUrl: string; loopback: boolean } {
  const [hostname, port] = splitPort(host);
  if (LOOPBACK_HOSTS.has(hostname.toLowerCase())) {
    if (!port) {
      throw new TokenkeeperError(
        'config',
        `keyvault://${host}: a loopback vault needs a port (keyvault://127.0.0.1:PORT)`,
      );
    }
    return { vaultUrl: `https://${hostname}:${port}`, loopback: true };
  }
  if (hostname.includes('.')) {
    if (!/^[a-z0-9.-]+$/i.test(hostname)) {
      throw new TokenkeeperError('config', `keyvault://${host}: "${hostname}" is not a valid host name`);
    }
    return { vaultUrl: `https://${hostname.toLowerCase()}${port ? `:${port}` : ''}`, loopback: false };
  }
  if (port || !VAULT_NAME.test(hostname)) {
    throw new TokenkeeperError(
      'config',
      `keyvault://${host}: a vault name is 3–24 letters, digits and single hyphens, starting with a letter (or give the full host, e.g. keyvault://NAME.vault.azure.cn)`,
    );
  }
  return { vaultUrl: `https://${hostname.toLowerCase()}.vault.azure.net`, loopback: false };
}

function splitPort(host: string): [string, string | undefined] {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(host);
  if (!match?.[1]) throw new TokenkeeperError('config', `keyvault://${host}: not a valid host[:port]`);
  return [match[1], match[2]];
}
