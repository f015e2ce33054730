/**
 * The status page's reconnect flow of one connection under the daemon's public base URL: the one spelling of that
 * path, for the page's routes and for the links in messages that ask a human to act.
 */
export function reconnectPath(name: string): string {
  return `/connections/${encodeURIComponent(name)}/reconnect`;
}

/** The reconnect link of `name` under `publicUrl` (server.publicUrl, an origin such as https://keeper.example.com). */
export function reconnectUrl(publicUrl: string, name: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${reconnectPath(name)}`;
}

/**
 * The command that connects `name` again at its own provider (a new consent, the same connection): the one
 * spelling of it for every face that tells a human what to run.
 */
export function reconnectCommand(provider: string, name: string): string {
  return `tokenkeeper connect ${provider} --name ${name}`;
}

/** The command that moves connection `name` to `successor`, the provider that replaced its retired one. */
export function replaceCommand(successor: string, name: string): string {
  return `tokenkeeper connect ${successor} --replace ${name}`;
}

/** What to run for a reconnect hint: a new consent at the same provider, or a move to a retired one's successor. */
export function connectAgainCommand(hint: {
  provider: string;
  connection: string;
  retiredProvider?: string;
}): string {
  return hint.retiredProvider
    ? replaceCommand(hint.provider, hint.connection)
    : reconnectCommand(hint.provider, hint.connection);
}

/** What a human does about a provider's expiring client secret: the one wording for every face that says it. */
export function rotateSecretAdvice(provider: string): string {
  return `rotate the client secret in the provider's console and update providers.${provider}.clientSecret / clientSecretExpiresAt`;
}
