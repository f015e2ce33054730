import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_TIMER_BUDGET_MS,
  FUNCTION_TIMEOUT_MS,
  TIMER_WEBHOOK_DRAIN_MS,
} from '../../src/azure/limits.ts';
import { buildAzureApp, deployApp, type DeployedApp } from './deployed-app.ts';
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

// Loads the deployed bundle as the worker would, then fires its timer once against the fake vault.
const runner = `
const bundle = process.argv[2];
await import(bundle);
const loadedAtImport = [...globalThis.__loaded];
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
process.stdout.write('\\nRESULT ' + JSON.stringify({ functions: registered.map((entry) => entry.metadata), report, error, logs, loadedAtImport, loadedAfterRun: globalThis.__loaded }));
process.exit(0);
`;

/** What a cold start must not load: the keeper's SDKs, the config schema, the keeper and its stores. */
const HEAVY_PACKAGES = ['@azure/identity', '@azure/keyvault-secrets', '@azure/storage-blob', 'zod'] as const;
const HEAVY_SOURCES = ['src/keeper/', 'src/stores/', 'src/config/schema.ts'] as const;
const isHeavy = (input: string) =>
  HEAVY_PACKAGES.some((name) => input.includes(`node_modules/${name}/`)) ||
  HEAVY_SOURCES.some((path) => input.startsWith(path));

interface Metafile {
  outputs: Record<
    string,
    {
      inputs: Record<string, unknown>;
      imports: Array<{ path: string; kind: string; external?: boolean }>;
    }
  >;
}

interface RunResult {
  /** Files of the app Node had loaded when the entry's import returned, and after the timer's run. */
  loadedAtImport: string[];
  loadedAfterRun: string[];
}

describe('the deployable bundle (npm run build:azure)', () => {
  let world: AzureWorld;
  let dir: string;
  /** The deployed app folder (the bundle and a stand-in for the worker's module), made by the first test. */
  let app: DeployedApp;

  /** Starts the deployed app as the worker would (its entry, dist/main.mjs), recording the files it loads. */
  const runApp = (env: NodeJS.ProcessEnv) =>
    run(process.execPath, ['--import', app.loadRecorder, join(app.dir, 'run.mjs'), app.entry], {
      encoding: 'utf8',
      cwd: app.dir,
      timeout: 45_000,
      env,
    });

  /** The heavy packages (and sources) bundled into the given loaded files of the app, by the build's metafile. */
  const heavyInputsOf = (loaded: string[]) => {
    const meta = readJson('azure-app/dist/meta.json') as unknown as Metafile;
    const found = new Set<string>();
    for (const file of loaded) {
      const output = meta.outputs[`azure-app/${relative(app.dir, file).split(sep).join('/')}`];
      for (const input of Object.keys(output?.inputs ?? {}).filter(isHeavy)) {
        found.add(HEAVY_PACKAGES.find((name) => input.includes(`node_modules/${name}/`)) ?? input);
      }
    }
    return [...found].sort();
  };

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
    buildAzureApp();
    expect(statSync(join(root, 'azure-app', 'dist', 'main.mjs')).size).toBeGreaterThan(0);
    // Deployed as docs/azure.md says: the whole dist/ folder, the entry and its chunks.
    app = deployApp(join(dir, 'app'));
    writeFileSync(join(app.dir, 'run.mjs'), runner);
    const configPath = join(dir, 'tokenkeeper.json');
    writeFileSync(configPath, JSON.stringify(world.config));
    world.seedLikeCSharp();

    // Asynchronous: the bundle talks to the fake vault and Azurite served by this very process.
    const { stdout } = await runApp({
      ...world.childEnv,
      TOKENKEEPER_STORE: world.storeSpec,
      TOKENKEEPER_CONFIG: configPath,
      TOKENKEEPER_SCHEDULE: '0 0 */6 * * *',
    });
    const result = JSON.parse(stdout.slice(stdout.lastIndexOf('RESULT ') + 7)) as RunResult & {
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

    // A cold start only registers: the keeper, the SDKs and the schema load on the first invocation.
    expect(heavyInputsOf(result.loadedAtImport)).toEqual([]);
    expect(heavyInputsOf(result.loadedAfterRun)).toEqual(expect.arrayContaining([...HEAVY_PACKAGES]));
  }, 60_000);

  it('the entry chunk and what it imports statically hold none of the heavy modules (metafile)', () => {
    const meta = readJson('azure-app/dist/meta.json') as unknown as Metafile;
    const staticClosure = new Set<string>();
    const visit = (output: string) => {
      if (staticClosure.has(output)) return;
      staticClosure.add(output);
      for (const imported of meta.outputs[output]?.imports ?? []) {
        if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
      }
    };
    visit('azure-app/dist/main.mjs');
    const inputs = [...staticClosure].flatMap((output) => Object.keys(meta.outputs[output]?.inputs ?? {}));
    expect(inputs.some((input) => input.includes('node_modules/@azure/functions/'))).toBe(true);
    expect(inputs.filter(isHeavy)).toEqual([]);
    // The heavy modules are in the bundle, in chunks the entry imports dynamically.
    const everything = Object.values(meta.outputs).flatMap((output) => Object.keys(output.inputs));
    expect(everything.filter(isHeavy).length).toBeGreaterThan(0);
  });

  it('with a bad app setting it still registers, says why at start, and fails every run (so the alert fires)', async () => {
    const env: NodeJS.ProcessEnv = {
      ...world.childEnv,
      TOKENKEEPER_STORE: world.storeSpec,
      TOKENKEEPER_SCHEDULE: '0 99 * * * *',
    };
    delete env.TOKENKEEPER_KEY;
    const { stdout, stderr } = await runApp(env);
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
