// Entry of the Azure Functions app (Node.js v4 programming model): registers the timer and the HTTP function.
// Bundled by scripts/build-azure.mjs into azure-app/dist/main.js; see docs/azure.md.
import { app } from '@azure/functions';
import { FunctionAlerts } from './alerts.ts';
import { createFunctionKeeper, lazyKeeper } from './function-keeper.ts';
import { createHttpHandler } from './http-handler.ts';
import { invocationLogger } from './invocation-log.ts';
import { readFunctionSettings } from './settings.ts';
import { createTimerHandler } from './timer-handler.ts';

const settings = readFunctionSettings(process.env);
// One keeper and one webhook dispatcher per instance, shared by the timer and the HTTP function.
const alerts = new FunctionAlerts();
const getKeeper = lazyKeeper(() =>
  createFunctionKeeper({ env: process.env, settings, logger: invocationLogger, alerts }),
);

app.timer('tokenkeeperRefresh', {
  schedule: settings.schedule,
  useMonitor: true,
  handler: createTimerHandler(getKeeper, { alerts }),
});

app.http('tokenkeeper', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'tokenkeeper/{action}',
  handler: createHttpHandler(getKeeper, process.env, { alerts }),
});
