import { TokenkeeperError } from '../../core/errors.ts';
import type { Connection, PendingAttempt, TokenSet } from '../../core/types.ts';
import { MANAGED_BY } from './secret-names.ts';

/** One secret as read from Key Vault (latest version). */
export interface RawSecret {
  value: string;
  version: string;
  createdOn?: number;
  expiresOn?: number;
  tags?: Record<string, string>;
  contentType?: string;
}

/** What one connection's secrets hold right now. */
export interface RawConnection {
  state?: RawSecret;
  refreshToken?: RawSecret;
  accessToken?: RawSecret;
  clientId?: RawSecret;
  clientSecret?: RawSecret;
  /** The seed's pre-encoded Basic value. */
  basicCredentials?: RawSecret;
}

/** A connection's fields kept in the state secret as they are. */
type Bookkeeping = Pick<
  Connection,
  | 'provider'
  | 'grant'
  | 'clientId'
  | 'status'
  | 'failureCount'
  | 'lastError'
  | 'lastErrorAt'
  | 'lastRefreshAt'
  | 'nextAttemptAt'
  | 'version'
  | 'createdAt'
  | 'updatedAt'
>;

/** tokenkeeper's bookkeeping secret. Tokens themselves live only in their own secrets. */
export interface StoredState extends Bookkeeping {
  schema: 1;
  pending?: Omit<PendingAttempt, 'refreshToken'> & {
    /** Set only if the token being spent is not the stored refresh token (the engine never does that today). */
    refreshToken?: string;
  };
  /** Versions of the token secrets this state was written with: a mismatch means a torn or outside write. */
  refreshTokenVersion?: string;
  accessTokenVersion?: string;
  tokens: Omit<TokenSet, 'accessToken' | 'refreshToken'>;
}

/**
 * Tags on the access-token secret, readable in the portal and by other tools with list permission alone.
 * The account (user) and scope are written only when the user opts in (config keyVault.accountTags).
 */
export const accessTokenTagNames = {
  expiry: 'expiry',
  user: 'user',
  scope: 'scope',
  tokenType: 'tokenType',
  obtainedAt: 'obtainedAt',
  connection: 'connection',
} as const;

export interface DecodedConnection {
  connection: Connection;
  /** Changes whenever any of the connection's secrets (or its write-ahead note) changes: compared under the lease before writing. */
  revision: string;
  /** The revision of the secrets alone: a write-ahead note applies only while they still are at it. */
  secretsRevision: string;
}

/**
 * A write-ahead record kept beside the connection's lock (blob metadata) instead of as a new state version:
 * Key Vault keeps every version of a secret, so a refresh writes the state secret once, not twice. It applies
 * only while the secrets are exactly as they were when it was written (`base`); any later write voids it.
 */
export interface WriteAheadNote {
  base: string;
  version: number;
  updatedAt: number;
  pending: { attemptId: string; startedAt: number; owner: string };
}

/**
 * Builds the connection from its secrets. The refresh-token secret is the truth for the refresh token (it is
 * written first); the access-token secret carries its own expiry. Without a state secret (the seed C# function's
 * vault) the connection is read as active at version 0. When the token secrets moved on after the state was
 * written (a writer stopped between its writes, or an outside tool wrote), the write-ahead record is void —
 * the new tokens were saved — and the version counts one up so a writer holding the old one is refused.
 */
export function decodeConnection(
  name: string,
  raw: RawConnection,
  defaults: { provider: string },
  note?: WriteAheadNote,
): DecodedConnection | undefined {
  if (!raw.state && !raw.refreshToken) return undefined;
  const state = raw.state ? parseState(name, raw.state.value) : undefined;
  const credentials = decodeCredentials(raw);
  const rtVersion = raw.refreshToken?.version;
  const atVersion = raw.accessToken?.version;
  const torn =
    state !== undefined &&
    ((state.refreshTokenVersion ?? '') !== (rtVersion ?? '') ||
      (state.accessTokenVersion ?? '') !== (atVersion ?? ''));
  const tokens: TokenSet = {
    refreshToken: raw.refreshToken?.value,
    accessToken: raw.accessToken?.value,
    ...(state && !torn ? state.tokens : tornTokenMetadata(state, raw)),
  };
  const createdAt = state?.createdAt ?? raw.refreshToken?.createdOn ?? Date.now();
  const base: Connection = {
    name,
    provider: state?.provider ?? defaults.provider,
    grant: state?.grant,
    clientId: credentials.clientId ?? state?.clientId ?? '',
    clientSecret: credentials.clientSecret,
    tokens,
    status: state?.status ?? 'active',
    failureCount: state?.failureCount ?? 0,
    lastError: state?.lastError,
    lastErrorAt: state?.lastErrorAt,
    lastRefreshAt: state?.lastRefreshAt,
    nextAttemptAt: state?.nextAttemptAt,
    version: state ? state.version + (torn ? 1 : 0) : 0,
    createdAt,
    updatedAt: state?.updatedAt ?? raw.refreshToken?.createdOn ?? createdAt,
  };
  if (state?.pending && !torn && tokens.refreshToken !== undefined) {
    base.pending = {
      attemptId: state.pending.attemptId,
      startedAt: state.pending.startedAt,
      owner: state.pending.owner,
      refreshToken: state.pending.refreshToken ?? tokens.refreshToken,
    };
  }
  // Token secrets newer than a state with an attempt under way: that attempt's tokens were saved (a retired
  // connection's forced refresh too: the provider answered normally).
  const attemptSaved = state?.pending !== undefined && base.status === 'provider_retired';
  if (torn && (base.status === 'refreshing' || base.status === 'failing' || attemptSaved)) {
    base.status = 'active';
    base.failureCount = 0;
    base.nextAttemptAt = undefined;
  }
  const secrets = secretsRevision(state?.version, rtVersion, atVersion);
  let revision = secrets;
  if (note && note.base === secrets && tokens.refreshToken !== undefined) {
    base.pending = { ...note.pending, refreshToken: tokens.refreshToken };
    base.status = 'refreshing';
    base.version = note.version;
    base.updatedAt = note.updatedAt;
    revision = noteRevision(secrets, note.version);
  } else if (note && note.version >= base.version) {
    // The secrets moved on after the note (an outside write): count above the interrupted writer's version.
    base.version = note.version + 1;
  }
  if (base.status === 'refreshing' && !base.pending) base.status = 'active';
  return { connection: base, revision, secretsRevision: secrets };
}

/** The revision of a connection's secrets: its state's version and the versions of its token secrets. */
export function secretsRevision(
  stateVersion: number | undefined,
  refreshTokenVersion: string | undefined,
  accessTokenVersion: string | undefined,
): string {
  return [stateVersion ?? '-', refreshTokenVersion ?? '-', accessTokenVersion ?? '-'].join(':');
}

/** The revision of a connection whose write-ahead note (of `version`) applies on top of its secrets. */
export function noteRevision(secrets: string, version: number): string {
  return `${secrets}+${version}`;
}

/**
 * True when `next` differs from `current` only by a new write-ahead record (status refreshing, pending on the
 * stored refresh token): the update the engine makes before each token request.
 */
export function isWriteAheadOnly(current: Connection, next: Connection): boolean {
  if (next.status !== 'refreshing' || !next.pending) return false;
  if (next.pending.refreshToken !== current.tokens.refreshToken) return false;
  if (next.clientSecret !== current.clientSecret) return false;
  const { accessToken: a1, refreshToken: r1 } = current.tokens;
  const { accessToken: a2, refreshToken: r2 } = next.tokens;
  if (a1 !== a2 || r1 !== r2) return false;
  const comparable = (connection: Connection) =>
    JSON.stringify(
      encodeState({ ...connection, status: 'refreshing', pending: undefined, version: 0, updatedAt: 0 }, {}),
    );
  return comparable(current) === comparable(next);
}

export function encodeNote(note: WriteAheadNote): string {
  return Buffer.from(JSON.stringify(note), 'utf8').toString('base64url');
}

/** An unreadable note is ignored: it only ever marks an attempt whose outcome is unknown. */
export function decodeNote(text: string | undefined): WriteAheadNote | undefined {
  if (!text) return undefined;
  try {
    const note = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as WriteAheadNote;
    const valid =
      typeof note.base === 'string' &&
      typeof note.version === 'number' &&
      typeof note.pending?.attemptId === 'string' &&
      typeof note.pending.startedAt === 'number';
    return valid ? note : undefined;
  } catch {
    return undefined;
  }
}

export function encodeState(
  connection: Connection,
  versions: { refreshToken?: string; accessToken?: string },
): StoredState {
  const { accessToken: _access, refreshToken: _refresh, ...tokenMetadata } = connection.tokens;
  const pending = connection.pending;
  return {
    schema: 1,
    provider: connection.provider,
    ...(connection.grant && { grant: connection.grant }),
    clientId: connection.clientId,
    status: connection.status,
    ...(pending && {
      pending: {
        attemptId: pending.attemptId,
        startedAt: pending.startedAt,
        owner: pending.owner,
        ...(pending.refreshToken !== connection.tokens.refreshToken && {
          refreshToken: pending.refreshToken,
        }),
      },
    }),
    failureCount: connection.failureCount,
    lastError: connection.lastError,
    lastErrorAt: connection.lastErrorAt,
    lastRefreshAt: connection.lastRefreshAt,
    nextAttemptAt: connection.nextAttemptAt,
    version: connection.version,
    createdAt: connection.createdAt,
    updatedAt: connection.updatedAt,
    refreshTokenVersion: versions.refreshToken,
    accessTokenVersion: versions.accessToken,
    tokens: tokenMetadata,
  };
}

/** Tags of the access-token secret: expiry, account and scope visible without reading the value. */
export function accessTokenTags(
  connection: Connection,
  options: { accountTags: boolean },
): Record<string, string> {
  const { tokens } = connection;
  const tags: Record<string, string> = {
    [MANAGED_BY.tag]: MANAGED_BY.value,
    [accessTokenTagNames.connection]: connection.name,
  };
  if (tokens.expiresAt !== undefined)
    tags[accessTokenTagNames.expiry] = new Date(tokens.expiresAt).toISOString();
  if (tokens.obtainedAt !== undefined) {
    tags[accessTokenTagNames.obtainedAt] = new Date(tokens.obtainedAt).toISOString();
  }
  if (options.accountTags && tokens.providerUserId) {
    tags[accessTokenTagNames.user] = tagValue(tokens.providerUserId);
  }
  if (options.accountTags && tokens.scope) tags[accessTokenTagNames.scope] = tagValue(tokens.scope);
  if (tokens.tokenType) tags[accessTokenTagNames.tokenType] = tagValue(tokens.tokenType);
  return tags;
}

/** base64("client_id:client_secret"), the seed's FitbitCredentials value. */
export function encodeBasicCredentials(clientId: string, clientSecret: string): string {
  return Buffer.from(`${clientId}:${clientSecret}`, 'utf8').toString('base64');
}

/**
 * Token metadata when the state does not match the token secrets (or there is none): the access token's from
 * its own tags; what belongs to the refresh token (when it dies, whose it is) from the state as long as the
 * refresh token is still the one that state was written with.
 */
function tornTokenMetadata(
  state: StoredState | undefined,
  raw: RawConnection,
): Omit<TokenSet, 'accessToken' | 'refreshToken'> {
  const fromAccessToken = accessTokenMetadata(raw.accessToken);
  if (!state || (state.refreshTokenVersion ?? '') !== (raw.refreshToken?.version ?? ''))
    return fromAccessToken;
  const { refreshTokenExpiresAt, providerUserId } = state.tokens;
  return {
    ...fromAccessToken,
    ...(refreshTokenExpiresAt !== undefined && { refreshTokenExpiresAt }),
    ...(fromAccessToken.providerUserId === undefined && providerUserId !== undefined && { providerUserId }),
  };
}

function accessTokenMetadata(secret: RawSecret | undefined): Omit<TokenSet, 'accessToken' | 'refreshToken'> {
  if (!secret) return {};
  const tags = secret.tags ?? {};
  const expiry = secret.expiresOn ?? parseTime(tags[accessTokenTagNames.expiry]);
  return {
    expiresAt: expiry,
    obtainedAt:
      parseTime(tags[accessTokenTagNames.obtainedAt]) ??
      (expiry !== undefined ? secret.createdOn : undefined),
    scope: tags[accessTokenTagNames.scope],
    tokenType: tags[accessTokenTagNames.tokenType],
    providerUserId: tags[accessTokenTagNames.user],
  };
}

function decodeCredentials(raw: RawConnection): { clientId?: string; clientSecret?: string } {
  if (raw.basicCredentials) {
    const encoded = raw.basicCredentials.value.replace(/^Basic\s+/i, '').trim();
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0 || colon === decoded.length - 1) {
      throw new TokenkeeperError(
        'store',
        'the Key Vault credentials secret is not base64("client_id:client_secret"): fix the secret (e.g. FitbitCredentials) or use clientIdSecret/clientSecretSecret',
      );
    }
    return { clientId: decoded.slice(0, colon), clientSecret: decoded.slice(colon + 1) };
  }
  return { clientId: raw.clientId?.value.trim(), clientSecret: raw.clientSecret?.value };
}

function parseState(name: string, text: string): StoredState {
  try {
    const parsed = JSON.parse(text) as StoredState;
    if (parsed.schema !== 1 || typeof parsed.version !== 'number') throw new Error('unknown schema');
    return parsed;
  } catch (error) {
    throw new TokenkeeperError(
      'store',
      `the tokenkeeper state secret of connection "${name}" is unreadable (${(error as Error).message}): restore an earlier version of it, or delete it to start from the token secrets alone`,
    );
  }
}

function parseTime(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const time = Date.parse(text);
  return Number.isFinite(time) ? time : undefined;
}

/** Key Vault tag values hold at most 512 characters. */
function tagValue(text: string): string {
  return text.length <= 512 ? text : `${text.slice(0, 511)}…`;
}
