export { startSimulatedFitbit, FITBIT_SCOPES } from './fitbit.ts';
export type { FitbitSimulatorOptions, SimulatedFitbit } from './fitbit.ts';
export { startSimulatedGoogle } from './google.ts';
export type { GoogleSimulatorOptions, SimulatedGoogle } from './google.ts';
export { createPkcePair } from './tokens.ts';
export type {
  Fault,
  ProviderStats,
  RequestRecord,
  SeedGrantOptions,
  SeededGrant,
  SimulatedProvider,
  SimulatorBaseOptions,
} from './types.ts';
