import type { Command } from 'commander';
import { commandAction, settingsOf } from '../context.ts';
import type { CliIo } from '../io.ts';
import { printJson } from '../output.ts';

export interface MigrateOptions {
  /** Only list applied and pending migrations. */
  status: boolean;
  json: boolean;
}

export async function runMigrate(options: MigrateOptions, io: CliIo): Promise<void> {
  const { store } = settingsOf(io);
  if (!/^postgres(ql)?:\/\//i.test(store)) {
    const kind = /^[a-z][a-z0-9+.-]*:\/\//i.test(store) ? store.split(':')[0] : 'SQLite';
    if (options.json) return printJson(io, { store: kind, migrations: 'none needed' });
    io.stdout.write(
      `Nothing to migrate: the ${kind} store needs no migrations (it upgrades itself when opened).\n`,
    );
    return;
  }
  const { migrateStore } = await import('../../stores/postgres/migrate.ts');
  const state = await migrateStore(store, { apply: !options.status });
  if (options.json) {
    return printJson(io, {
      store: state.location,
      schema: state.schema,
      applied: state.applied,
      appliedNow: state.appliedNow,
      pending: state.pending,
      latest: state.latest,
    });
  }
  const lines = [`Store ${state.location} (schema "${state.schema}")`];
  for (const version of state.appliedNow) lines.push(`  applied migration ${version}`);
  if (state.pending.length > 0) {
    lines.push(
      `  pending: ${state.pending.map((m) => `${m.version} (${m.name})`).join(', ')} — run \`tokenkeeper migrate\` to apply`,
    );
  } else {
    lines.push(`  up to date at migration ${state.applied.at(-1) ?? 0}`);
  }
  io.stdout.write(`${lines.join('\n')}\n`);
}

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description(
      'apply pending schema migrations to a PostgreSQL store (--store postgres://…); stores also migrate on start',
    )
    .option('--status', 'only list applied and pending migrations, change nothing')
    .option('--json', 'print JSON')
    .action(
      commandAction(
        (flags: { status?: boolean; json?: boolean }) => ({
          status: flags.status ?? false,
          json: flags.json ?? false,
        }),
        runMigrate,
      ),
    );
}
