import type { Command } from 'commander';
import { ALL_CONNECTIONS, type ApiKeyRecord } from '../../api-keys/api-key-store.ts';
import { looksLikeApiKey, parseApiKey } from '../../api-keys/key-format.ts';
import { describeError, TokenkeeperError } from '../../core/errors.ts';
import { withApiKeys } from '../api-keys.ts';
import { commandAction, settingsOf, withKeeper } from '../context.ts';
import type { CliIo } from '../io.ts';
import { formatAgo, printJson, table } from '../output.ts';
import { readAllStdin } from '../stdin.ts';

const iso = (at: number | undefined) => (at === undefined ? null : new Date(at).toISOString());

function recordJson(record: ApiKeyRecord) {
  return {
    id: record.id,
    label: record.label ?? null,
    scopes: record.scopes,
    createdAt: iso(record.createdAt),
    lastUsedAt: iso(record.lastUsedAt),
    revokedAt: iso(record.revokedAt),
  };
}

export interface ApiKeyCreateOptions {
  /** Connection names the key may use ("*" for all). */
  scopes: string[];
  label?: string;
  json: boolean;
}

export function apiKeyCreateOptions(flags: {
  scope: string[];
  label?: string;
  json?: boolean;
}): ApiKeyCreateOptions {
  return {
    scopes: flags.scope,
    ...(flags.label !== undefined && { label: flags.label }),
    json: flags.json ?? false,
  };
}

export async function runApiKeyCreate(options: ApiKeyCreateOptions, io: CliIo): Promise<void> {
  const created = withApiKeys(settingsOf(io).dataDir, (store) =>
    store.create({ scopes: options.scopes, label: options.label }),
  );
  // The key is printed before anything else can fail: it exists now and is shown only this once.
  if (options.json) printJson(io, { ...recordJson(created), key: created.key });
  else {
    io.stdout.write(`${created.key}\n`);
    io.stderr.write(
      `API key ${created.id} created for ${created.scopes.join(', ')}. Store it now: it cannot be shown again.\n`,
    );
  }
  await warnOfUnknownScopes(io, created);
}

export function runApiKeyList(options: { json: boolean }, io: CliIo): void {
  const records = withApiKeys(settingsOf(io).dataDir, (store) => store.list());
  if (options.json) return printJson(io, records.map(recordJson));
  if (records.length === 0) {
    io.stdout.write('No API keys yet. Create one with `tokenkeeper api-key create --scope <name>`.\n');
    return;
  }
  const now = Date.now();
  const rows = records.map((r) => [
    r.id,
    r.label ?? '-',
    r.scopes.join(','),
    formatAgo(r.createdAt, now),
    formatAgo(r.lastUsedAt, now),
    r.revokedAt === undefined ? 'active' : 'revoked',
  ]);
  io.stdout.write(`${table(['ID', 'LABEL', 'SCOPE', 'CREATED', 'LAST USED', 'STATE'], rows, io)}\n`);
}

export interface ApiKeyRevokeOptions {
  /** A key id, a whole key, or - to read the key from stdin. */
  given: string;
}

export async function runApiKeyRevoke(options: ApiKeyRevokeOptions, io: CliIo): Promise<void> {
  const idOrKey = options.given === '-' ? await readAllStdin('API key', io) : options.given.trim();
  const revoked = withApiKeys(settingsOf(io).dataDir, (store) => {
    const id = looksLikeApiKey(idOrKey) ? store.idOfKey(idOrKey) : idOrKey;
    return id !== undefined && store.revoke(id) ? id : undefined;
  });
  if (!revoked) throw noSuchKey(idOrKey);
  io.stdout.write(`API key ${revoked} revoked\n`);
}

export function registerApiKey(program: Command): void {
  const apiKey = program
    .command('api-key')
    .description("manage API keys for the daemon's HTTP API (stored hashed in <data dir>/api-keys.db)");

  apiKey
    .command('create')
    .description('create an API key; it is printed once and cannot be shown again')
    .requiredOption('--scope <names...>', 'connection names the key may use ("*" for all)')
    .option('--label <text>', 'what the key is for (shown by `api-key list`)')
    .option('--json', 'print JSON')
    .action(commandAction(apiKeyCreateOptions, runApiKeyCreate));

  apiKey
    .command('list')
    .description('list API keys (ids, labels, scopes, last use; never the keys)')
    .option('--json', 'print JSON')
    .action(commandAction((flags: { json?: boolean }) => ({ json: flags.json ?? false }), runApiKeyList));

  apiKey
    .command('revoke')
    .description('revoke an API key at once (the daemon checks keys on every request)')
    .argument('<id|key>', 'key id as shown by `api-key list`, the whole key, or - to read the key from stdin')
    .action(commandAction((given: string) => ({ given }), runApiKeyRevoke));
}

/** What `revoke` says when nothing matched: it names an id, never any part of a key's secret. */
function noSuchKey(idOrKey: string): TokenkeeperError {
  const seeList = 'see `tokenkeeper api-key list`';
  if (!looksLikeApiKey(idOrKey)) {
    const shown = /^[\w-]{1,32}$/.test(idOrKey) ? `id "${idOrKey}"` : 'that id';
    return new TokenkeeperError('not_found', `no API key with ${shown}: ${seeList}`);
  }
  const parsed = parseApiKey(idOrKey);
  return new TokenkeeperError(
    'not_found',
    parsed
      ? `no API key matches the key given (tkk_${parsed.id}_…): unknown id or wrong secret; ${seeList}`
      : `the text given is not a whole API key (tkk_<id>_<secret>): pass the whole key, or its id (${seeList})`,
  );
}

/**
 * A scope names connections that may be added later, so an unknown name does not stop the key; but it is
 * most often a typo, so say so. Best effort: the API key store does not depend on the connection store.
 */
async function warnOfUnknownScopes(io: CliIo, created: ApiKeyRecord): Promise<void> {
  const names = created.scopes.filter((scope) => scope !== ALL_CONNECTIONS);
  if (names.length === 0) return;
  let unknown: string[];
  try {
    const existing = await withKeeper(io, async (keeper) =>
      (await keeper.status()).map((connection) => connection.name),
    );
    unknown = names.filter((name) => !existing.includes(name));
  } catch (error) {
    io.stderr.write(
      `tokenkeeper: warning: could not check the scope against the connections (${describeError(error)})\n`,
    );
    return;
  }
  if (unknown.length === 0) return;
  const listed = unknown.map((name) => `"${name}"`).join(', ');
  io.stderr.write(
    `tokenkeeper: warning: no connection named ${listed} exists: the key was created anyway and will work for ${unknown.length > 1 ? 'them' : 'it'} once added (check the spelling with \`tokenkeeper status\`, or revoke the key with \`tokenkeeper api-key revoke ${created.id}\`)\n`,
  );
}
