import type { Command } from 'commander';
import { configDefaults } from '../../config/defaults.ts';
import { TokenkeeperError } from '../../core/errors.ts';
import { localUrlOf, parseListen } from '../../server/listen.ts';
import { LOGIN_TICKET_TTL_MS } from '../../server/operator-auth.ts';
import { withApiKeys } from '../api-keys.ts';
import { commandAction, settingsOf } from '../context.ts';
import type { CliIo } from '../io.ts';
import { printJson } from '../output.ts';

export interface LoginOptions {
  /** The daemon's base URL as the browser reaches it; default: from server.listen. */
  url?: string;
  json: boolean;
}

export function loginOptions(flags: { url?: string; json?: boolean }): LoginOptions {
  return { ...(flags.url !== undefined && { url: checkedBase(flags.url) }), json: flags.json ?? false };
}

export function runLogin(options: LoginOptions, io: CliIo): void {
  const settings = settingsOf(io);
  const base = options.url ?? defaultBase(settings.server);
  const issued = withApiKeys(settings.dataDir, (store) => store.issueLoginTicket(LOGIN_TICKET_TTL_MS));
  const link = new URL('/login', base);
  link.searchParams.set('ticket', issued.ticket);
  const expiresAt = new Date(issued.expiresAt).toISOString();
  if (options.json) return printJson(io, { url: link.href, expiresAt });
  io.stdout.write(`${link.href}\n`);
  io.stderr.write(
    `Open this link in your browser to log in (it works once, until ${expiresAt}). Anyone holding it can log in: do not share it.\n`,
  );
}

export function registerLogin(program: Command): void {
  program
    .command('login')
    .description(
      "print a one-time link that logs you in to the daemon's status page as operator (valid 10 minutes, once)",
    )
    .option(
      '--url <base>',
      `the daemon’s base URL as your browser reaches it (default: from server.listen, else http://${configDefaults.server.listen})`,
    )
    .option('--json', 'print JSON')
    .action(commandAction(loginOptions, runLogin));
}

function defaultBase(server: { listen: string; tls?: unknown }): string {
  return localUrlOf(parseListen(server.listen, 'server.listen'), server.tls !== undefined);
}

function checkedBase(value: string): string {
  const url = URL.parse(value);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new TokenkeeperError('usage', `--url must be the daemon's http(s) base URL, got "${value}"`);
  }
  return url.origin;
}
