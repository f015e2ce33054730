import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_TIMER_BUDGET_MS,
  FUNCTION_TIMEOUT_MS,
  TIMER_WEBHOOK_DRAIN_MS,
} from '../../src/azure/limits.ts';
import { startAzureWorld, type AzureWorld } from './harness.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const readJson = (path: string) =>
  JSON.parse(readFileSync(join(root, path), 'utf8')) as {
    main?: string;
    dependencies?: Record<string, string>;
    extensionBundle?: unknown;
    functionTimeout?: string;
  };

// Stands in for the module the Functions Node.js worker provides: records what the app registers.
const coreStub = `
const registered = [];
globalThis.__registered = registered;
module.exports = {
  setProgrammingModel() {},
  registerFunction(metadata, handler) { registered.push({ metadata, handler }); return { dispose() {} }; },
};`;

// Loads the deployed bundle as the worker would, then fires its timer once against the fake vault.
const runner = `
const bundle = process.argv[2];
await import(bundle);
const registered = globalThis.__registered;
const timer = registered.find((entry) => entry.metadata.name === 'tokenkeeperRefresh');
const logs = [];
const context = { log: (...a) => logs.push(a.join(' ')), warn: (...a) => logs.push(a.join(' ')), error: (...a) => logs.push(a.join(' ')) };
const now = new Date().toISOString();
let report, error;
try {
  report = await timer.handler({ isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: { last: now, next: now, lastUpdated: now } }, context);
} catch (thrown) {
  error = thrown.message;
}
process.stdout.write('\\nRESULT ' + JSON.stringify({ functions: registered.map((entry) => entry.metadata), report, error, logs }));
process.exit(0);
`;

describe('the deployable bundle (npm run build:azure)', () => {
  let world: AzureWorld;
  let dir: string;
  /** The deployed app folder (the bundle and a stand-in for the worker's module), made by the first test. */
  let app: string;

  beforeAll(async () => {
    world = await startAzureWorld();
    dir = mkdtempSync(join(tmpdir(), 'tk-bundle-'));
  });
  afterAll(async () => {
    await world?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('azure-app fits Flex Consumption: @azure/functions declared, bundle 4.x, the timeout the timer budget assumes', () => {
    const app = readJson('azure-app/package.json');
    // The v4 programming model is detected from this dependency; the bundle carries its own copy.
    expect(app.dependencies).toEqual({
      '@azure/functions': readJson('package.json').dependencies?.['@azure/functions'],
    });
    expect(app.main).toBe('dist/main.mjs');
    const host = readJson('azure-app/host.json');
    expect(host.extensionBundle).toEqual({
      id: 'Microsoft.Azure.Functions.ExtensionBundle',
      version: '[4.*, 5.0.0)',
    });
    const [hours, minutes, seconds] = String(host.functionTimeout).split(':').map(Number);
    expect((((hours ?? 0) * 60 + (minutes ?? 0)) * 60 + (seconds ?? 0)) * 1000).toBe(FUNCTION_TIMEOUT_MS);
    expect(DEFAULT_TIMER_BUDGET_MS + TIMER_WEBHOOK_DRAIN_MS).toBeLessThan(FUNCTION_TIMEOUT_MS);
  });

  it('registers a timer and a function-key HTTP trigger, and its timer rotates the vault', async () => {
    // The build touches no server of this process, so a synchronous spawn cannot deadlock it.
    const build = spawnSync(process.execPath, [join(root, 'scripts', 'build-azure.mjs')], {
      encoding: 'utf8',
    });
    expect(build.status, build.stderr).toBe(0);
    const bundle = join(root, 'azure-app', 'dist', 'main.mjs');
    expect(statSync(bundle).size).toBeGreaterThan(0);

    app = join(dir, 'app');
    mkdirSync(join(app, 'node_modules', '@azure', 'functions-core'), { recursive: true });
    writeFileSync(join(app, 'node_modules', '@azure', 'functions-core', 'index.js'), coreStub);
    writeFileSync(
      join(app, 'node_modules', '@azure', 'functions-core', 'package.json'),
      '{"main":"index.js"}',
    );
    copyFileSync(bundle, join(app, 'main.mjs'));
    writeFileSync(join(app, 'run.mjs'), runner);
    const configPath = join(dir, 'tokenkeeper.json');
    writeFileSync(configPath, JSON.stringify(world.config));
    world.seedLikeCSharp();

    // Asynchronous: the bundle talks to the fake vault and Azurite served by this very process.
    const { stdout } = await run(process.execPath, [join(app, 'run.mjs'), join(app, 'main.mjs')], {
      encoding: 'utf8',
      cwd: app,
      timeout: 45_000,
      env: {
        ...world.childEnv,
        TOKENKEEPER_STORE: world.storeSpec,
        TOKENKEEPER_CONFIG: configPath,
        TOKENKEEPER_SCHEDULE: '0 0 */6 * * *',
      },
    });
    const result = JSON.parse(stdout.slice(stdout.lastIndexOf('RESULT ') + 7)) as {
      functions: Array<{ name: string; bindings: Record<string, Record<string, unknown>> }>;
      report: { refreshed: string[] };
    };
    const bindings = Object.fromEntries(
      result.functions.flatMap((fn) => Object.values(fn.bindings).map((binding) => [binding.type, binding])),
    );
    expect(bindings.timerTrigger).toMatchObject({ schedule: '0 0 */6 * * *' });
    expect(bindings.httpTrigger).toMatchObject({ authLevel: 'function', route: 'tokenkeeper/{action}' });
    expect(result.report.refreshed).toEqual(['fitbit']);
    expect(world.kv.versionsOf('RefreshToken')?.at(-1)?.value).toBe(world.sim.activeRefreshToken('SEED01'));
  }, 60_000);

  it('with a bad app setting it still registers, says why at start, and fails every run (so the alert fires)', async () => {
    const env: NodeJS.ProcessEnv = {
      ...world.childEnv,
      TOKENKEEPER_STORE: world.storeSpec,
      TOKENKEEPER_SCHEDULE: '0 99 * * * *',
    };
    delete env.TOKENKEEPER_KEY;
    const { stdout, stderr } = await run(process.execPath, [join(app, 'run.mjs'), join(app, 'main.mjs')], {
      encoding: 'utf8',
      cwd: app,
      timeout: 45_000,
      env,
    });
    const result = JSON.parse(stdout.slice(stdout.lastIndexOf('RESULT ') + 7)) as {
      functions: Array<{ name: string }>;
      error?: string;
      logs: string[];
    };
    expect(result.functions.map((fn) => fn.name).sort()).toEqual(['tokenkeeper', 'tokenkeeperRefresh']);
    expect(stderr).toMatch(
      /tokenkeeper: TOKENKEEPER_SCHEDULE "0 99 \* \* \* \*" is not a usable NCRONTAB schedule/,
    );
    expect(result.error).toMatch(/TOKENKEEPER_SCHEDULE "0 99 \* \* \* \*"/);
    expect(result.logs.join('\n')).toMatch(/tokenkeeper could not start: TOKENKEEPER_SCHEDULE/);
  }, 60_000);
});
