import { webhookEventTypes, type KeeperEvent } from '../core/events.ts';
import { needsHuman, type ConnectionStatus } from '../core/types.ts';

export { webhookEventTypes };
export type WebhookEventType = (typeof webhookEventTypes)[number];

/** What a webhook body says (signed as JSON). Carries names, statuses and scrubbed error texts; never secrets. */
export interface WebhookPayload {
  id: string;
  type: WebhookEventType | 'test';
  createdAt: string;
  connection: { name: string; provider: string };
  status?: ConnectionStatus;
  previousStatus?: ConnectionStatus;
  error?: string;
  attempt?: number;
  retryInSeconds?: number;
  /** For `recovered`: what brought the connection back. */
  reason?: 'refresh' | 'crash_recovery' | 'reconnected';
  /** For `expiring_soon`: what dies, and when (ISO 8601). */
  expiring?: { what: 'refresh_token' | 'client_secret'; at: string };
  /** For `replaced`: the provider the name was at before, and whether its grant was revoked. */
  replaced?: { previousProvider: string; revoked: boolean };
  /** For a `provider_retired` connection: the provider that replaced it. */
  successor?: string;
  /**
   * Where a human fixes it: the status page's reconnect flow of this connection, when the daemon has a public
   * base URL (server.publicUrl). Only on events that need a human.
   */
  links?: { reconnect?: string };
}

/** A webhook's content before it gets its id and time; `id` is given when it must be the same everywhere. */
export type WebhookEventBody = Omit<WebhookPayload, 'id' | 'createdAt'> & { id?: string };

/**
 * Maps an engine event to the webhook it triggers, if any: status changes to needs_reauth / provider_retired,
 * recoveries (failing or cut-off refresh back to active, or a refresh that replayed a spent token), and
 * failed refresh attempts.
 */
export function webhookEventFor(event: KeeperEvent): WebhookEventBody | undefined {
  switch (event.type) {
    case 'status_changed': {
      const connection = { name: event.name, provider: event.provider };
      if (needsHuman(event.to)) {
        return {
          type: event.to,
          connection,
          status: event.to,
          previousStatus: event.from,
          error: event.error,
          ...(event.successor !== undefined && { successor: event.successor }),
        };
      }
      // provider_retired → active: a forced refresh found the provider answering again.
      const recoverable =
        event.from === 'failing' || event.from === 'refreshing' || event.from === 'provider_retired';
      if (event.to === 'active' && recoverable) {
        return {
          type: 'recovered',
          connection,
          status: 'active',
          previousStatus: event.from,
          reason: event.from === 'refreshing' ? 'crash_recovery' : 'refresh',
        };
      }
      return undefined;
    }
    case 'refreshed':
      return event.recovered
        ? {
            type: 'recovered',
            connection: { name: event.name, provider: event.provider },
            status: 'active',
            reason: 'crash_recovery',
          }
        : undefined;
    case 'expiring_soon':
      return {
        id: event.eventId,
        type: 'expiring_soon',
        connection: { name: event.name, provider: event.provider },
        expiring: { what: event.what, at: new Date(event.expiresAt).toISOString() },
      };
    case 'replaced':
      return {
        type: 'replaced',
        connection: { name: event.name, provider: event.provider },
        status: 'active',
        replaced: { previousProvider: event.previousProvider, revoked: event.revoked },
      };
    case 'refresh_failed':
      return {
        type: 'refresh_failed',
        connection: { name: event.name, provider: event.provider },
        error: event.error,
        attempt: event.attempt,
        retryInSeconds: event.retryInMs === undefined ? undefined : Math.round(event.retryInMs / 1000),
      };
    default:
      return undefined;
  }
}
