import type { ConfigFile } from './schema.ts';

/** The callback port when neither --port nor connect.port says otherwise. */
export const DEFAULT_CALLBACK_PORT = 8976;
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 300;

export interface ConnectSettings {
  /** Port of the loopback callback server; 0 picks any free port when the flow starts. */
  port: number;
  /** How long a connect waits for the user's consent. */
  timeoutSeconds: number;
}

/** The one place connect settings are decided: what the command line says, else the config, else the default. */
export function resolveConnectSettings(
  config: ConfigFile,
  overrides: Partial<ConnectSettings> = {},
): ConnectSettings {
  return {
    port: overrides.port ?? config.connect?.port ?? DEFAULT_CALLBACK_PORT,
    timeoutSeconds:
      overrides.timeoutSeconds ?? config.connect?.timeoutSeconds ?? DEFAULT_CONNECT_TIMEOUT_SECONDS,
  };
}

/** The redirect URI of the loopback callback server, when the app registers none of its own. */
export function loopbackRedirectUri(port: number): string {
  return `http://127.0.0.1:${port}/callback`;
}
