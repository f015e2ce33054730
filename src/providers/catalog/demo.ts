import type { ProviderDefinition } from '../types.ts';
import { fitbit } from './fitbit.ts';

/** The built-in simulated provider of `tokenkeeper demo`: behaves like Fitbit; its URLs are set when it starts. */
export const demo: ProviderDefinition = {
  ...fitbit,
  id: 'demo',
  displayName: 'Demo (simulated Fitbit on loopback)',
  authorizationUrl: undefined,
  tokenUrl: '',
  revokeUrl: undefined,
  apiBaseUrl: undefined,
  docsUrl: undefined,
  setupNotes: 'Used by `tokenkeeper demo`, which starts the simulator and fills in its URLs.',
  retiredHint: 'the demo provider answered 410 Gone (simulated retirement)',
  // Fitbit's facts that a local simulation does not share.
  successor: undefined,
  rateLimit: undefined,
};
