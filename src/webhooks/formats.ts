import { reconnectCommand, reconnectUrl, replaceCommand } from '../core/links.ts';
import { needsHuman } from '../core/types.ts';
import { formatOf, type WebhookEndpoint } from './endpoints.ts';
import type { WebhookPayload } from './events.ts';
import { DAY_MS, HOUR_MS } from '../core/duration.ts';

/** What one endpoint is sent for one payload: the body, its content type and the headers of its format. */
export interface RenderedDelivery {
  contentType: string;
  body: string;
  headers: Record<string, string>;
}

/** A payload as a person reads it. `link` is where they fix it, when the daemon has a public URL. */
export interface HumanMessage {
  title: string;
  text: string;
  /** Of a push notification: high when a person must act. */
  priority: 'high' | 'default' | 'low';
  /** ntfy tags: an emoji short code, then the event type. */
  tags: string[];
  link?: string;
}

const ERROR_CHARS = 300;
const DISCORD_CONTENT_CHARS = 2000;

/**
 * The reconnect link of the connection, for events a reconnect fixes: a dead or dying grant, a retired provider.
 * Not for an expiring client secret (a new consent does not renew it) nor for anything else.
 */
export function reconnectLinkFor(payload: WebhookPayload, publicUrl: string | undefined): string | undefined {
  if (publicUrl === undefined) return undefined;
  const fixedByReconnect =
    needsHuman(payload.type) ||
    (payload.type === 'expiring_soon' && payload.expiring?.what !== 'client_secret');
  return fixedByReconnect ? reconnectUrl(publicUrl, payload.connection.name) : undefined;
}

/** The payload as sent: with `links.reconnect` when there is one. */
export function withLinks(payload: WebhookPayload, publicUrl: string | undefined): WebhookPayload {
  const reconnect = reconnectLinkFor(payload, publicUrl);
  return reconnect === undefined ? payload : { ...payload, links: { ...payload.links, reconnect } };
}

/** The body and headers `endpoint`'s format gives `payload`, at time `now` (for "expires in …"). */
export function renderDelivery(
  endpoint: Pick<WebhookEndpoint, 'format' | 'publicUrl'>,
  payload: WebhookPayload,
  now: number,
): RenderedDelivery {
  const format = formatOf(endpoint);
  if (format === 'standard') {
    return {
      contentType: 'application/json',
      body: JSON.stringify(withLinks(payload, endpoint.publicUrl)),
      headers: {},
    };
  }
  const message = humanMessage(payload, endpoint.publicUrl, now);
  switch (format) {
    case 'slack':
      return {
        contentType: 'application/json',
        body: JSON.stringify({ text: slackEscape(message.text) }),
        headers: {},
      };
    case 'discord':
      return {
        contentType: 'application/json',
        body: JSON.stringify({
          content: message.text.slice(0, DISCORD_CONTENT_CHARS),
          allowed_mentions: { parse: [] },
        }),
        headers: {},
      };
    case 'ntfy':
      return {
        contentType: 'text/plain; charset=utf-8',
        body: message.text,
        headers: {
          title: message.title,
          priority: message.priority,
          tags: message.tags.join(','),
          ...(message.link !== undefined && { click: message.link }),
        },
      };
  }
}

/** One short sentence or two per event: what happened to which connection, and what to do about it. */
export function humanMessage(
  payload: WebhookPayload,
  publicUrl: string | undefined,
  now: number,
): HumanMessage {
  const { name, provider } = payload.connection;
  const link = reconnectLinkFor(payload, publicUrl);
  const who = `${name} (${provider})`;
  switch (payload.type) {
    case 'needs_reauth':
      return {
        title: `${name} needs you to reconnect`,
        text: `${who} needs you to reconnect: ${link ?? reconnectCommand(provider, name)}`,
        priority: 'high',
        tags: ['warning', payload.type],
        ...(link !== undefined && { link }),
      };
    case 'provider_retired': {
      const successor = payload.successor;
      const how = successor
        ? `connect it again with ${successor}: ${replaceCommand(successor, name)}`
        : `connect it to the provider that replaced it: ${replaceCommand('<provider>', name)}`;
      return {
        title: `${name}: ${provider} has shut down its API`,
        text: `${name}: ${provider} has shut down its API; ${how}${link === undefined ? '' : `; status page: ${link}`}`,
        priority: 'high',
        tags: ['warning', payload.type],
        ...(link !== undefined && { link }),
      };
    }
    case 'expiring_soon': {
      const at = payload.expiring ? Date.parse(payload.expiring.at) : now;
      const when = `${expiresIn(at - now)} (${utcMinute(at)})`;
      if (payload.expiring?.what === 'client_secret') {
        return {
          title: `${provider} client secret expires soon`,
          text: `${name}: the client secret of ${provider} expires ${when}; create a new one in the provider's console and update providers.${provider}.clientSecret`,
          priority: 'high',
          tags: ['hourglass', payload.type],
        };
      }
      return {
        title: `${name}: refresh token expires soon`,
        text: `${name}: refresh token expires ${when}; reconnect: ${link ?? reconnectCommand(provider, name)}`,
        priority: 'high',
        tags: ['hourglass', payload.type],
        ...(link !== undefined && { link }),
      };
    }
    case 'replaced':
      return {
        title: `${name} moved to ${provider}`,
        text: `${name} was moved to ${provider}${payload.replaced ? ` (from ${payload.replaced.previousProvider})` : ''}`,
        priority: 'default',
        tags: ['twisted_rightwards_arrows', payload.type],
      };
    case 'recovered':
      return {
        title: `${name} works again`,
        text: `${who} works again${recoveredBy(payload.reason)}`,
        priority: 'default',
        tags: ['white_check_mark', payload.type],
      };
    case 'refresh_failed': {
      const retry = payload.retryInSeconds === undefined ? '' : `, retry in ${payload.retryInSeconds} s`;
      const attempt = payload.attempt === undefined ? '' : ` (attempt ${payload.attempt}${retry})`;
      return {
        title: `${name}: refresh failed`,
        text: `${who}: refresh failed${attempt}${payload.error ? `: ${shortened(payload.error)}` : ''}`,
        priority: 'low',
        tags: ['x', payload.type],
      };
    }
    case 'test':
      return {
        title: 'tokenkeeper test message',
        text: `tokenkeeper test message for ${who}: this channel gets tokenkeeper's notifications`,
        priority: 'default',
        tags: ['bell', payload.type],
      };
  }
}

function recoveredBy(reason: WebhookPayload['reason']): string {
  switch (reason) {
    case 'reconnected':
      return ': it was reconnected';
    case 'crash_recovery':
      return ': an interrupted refresh was recovered';
    default:
      return '';
  }
}

/** "in 1 day", "in 5 hours", "in 12 minutes", or "now" once it has passed. */
function expiresIn(ms: number): string {
  const unit = (count: number, what: string) => `in ${count} ${what}${count === 1 ? '' : 's'}`;
  if (ms <= 0) return 'now';
  if (ms >= 23 * HOUR_MS) return unit(Math.round(ms / DAY_MS), 'day');
  if (ms >= HOUR_MS) return unit(Math.round(ms / HOUR_MS), 'hour');
  return unit(Math.max(1, Math.round(ms / 60_000)), 'minute');
}

/** "2026-12-04 10:00 UTC". */
function utcMinute(at: number): string {
  return `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function shortened(text: string): string {
  return text.length <= ERROR_CHARS ? text : `${text.slice(0, ERROR_CHARS - 1).trimEnd()}…`;
}

/** Slack reads &, < and > in text as markup. */
function slackEscape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
