import { startSimulatedFitbit, type SimulatedFitbit } from '../../test/simulator/index.ts';

/** The account the simulated consent page always approves. */
export const DEMO_ACCOUNT = 'DEMO42';

/** Starts the simulated Fitbit behind the built-in `demo` provider, on loopback only. */
export function startDemoProvider(options: {
  lifetimeSeconds: number;
  /** 0 picks a free port. */
  port?: number;
  /** 'client': a public client (PKCE, no secret), so nothing secret has to be shown to the user. */
  clientType?: 'server' | 'client';
}): Promise<SimulatedFitbit> {
  return startSimulatedFitbit({
    accessTokenLifetimeSeconds: options.lifetimeSeconds,
    userId: DEMO_ACCOUNT,
    host: '127.0.0.1',
    port: options.port ?? 0,
    clientType: options.clientType,
  });
}

/** The `providers.demo` entry of a tokenkeeper config that points at a running simulator. */
export function demoProviderSettings(provider: SimulatedFitbit): {
  tokenUrl: string;
  authorizationUrl: string;
  revokeUrl: string;
  clientId: string;
} {
  return {
    tokenUrl: provider.tokenUrl,
    authorizationUrl: provider.authorizeUrl,
    revokeUrl: provider.revokeUrl,
    clientId: provider.clientId,
  };
}
