import { describeError, TokenkeeperError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { ConnectionStatus } from '../core/types.ts';
import type { ConnectionSummary, Keeper } from '../keeper/keeper.ts';
import { connectAccount } from '../flows/connect-flow.ts';
import { loopbackRedirectUri } from '../config/connect-settings.ts';

interface Flow {
  name: string;
  abort: AbortController;
  done: Promise<void>;
}

/**
 * The status page's "reconnect": runs the same authorization-code + PKCE flow as `tokenkeeper connect`, with
 * the connection's own client, receiving the redirect on the configured callback port. One flow at a time:
 * starting another cancels the one under way (they would share the port).
 */
export class ReconnectFlows {
  private readonly keeper: Keeper;
  private readonly logger: Logger;
  private readonly onReconnected: (summary: ConnectionSummary, previous: ConnectionStatus) => void;
  private current?: Flow;

  constructor(
    keeper: Keeper,
    logger: Logger,
    onReconnected: (summary: ConnectionSummary, previous: ConnectionStatus) => void,
  ) {
    this.keeper = keeper;
    this.logger = logger;
    this.onReconnected = onReconnected;
  }

  /** Starts the flow for `name`; resolves with the provider's consent URL to send the browser to. */
  async start(name: string): Promise<string> {
    const connection = await this.keeper.store.get(name);
    if (!connection) throw new TokenkeeperError('not_found', `no connection named "${name}"`);
    await this.cancel();
    const provider = this.keeper.providers.get(connection.provider);
    const configured = this.keeper.providers.clientSettings(provider.id);
    const settings = this.keeper.loaded.connect;
    const redirectUri = configured.redirectUri ?? loopbackRedirectUri(settings.port);
    const granted = connection.tokens.scope?.split(/[\s,]+/).filter(Boolean) ?? [];
    const timeoutMs = settings.timeoutSeconds * 1000;

    const abort = new AbortController();
    let presented: (url: string) => void = () => undefined;
    let failed: (error: unknown) => void = () => undefined;
    const consentUrl = new Promise<string>((resolve, reject) => {
      presented = resolve;
      failed = reject;
    });
    const done = connectAccount(this.keeper, {
      provider: provider.id,
      name,
      clientId: connection.clientId,
      clientSecret: connection.clientSecret,
      scopes: granted.length > 0 ? granted : provider.defaultScopes,
      redirectUri,
      timeoutMs,
      signal: abort.signal,
      presentAuthorizationUrl: async (url) => presented(url),
    }).then(
      (summary) => {
        this.logger.info({ connection: name, provider: provider.id }, 'reconnected from the status page');
        this.onReconnected(summary, connection.status);
      },
      (error: unknown) => {
        failed(error);
        if (!abort.signal.aborted) {
          this.logger.warn({ connection: name, error: describeError(error) }, 'reconnect did not complete');
        }
      },
    );
    const flow: Flow = { name, abort, done };
    this.current = flow;
    void done.finally(() => {
      if (this.current === flow) this.current = undefined;
    });
    return consentUrl;
  }

  /** The connection whose reconnect is under way, if any. */
  underWay(): string | undefined {
    return this.current?.name;
  }

  /** Cancels the flow under way (only if it is `name`'s, when given) and waits until its callback server is closed. */
  async cancel(name?: string): Promise<void> {
    const flow = this.current;
    if (!flow || (name !== undefined && flow.name !== name)) return;
    flow.abort.abort(new TokenkeeperError('usage', `reconnect of "${flow.name}" was cancelled`));
    await flow.done;
  }
}
