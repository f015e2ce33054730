import type { ConnectionStatus } from './types.ts';

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
    }
  | { type: 'rescued'; name: string; provider: string; journalPath: string }
  | { type: 'rescue_applied'; name: string; provider: string }
  /** The store-level lock was taken after waiting `waitedMs` for another refresher (metrics). */
  | { type: 'lock_acquired'; name: string; provider: string; waitedMs: number }
  /** A refresh call failed because the store could not be read or written (metrics). */
  | { type: 'store_error'; name: string; error: string };

export type KeeperEventListener = (event: KeeperEvent) => void;
