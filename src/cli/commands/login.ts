import type { Command } from 'commander';
import { TokenkeeperError } from '../../core/errors.ts';
import { DEFAULT_LISTEN, localUrlOf, parseListen } from '../../server/listen.ts';
import { LOGIN_TICKET_TTL_MS } from '../../server/operator-auth.ts';
import { withApiKeys } from '../api-keys.ts';
import { configOf } from '../context.ts';
import { printJson } from '../output.ts';

interface LoginOptions {
  url?: string;
  json?: boolean;
}

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description(
      "print a one-time link that logs you in to the daemon's status page as operator (valid 10 minutes, once)",
    )
    .option(
      '--url <base>',
      'the daemon’s base URL as your browser reaches it (default: from server.listen, else http://127.0.0.1:8977)',
    )
    .option('--json', 'print JSON')
    .action((options: LoginOptions, command: Command) => {
      const loaded = configOf(command);
      const base = options.url ? checkedBase(options.url) : defaultBase(loaded.config.server);
      const issued = withApiKeys(loaded.dataDir, (store) => store.issueLoginTicket(LOGIN_TICKET_TTL_MS));
      const link = new URL('/login', base);
      link.searchParams.set('ticket', issued.ticket);
      const expiresAt = new Date(issued.expiresAt).toISOString();
      if (options.json) return printJson({ url: link.href, expiresAt });
      process.stdout.write(`${link.href}\n`);
      process.stderr.write(
        `Open this link in your browser to log in (it works once, until ${expiresAt}). Anyone holding it can log in: do not share it.\n`,
      );
    });
}

function defaultBase(server: { listen?: string; tls?: unknown } | undefined): string {
  const address = parseListen(server?.listen ?? DEFAULT_LISTEN, 'server.listen');
  return localUrlOf(address, server?.tls !== undefined);
}

function checkedBase(value: string): string {
  const url = URL.parse(value);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new TokenkeeperError('usage', `--url must be the daemon's http(s) base URL, got "${value}"`);
  }
  return url.origin;
}
