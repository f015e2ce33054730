import type { Command } from 'commander';
import { ApiKeyStore, apiKeyStorePath, type ApiKeyRecord } from '../../api-keys/api-key-store.ts';
import { TokenkeeperError } from '../../core/errors.ts';
import { configOf } from '../context.ts';
import { formatAgo, printJson, table } from '../output.ts';

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

function withApiKeys<T>(command: Command, work: (store: ApiKeyStore) => T): T {
  const store = ApiKeyStore.open(apiKeyStorePath(configOf(command).dataDir));
  try {
    return work(store);
  } finally {
    store.close();
  }
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
    .action((options: { scope: string[]; label?: string; json?: boolean }, command: Command) => {
      const created = withApiKeys(command, (store) =>
        store.create({ scopes: options.scope, label: options.label }),
      );
      if (options.json) return printJson({ ...recordJson(created), key: created.key });
      process.stdout.write(`${created.key}\n`);
      process.stderr.write(
        `API key ${created.id} created for ${created.scopes.join(', ')}. Store it now: it cannot be shown again.\n`,
      );
    });

  apiKey
    .command('list')
    .description('list API keys (ids, labels, scopes, last use; never the keys)')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }, command: Command) => {
      const records = withApiKeys(command, (store) => store.list());
      if (options.json) return printJson(records.map(recordJson));
      if (records.length === 0) {
        process.stdout.write(
          'No API keys yet. Create one with `tokenkeeper api-key create --scope <name>`.\n',
        );
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
      process.stdout.write(`${table(['ID', 'LABEL', 'SCOPE', 'CREATED', 'LAST USED', 'STATE'], rows)}\n`);
    });

  apiKey
    .command('revoke')
    .description('revoke an API key at once (the daemon checks keys on every request)')
    .argument('<id>', 'key id, as shown by `api-key list`')
    .action((id: string, _options: object, command: Command) => {
      const found = withApiKeys(command, (store) => store.revoke(id));
      if (!found) {
        throw new TokenkeeperError(
          'not_found',
          `no API key with id "${id}": see \`tokenkeeper api-key list\``,
        );
      }
      process.stdout.write(`API key ${id} revoked\n`);
    });
}
