// Entry of the Azure Functions app (Node.js v4 programming model): registers the timer and the HTTP function.
// Bundled by scripts/build-azure.mjs into azure-app/dist/main.js; see docs/azure.md.
import { app } from '@azure/functions';
import { describeError } from '../core/errors.ts';
import { FunctionAlerts } from './alerts.ts';
import { createFunctionKeeper, lazyKeeper } from './function-keeper.ts';
import { createHttpHandler } from './http-handler.ts';
import { invocationLogger } from './invocation-log.ts';
import { DEFAULT_SCHEDULE } from './schedule.ts';
import { readFunctionSettings, type FunctionSettings } from './settings.ts';
import { createTimerHandler } from './timer-handler.ts';

// A bad app setting is logged at start and then fails every invocation: an app that threw here would register no
// function, so nothing would run, fail, or fire the alert on failed runs (docs/azure.md).
let settings: FunctionSettings | undefined;
let startupError: unknown;
try {
  settings = readFunctionSettings(process.env);
} catch (error) {
  startupError = error;
  console.error(`tokenkeeper: ${describeError(error)}`);
}
// One keeper and one webhook dispatcher per instance, shared by the timer and the HTTP function.
const alerts = new FunctionAlerts();
const getKeeper = settings
  ? lazyKeeper(() => createFunctionKeeper({ env: process.env, settings, logger: invocationLogger, alerts }))
  : () => Promise.reject(startupError);

app.timer('tokenkeeperRefresh', {
  schedule: settings?.schedule ?? DEFAULT_SCHEDULE,
  useMonitor: true,
  handler: createTimerHandler(getKeeper, { alerts }),
});

app.http('tokenkeeper', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'tokenkeeper/{action}',
  handler: createHttpHandler(getKeeper, process.env, { alerts }),
});
