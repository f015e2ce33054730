import { TokenkeeperError } from '../../core/errors.ts';

/**
 * Which Key Vault secrets hold one connection. The defaults are the seed C# function's names, so its vault is
 * read as it is and a user switches without re-consenting.
 */
export interface SecretNameMapping {
  refreshToken: string;
  accessToken: string;
  /** tokenkeeper's bookkeeping (status, version, write-ahead record, expiry): JSON next to the tokens. */
  state: string;
  credentials: { kind: 'basic'; secret: string } | { kind: 'split'; clientId: string; clientSecret: string };
}

export const defaultSecretNames = {
  refreshToken: 'RefreshToken',
  accessToken: 'AccessToken',
  credentials: 'FitbitCredentials',
  state: 'TokenkeeperState',
} as const;

/** The concrete secret names of one connection. */
export interface ConnectionSecretNames {
  refreshToken: string;
  accessToken: string;
  state: string;
  credentials: SecretNameMapping['credentials'];
}

const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const CONNECTION_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;

/** Key Vault's limit on one secret value. */
export const MAX_SECRET_VALUE_BYTES = 25 * 1024;

/**
 * The seed connection uses the mapping's names as they are; every other connection NAME prefixes them with
 * "NAME-" (e.g. "work-RefreshToken"), so one vault holds many connections.
 */
export function secretNamesFor(
  connection: string,
  mapping: SecretNameMapping,
  seedConnection: string,
): ConnectionSecretNames {
  assertKeyVaultConnectionName(connection);
  const prefix = connection.toLowerCase() === seedConnection.toLowerCase() ? '' : `${connection}-`;
  const name = (base: string) => checkedSecretName(`${prefix}${base}`, connection);
  const credentials: SecretNameMapping['credentials'] =
    mapping.credentials.kind === 'basic'
      ? { kind: 'basic', secret: name(mapping.credentials.secret) }
      : {
          kind: 'split',
          clientId: name(mapping.credentials.clientId),
          clientSecret: name(mapping.credentials.clientSecret),
        };
  return {
    refreshToken: name(mapping.refreshToken),
    accessToken: name(mapping.accessToken),
    state: name(mapping.state),
    credentials,
  };
}

export function assertKeyVaultConnectionName(connection: string): void {
  if (!CONNECTION_NAME.test(connection)) {
    throw new TokenkeeperError(
      'usage',
      `connection name "${connection}" cannot be kept in Key Vault: secret names allow only letters, digits and "-" (not at either end); pick another --name`,
    );
  }
}

function checkedSecretName(name: string, connection: string): string {
  if (!SECRET_NAME.test(name)) {
    throw new TokenkeeperError(
      'usage',
      `Key Vault secret name "${name.slice(0, 140)}" (connection "${connection}") is invalid: 1–127 letters, digits and "-"; use a shorter connection name or secret name option`,
    );
  }
  return name;
}

/** Refuses a value Key Vault would reject, before anything of the update is written. */
export function assertSecretValueFits(secretName: string, value: string): void {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_SECRET_VALUE_BYTES) {
    throw new TokenkeeperError(
      'store',
      `value for Key Vault secret "${secretName}" is ${bytes} bytes; Key Vault allows at most ${MAX_SECRET_VALUE_BYTES} (25 KB): nothing was written`,
    );
  }
}

/** Connection names found in a vault's secret names: the seed connection plus every "NAME-<state|refresh>". */
export function connectionNamesIn(
  secretNames: Iterable<string>,
  mapping: SecretNameMapping,
  seedConnection: string,
): string[] {
  const found = new Map<string, string>();
  const suffixes = [mapping.state, mapping.refreshToken].map((base) => `-${base}`.toLowerCase());
  const seedNames = [mapping.state, mapping.refreshToken].map((base) => base.toLowerCase());
  for (const secret of secretNames) {
    const lower = secret.toLowerCase();
    if (seedConnection && seedNames.includes(lower)) {
      found.set(seedConnection.toLowerCase(), seedConnection);
      continue;
    }
    const suffix = suffixes.find((candidate) => lower.endsWith(candidate));
    if (!suffix) continue;
    const name = secret.slice(0, secret.length - suffix.length);
    if (CONNECTION_NAME.test(name) && name.toLowerCase() !== seedConnection.toLowerCase()) {
      if (!found.has(name.toLowerCase())) found.set(name.toLowerCase(), name);
    }
  }
  return [...found.values()].sort((a, b) => a.localeCompare(b));
}
