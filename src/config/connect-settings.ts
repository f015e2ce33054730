/** The redirect URI of the loopback callback server, when the app registers none of its own. */
export function loopbackRedirectUri(port: number): string {
  return `http://127.0.0.1:${port}/callback`;
}
