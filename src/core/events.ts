import type { ConnectionStatus } from './types.ts';

/** The events a webhook endpoint may subscribe to (the config schema checks `events` against this list). */
export const webhookEventTypes = [
  'needs_reauth',
  'provider_retired',
  'expiring_soon',
  'replaced',
  'recovered',
  'refresh_failed',
] as const;

/** What the engine reports as it works: for webhooks, metrics and live CLI output. Never carries secrets. */
export type KeeperEvent =
  | {
      type: 'refreshed';
      name: string;
      provider: string;
      expiresAt: number;
      rotated: boolean;
      recovered: boolean;
    }
  | {
      type: 'refresh_failed';
      name: string;
      provider: string;
      error: string;
      attempt: number;
      retryInMs?: number;
    }
  | {
      type: 'status_changed';
      name: string;
      provider: string;
      from: ConnectionStatus;
      to: ConnectionStatus;
      error?: string;
      /** To provider_retired: the provider that replaced the retired one, when its definition names one. */
      successor?: string;
    }
  /**
   * The refresh token (or client secret) dies within the warning window. `eventId` is the same for the same
   * connection and expiry, so every process that notices it raises one event, delivered once.
   */
  | {
      type: 'expiring_soon';
      name: string;
      provider: string;
      eventId: string;
      /** Epoch ms at which it dies. */
      expiresAt: number;
      what: 'refresh_token' | 'client_secret';
    }
  /** A connection's name moved to new tokens at another provider (`connect --replace`); the old grant is gone. */
  | {
      type: 'replaced';
      name: string;
      provider: string;
      previousProvider: string;
      /** Whether the old grant was revoked at its provider (false: it could not be, e.g. the provider is gone). */
      revoked: boolean;
    }
  | { type: 'rescued'; name: string; provider: string; journalPath: string }
  | { type: 'rescue_applied'; name: string; provider: string }
  /** The store-level lock was taken after waiting `waitedMs` for another refresher (metrics). */
  | { type: 'lock_acquired'; name: string; provider: string; waitedMs: number }
  /** A refresh call failed because the store could not be read or written (metrics). */
  | { type: 'store_error'; name: string; error: string };

export type KeeperEventListener = (event: KeeperEvent) => void;
