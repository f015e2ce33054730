/**
 * Every CLI command, in `--help` order: its name and one-line description (enough to list it in `--help` and
 * to complete its name) and how to load its module. A run imports only the module of the command it runs, so
 * `tokenkeeper token me` never loads the daemon's HTTP server, the demo or the PostgreSQL driver.
 *
 * Adding a command: write `registerX(program)` in commands/x.ts as usual (it defines the command with the same
 * description, its arguments, options and action) and add a row here. test/cli/command-table.test.ts checks
 * that each row's description is the one its module registers.
 */
import type { Command } from 'commander';

export interface CommandEntry {
  readonly name: string;
  readonly description: string;
  /** Imports the command's module; the function it returns defines the command on `program`. */
  readonly load: () => Promise<(program: Command) => void>;
}

export const commandTable: readonly CommandEntry[] = [
  {
    name: 'connect',
    description:
      "connect an account: opens the provider's consent page and saves the tokens (authorization code + PKCE)",
    load: async () => (await import('./commands/connect.ts')).registerConnect,
  },
  {
    name: 'add',
    description:
      "import an existing refresh token (e.g. from the old Azure Function's Key Vault) as a connection",
    load: async () => (await import('./commands/add.ts')).registerAdd,
  },
  {
    name: 'refresh',
    description:
      'refresh connections that are due (or all with --force); says per name: refreshed, not due, or FAILED (on stderr); exits non-zero if any failed',
    load: async () => (await import('./commands/refresh.ts')).registerRefresh,
  },
  {
    name: 'token',
    description:
      'print a valid access token, for: curl -H "Authorization: Bearer $(tokenkeeper token me)". A usable stored token is printed at once (a due renewal runs after, bounded); an expired one is refreshed first',
    load: async () => (await import('./commands/token.ts')).registerToken,
  },
  {
    name: 'status',
    description:
      'list connections (or one): provider, account, health, time to expiry of the access and refresh tokens, last refresh, last error; exits 3 if any shown needs a human (needs_reauth, provider_retired), else 6 if a refresh token or client secret of one expires soon (expiring_soon), else 0',
    load: async () => (await import('./commands/status.ts')).registerStatus,
  },
  {
    name: 'providers',
    description:
      'list the providers you can connect (built in and from your config), with docs links and the app settings they need',
    load: async () => (await import('./commands/providers.ts')).registerProviders,
  },
  {
    name: 'remove',
    description:
      'delete a connection from the store (with --revoke, revoke its tokens at the provider first); asks first on a terminal',
    load: async () => (await import('./commands/remove.ts')).registerRemove,
  },
  {
    name: 'run',
    description:
      'daemon: refresh every connection when it falls due and serve the token API, status page and metrics, until SIGTERM/SIGINT (finishes in-flight refreshes)',
    load: async () => (await import('./commands/run.ts')).registerRun,
  },
  {
    name: 'migrate',
    description:
      'apply pending schema migrations to a PostgreSQL store (--store postgres://…); stores also migrate on start',
    load: async () => (await import('./commands/migrate.ts')).registerMigrate,
  },
  {
    name: 'api-key',
    description: "manage API keys for the daemon's HTTP API (stored hashed in <data dir>/api-keys.db)",
    load: async () => (await import('./commands/api-key.ts')).registerApiKey,
  },
  {
    name: 'login',
    description:
      "print a one-time link that logs you in to the daemon's status page as operator (valid 10 minutes, once)",
    load: async () => (await import('./commands/login.ts')).registerLogin,
  },
  {
    name: 'webhook',
    description: 'webhooks: send a test delivery, make a signing secret, read the delivery log',
    load: async () => (await import('./commands/webhook.ts')).registerWebhook,
  },
  {
    name: 'fetch',
    description:
      "call the provider's API with the connection's access token, e.g. `tokenkeeper fetch me /1/user/-/profile.json`: checks a connection end to end",
    load: async () => (await import('./commands/fetch.ts')).registerFetch,
  },
  {
    name: 'demo',
    description:
      'watch tokenkeeper keep a simulated Fitbit connection alive (no account needed; nothing is kept); with --serve, run the simulated provider for your own CLI commands',
    load: async () => (await import('./commands/demo.ts')).registerDemo,
  },
  {
    name: 'doctor',
    description:
      'check the set-up and say what to fix: Node, config, data dir, key, store, providers (and their token endpoints), daemon port; changes nothing',
    load: async () => (await import('./commands/doctor.ts')).registerDoctor,
  },
  {
    name: 'completion',
    description: 'print a shell completion script: tokenkeeper completion bash|zsh|fish',
    load: async () => (await import('./commands/completion.ts')).registerCompletion,
  },
];
