// Entry of the Azure Functions app (Node.js v4 programming model): registers the timer and the HTTP function.
// Bundled by scripts/build-azure.mjs into azure-app/dist/main.mjs (plus lazy chunks beside it); see docs/azure.md.
// Only the registration and the settings check run at import: the handlers and everything they use (instance.ts)
// are imported on the first invocation, so a cold start does not pay for SDKs and schemas before the host is told
// which functions exist.
import { app, type HttpRequest, type InvocationContext, type Timer } from '@azure/functions';
import { describeError } from '../core/errors.ts';
import type { FunctionInstance } from './instance.ts';
import { DEFAULT_SCHEDULE } from './schedule.ts';
import { readFunctionSettings, type FunctionSettings } from './settings.ts';

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

let instance: Promise<FunctionInstance> | undefined;
const loadInstance = () =>
  (instance ??= import('./instance.ts').then(({ createFunctionInstance }) =>
    createFunctionInstance(settings, startupError, process.env),
  ));

app.timer('tokenkeeperRefresh', {
  schedule: settings?.schedule ?? DEFAULT_SCHEDULE,
  useMonitor: true,
  handler: async (timer: Timer, context: InvocationContext) => (await loadInstance()).timer(timer, context),
});

app.http('tokenkeeper', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'tokenkeeper/{action}',
  handler: async (request: HttpRequest, context: InvocationContext) =>
    (await loadInstance()).http(request, context),
});
