// The heavy part of the Functions app (keeper, Key Vault and Blob SDKs, config schema, webhooks), loaded by main.ts
// on an instance's first invocation, so the host's import of the entry stays small (a cold start registers the
// functions without loading any of this).
import { FunctionAlerts } from './alerts.ts';
import { createFunctionKeeper, lazyKeeper } from './function-keeper.ts';
import { createHttpHandler } from './http-handler.ts';
import { invocationLogger } from './invocation-log.ts';
import type { FunctionSettings } from './settings.ts';
import { createTimerHandler } from './timer-handler.ts';

export interface FunctionInstance {
  timer: ReturnType<typeof createTimerHandler>;
  http: ReturnType<typeof createHttpHandler>;
}

/**
 * One keeper and one webhook dispatcher per instance, shared by the timer and the HTTP function. Without settings
 * (a bad app setting, logged at start) every invocation fails with `startupError`, so the alert on failed runs fires.
 */
export function createFunctionInstance(
  settings: FunctionSettings | undefined,
  startupError: unknown,
  env: NodeJS.ProcessEnv,
): FunctionInstance {
  const alerts = new FunctionAlerts();
  const getKeeper = settings
    ? lazyKeeper(() => createFunctionKeeper({ env, settings, logger: invocationLogger, alerts }))
    : () => Promise.reject(startupError);
  return {
    timer: createTimerHandler(getKeeper, { alerts }),
    http: createHttpHandler(getKeeper, env, { alerts }),
  };
}
