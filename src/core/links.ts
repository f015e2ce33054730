/**
 * The status page's reconnect flow of one connection under the daemon's public base URL: the one spelling of that
 * path, for the page's routes and for the links in messages that ask a human to act.
 */
export function reconnectPath(name: string): string {
  return `/connections/${encodeURIComponent(name)}/reconnect`;
}

/** The reconnect link of `name` under `publicUrl` (server.publicUrl), e.g. https://keeper.example.com/base. */
export function reconnectUrl(publicUrl: string, name: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${reconnectPath(name)}`;
}
