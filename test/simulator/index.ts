export { startSimulatedFitbit, FITBIT_SCOPES } from './fitbit.ts';
export type { FitbitSimulatorOptions, SimulatedFitbit } from './fitbit.ts';
export { startSimulatedGoogle } from './google.ts';
export type { GoogleSimulatorOptions, SimulatedGoogle } from './google.ts';
export { createPkcePair } from './tokens.ts';
export { startOAuthSimulator, DEVICE_CODE_GRANT } from './oauth-server.ts';
export type {
  OAuthSimProfile,
  OAuthSimulatorOptions,
  SimulatedOAuthProvider,
  SimulatedOAuthStats,
  TokenRequestLog,
} from './oauth-server.ts';
export { startSimulatedWithings } from './withings.ts';
export { startSimulatedOura } from './oura.ts';
export { startSimulatedStrava } from './strava.ts';
export { startSimulatedWhoop } from './whoop.ts';
export { startSimulatedSpotify } from './spotify.ts';
export { startSimulatedMicrosoft } from './microsoft.ts';
export type { MicrosoftSimulatorOptions } from './microsoft.ts';
export { startSimulatedDexcom } from './dexcom.ts';
export { startSimulatedOAuth2 } from './oauth2.ts';
export type {
  Fault,
  ProviderStats,
  RequestRecord,
  SeedGrantOptions,
  SeededGrant,
  SimulatedProvider,
  SimulatorBaseOptions,
} from './types.ts';
