import { TokenkeeperError } from '../../core/errors.ts';
import { KEY_VAULT_CONNECTION_NAME, KEY_VAULT_SECRET_NAME } from '../../core/names.ts';

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

/** Secret names a user chose for one connection (config `keyVault.connections.NAME`); unset roles get defaults. */
export interface ConfiguredSecretNames {
  refreshTokenSecret?: string;
  accessTokenSecret?: string;
  credentialsSecret?: string;
  clientIdSecret?: string;
  clientSecretSecret?: string;
  stateSecret?: string;
}

/** How a vault's secrets are named, and which connections the user named (and so may take over secrets). */
export interface SecretNaming {
  mapping: SecretNameMapping;
  /** The connection kept under the mapping's unprefixed names ("RefreshToken", …). */
  seedConnection: string;
  /** True when the user named the seed connection (the `seed` option): only then are its secrets adopted. */
  seedNamed: boolean;
  /** Connections with names of their own, keyed by lower-case connection name. */
  configured: ReadonlyMap<string, { name: string; names: ConfiguredSecretNames }>;
}

/** The tag on every secret tokenkeeper writes: what it did not write, it never reads as a connection or writes. */
export const MANAGED_BY = { tag: 'managed-by', value: 'tokenkeeper' } as const;

/** A secret version's properties as listed (no value). */
export interface SecretListing {
  name: string;
  tags?: Record<string, string>;
  contentType?: string;
}

/** True for a secret tokenkeeper wrote (since it tags what it writes). */
export function writtenByTokenkeeper(secret: Omit<SecretListing, 'name'>): boolean {
  return secret.tags?.[MANAGED_BY.tag] === MANAGED_BY.value;
}

/**
 * True for a connection's state secret that tokenkeeper wrote: tagged, or — written before the tag existed — JSON
 * beside a refresh token that tokenkeeper wrote with the connection's name as a tag. An earlier version took
 * other apps' "NAME-RefreshToken" secrets for connections and wrote a state beside them; their refresh token
 * never carries that tag, so those states are not taken for tokenkeeper's.
 */
export function isTokenkeeperState(
  connection: string,
  state: Omit<SecretListing, 'name'>,
  refreshToken: Omit<SecretListing, 'name'> | undefined,
): boolean {
  if (writtenByTokenkeeper(state)) return true;
  if (state.contentType !== 'application/json' || !refreshToken) return false;
  return (
    writtenByTokenkeeper(refreshToken) ||
    refreshToken.tags?.connection?.toLowerCase() === connection.toLowerCase()
  );
}

/** Key Vault's limit on one secret value. */
export const MAX_SECRET_VALUE_BYTES = 25 * 1024;

/**
 * The seed connection uses the mapping's names as they are; a configured connection the names it was given;
 * every other connection NAME prefixes the mapping's names with "NAME-" (e.g. "work-RefreshToken").
 */
export function secretNamesFor(connection: string, naming: SecretNaming): ConnectionSecretNames {
  assertKeyVaultConnectionName(connection);
  const lower = connection.toLowerCase();
  const { mapping } = naming;
  const prefix = lower === naming.seedConnection.toLowerCase() ? '' : `${connection}-`;
  const own = naming.configured.get(lower)?.names ?? {};
  const name = (chosen: string | undefined, base: string) =>
    checkedSecretName(chosen ?? `${prefix}${base}`, connection);
  let credentials: SecretNameMapping['credentials'];
  if (own.clientIdSecret !== undefined || own.clientSecretSecret !== undefined) {
    const split = mapping.credentials.kind === 'split' ? mapping.credentials : undefined;
    credentials = {
      kind: 'split',
      clientId: name(own.clientIdSecret, split?.clientId ?? 'ClientId'),
      clientSecret: name(own.clientSecretSecret, split?.clientSecret ?? 'ClientSecret'),
    };
  } else if (own.credentialsSecret !== undefined || mapping.credentials.kind === 'basic') {
    const base =
      mapping.credentials.kind === 'basic' ? mapping.credentials.secret : defaultSecretNames.credentials;
    credentials = { kind: 'basic', secret: name(own.credentialsSecret, base) };
  } else {
    credentials = {
      kind: 'split',
      clientId: name(undefined, mapping.credentials.clientId),
      clientSecret: name(undefined, mapping.credentials.clientSecret),
    };
  }
  return {
    refreshToken: name(own.refreshTokenSecret, mapping.refreshToken),
    accessToken: name(own.accessTokenSecret, mapping.accessToken),
    state: name(own.stateSecret, mapping.state),
    credentials,
  };
}

/**
 * True for a connection the user named — the seed option's or one in `keyVault.connections` — whose secrets may
 * be taken over although tokenkeeper did not write them (e.g. the C# function's RefreshToken).
 */
export function mayAdopt(connection: string, naming: SecretNaming): boolean {
  const lower = connection.toLowerCase();
  return (naming.seedNamed && lower === naming.seedConnection.toLowerCase()) || naming.configured.has(lower);
}

export function assertKeyVaultConnectionName(connection: string): void {
  if (!KEY_VAULT_CONNECTION_NAME.test(connection)) {
    throw new TokenkeeperError(
      'usage',
      `connection name "${connection}" cannot be kept in Key Vault: secret names allow only letters, digits and "-" (not at either end); pick another --name`,
    );
  }
}

function checkedSecretName(name: string, connection: string): string {
  if (!KEY_VAULT_SECRET_NAME.test(name)) {
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

/**
 * The connections in a vault's secret listing: each connection the user named whose state or refresh token is
 * there, plus every other "NAME-<state>" secret tokenkeeper wrote. Secrets of other apps (say
 * "spotify-RefreshToken") are not connections, whatever their names.
 */
export function connectionNamesIn(secrets: Iterable<SecretListing>, naming: SecretNaming): string[] {
  const byName = new Map<string, SecretListing>();
  for (const secret of secrets) byName.set(secret.name.toLowerCase(), secret);
  const found = new Map<string, string>();
  const named = [...naming.configured.values()].map((entry) => entry.name);
  if (naming.seedConnection) named.push(naming.seedConnection);
  for (const connection of named) {
    const names = secretNamesFor(connection, naming);
    const state = byName.get(names.state.toLowerCase());
    const adoptable = mayAdopt(connection, naming);
    const refreshToken = byName.get(names.refreshToken.toLowerCase());
    if (
      (state && (adoptable || isTokenkeeperState(connection, state, refreshToken))) ||
      (adoptable && byName.has(names.refreshToken.toLowerCase()))
    ) {
      found.set(connection.toLowerCase(), connection);
    }
  }
  const suffix = `-${naming.mapping.state}`.toLowerCase();
  for (const secret of byName.values()) {
    if (!secret.name.toLowerCase().endsWith(suffix)) continue;
    const name = secret.name.slice(0, secret.name.length - suffix.length);
    const refreshToken = byName.get(`${name}-${naming.mapping.refreshToken}`.toLowerCase());
    if (!isTokenkeeperState(name, secret, refreshToken)) continue;
    const lower = name.toLowerCase();
    if (!KEY_VAULT_CONNECTION_NAME.test(name) || found.has(lower)) continue;
    // A named connection lives under its own names; a look-alike prefixed secret is not it.
    if (lower === naming.seedConnection.toLowerCase() || naming.configured.has(lower)) continue;
    found.set(lower, name);
  }
  return [...found.values()].sort((a, b) => a.localeCompare(b));
}
