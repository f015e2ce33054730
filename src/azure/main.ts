// Entry of the Azure Functions app (Node.js v4 programming model): registers the timer and the HTTP function.
// Bundled by scripts/build-azure.mjs into azure-app/dist/main.js; see docs/azure.md.
import { app } from '@azure/functions';
import { consoleLogger, createFunctionKeeper, lazyKeeper } from './function-keeper.ts';
import { createHttpHandler } from './http-handler.ts';
import { readFunctionSettings } from './settings.ts';
import { createTimerHandler } from './timer-handler.ts';

const settings = readFunctionSettings(process.env);
const getKeeper = lazyKeeper(() =>
  createFunctionKeeper({ env: process.env, settings, logger: consoleLogger }),
);

app.timer('tokenkeeperRefresh', {
  schedule: settings.schedule,
  useMonitor: true,
  handler: createTimerHandler(getKeeper),
});

app.http('tokenkeeper', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'tokenkeeper/{action}',
  handler: createHttpHandler(getKeeper, process.env),
});
