import { replaceCommand } from '../core/links.ts';
import { describeError, TokenkeeperError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { Connection, ConnectionStatus } from '../core/types.ts';
import type { ConnectionSummary, Keeper } from '../keeper/keeper.ts';
import { connectAccount, replaceAccount, type ConnectOptions } from '../flows/connect-flow.ts';
import { loopbackRedirectUri } from '../config/connect-settings.ts';
import { configuredClientSecret, successorOf } from '../providers/registry.ts';

interface Flow {
  name: string;
  abort: AbortController;
  done: Promise<void>;
}

/** Where a reconnect consents: the provider, the client, and whether the connection moves there (replace). */
interface ConsentTarget {
  provider: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  replace: boolean;
}

/**
 * The status page's "reconnect": runs the same authorization-code + PKCE flow as `tokenkeeper connect`, with
 * the connection's own client, receiving the redirect on the configured callback port. A connection whose
 * provider is retired moves to the successor instead (as `connect <successor> --replace <name>`), with the
 * successor's client from the config. One flow at a time: starting another cancels the one under way (they
 * would share the port).
 */
export class ReconnectFlows {
  private readonly keeper: Keeper;
  private readonly logger: Logger;
  private readonly onReconnected: (summary: ConnectionSummary, previous: ConnectionStatus) => void;
  /** Where the successor's client secret reference (env:NAME) is resolved. */
  private readonly env: NodeJS.ProcessEnv;
  private current?: Flow;

  constructor(
    keeper: Keeper,
    logger: Logger,
    env: NodeJS.ProcessEnv | undefined,
    onReconnected: (summary: ConnectionSummary, previous: ConnectionStatus) => void,
  ) {
    this.keeper = keeper;
    this.logger = logger;
    this.onReconnected = onReconnected;
    this.env = env ?? process.env;
  }

  /** Starts the flow for `name`; resolves with the provider's consent URL to send the browser to. */
  async start(name: string): Promise<string> {
    const connection = await this.keeper.store.get(name);
    if (!connection) throw new TokenkeeperError('not_found', `no connection named "${name}"`);
    const target = this.consentTarget(connection);
    await this.cancel();
    const configured = this.keeper.providers.clientSettings(target.provider);
    const settings = this.keeper.loaded.connect;
    const redirectUri = configured.redirectUri ?? loopbackRedirectUri(settings.port);
    const timeoutMs = settings.timeoutSeconds * 1000;

    const abort = new AbortController();
    let presented: (url: string) => void = () => undefined;
    let failed: (error: unknown) => void = () => undefined;
    const consentUrl = new Promise<string>((resolve, reject) => {
      presented = resolve;
      failed = reject;
    });
    const consent: ConnectOptions = {
      provider: target.provider,
      name,
      clientId: target.clientId,
      clientSecret: target.clientSecret,
      scopes: target.scopes,
      redirectUri,
      timeoutMs,
      signal: abort.signal,
      presentAuthorizationUrl: async (url) => presented(url),
    };
    const saved = target.replace
      ? replaceAccount(this.keeper, consent).then((replaced) => replaced.summary)
      : connectAccount(this.keeper, consent);
    const done = saved.then(
      (summary) => {
        this.logger.info({ connection: name, provider: target.provider }, 'reconnected from the status page');
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

  /**
   * The connection's own provider and client; for a retired provider with a successor, the successor and its
   * configured client (a retired provider's consent page is gone too).
   */
  private consentTarget(connection: Connection): ConsentTarget {
    const provider = this.keeper.providers.get(connection.provider);
    const successor =
      connection.status === 'provider_retired' ? successorOf(this.keeper.providers, provider.id) : undefined;
    if (!successor) {
      const granted = connection.tokens.scope?.split(/[\s,]+/).filter(Boolean) ?? [];
      return {
        provider: provider.id,
        clientId: connection.clientId,
        clientSecret: connection.clientSecret,
        scopes: granted.length > 0 ? granted : provider.defaultScopes,
        replace: false,
      };
    }
    const next = this.keeper.providers.get(successor);
    const client = this.keeper.providers.clientSettings(successor);
    if (!client.clientId) {
      throw new TokenkeeperError(
        'config',
        `"${connection.name}" is at ${provider.id}, which is retired: set providers.${successor}.clientId (and clientSecret) in the config to move it to ${successor} from here, or run \`${replaceCommand(successor, connection.name)}\``,
      );
    }
    const clientSecret = configuredClientSecret(this.keeper.providers, successor, this.env);
    return {
      provider: next.id,
      clientId: client.clientId,
      clientSecret,
      scopes: next.defaultScopes,
      replace: true,
    };
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
