import type { ProviderDefinition } from './types.ts';
import { dexcom, dexcomSandbox } from './catalog/dexcom.ts';
import { fitbit } from './catalog/fitbit.ts';
import { googleHealth } from './catalog/google-health.ts';
import { microsoft } from './catalog/microsoft.ts';
import { genericOAuth2 } from './catalog/oauth2.ts';
import { oura } from './catalog/oura.ts';
import { spotify } from './catalog/spotify.ts';
import { strava } from './catalog/strava.ts';
import { whoop } from './catalog/whoop.ts';
import { withings } from './catalog/withings.ts';

export {
  dexcom,
  dexcomSandbox,
  fitbit,
  genericOAuth2,
  googleHealth,
  microsoft,
  oura,
  spotify,
  strava,
  whoop,
  withings,
};

/** Every built-in provider, one small data file each under ./catalog/. */
export const builtInProviders: readonly ProviderDefinition[] = [
  fitbit,
  googleHealth,
  withings,
  oura,
  strava,
  whoop,
  spotify,
  microsoft,
  dexcom,
  dexcomSandbox,
  genericOAuth2,
];
