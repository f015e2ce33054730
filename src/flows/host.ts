import type { ExpiryPolicy } from '../core/expiry.ts';
import type {
  ConnectionSummary,
  NewConnectionInput,
  ReconnectOptions,
  ReplacedConnection,
} from '../core/types.ts';
import type { ProviderDefinition } from '../providers/types.ts';

/**
 * What a consent flow needs from whoever keeps the connections (the Keeper satisfies it): provider facts, HTTP and
 * expiry settings, the clock, and one way to save what the user approved. Flows never see the keeper itself.
 */
export interface FlowHost {
  readonly providers: { get(id: string): ProviderDefinition };
  readonly settings: {
    readonly http: { readonly timeoutMs: number; readonly maxBodyBytes: number };
  };
  /** The expiry policy of a provider's connections (default lifetime, refresh-token lifetime). */
  expiryPolicy(providerId: string): ExpiryPolicy;
  now(): number;
  reconnect(input: NewConnectionInput, options?: ReconnectOptions): Promise<ConnectionSummary>;
  /** Moves an existing connection's name to what the user approved at another provider (`connect --replace`). */
  replace(input: NewConnectionInput): Promise<ReplacedConnection>;
}

/** How a flow saves what the user approved: `connect` reconnects (or adds) the name, `--replace` replaces it. */
export type SaveConsent<Saved> = (input: NewConnectionInput) => Promise<Saved>;
