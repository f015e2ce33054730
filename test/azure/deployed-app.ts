// The Functions app as deployed (azure-app/dist/ after `npm run build:azure`) in a folder of its own, with a
// stand-in for the module the Functions Node.js worker provides. Used by the bundle test and bench/functions-cold.ts.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Stands in for @azure/functions-core: records what the app registers in globalThis.__registered. */
const coreStub = `
const registered = [];
globalThis.__registered = registered;
module.exports = {
  setProgrammingModel() {},
  registerFunction(metadata, handler) { registered.push({ metadata, handler }); return { dispose() {} }; },
};`;

/** With `node --import`: records every file Node loads (the entry and its chunks) in globalThis.__loaded. */
const loadRecorder = `
import { registerHooks } from 'node:module';
import { fileURLToPath } from 'node:url';
globalThis.__loaded = [];
registerHooks({
  load(url, context, nextLoad) {
    if (url.startsWith('file:')) globalThis.__loaded.push(fileURLToPath(url));
    return nextLoad(url, context);
  },
});`;

export interface DeployedApp {
  dir: string;
  /** dist/main.mjs, what azure-app/package.json's `main` names. */
  entry: string;
  /** The --import module that records the loaded files. */
  loadRecorder: string;
}

/** Runs `npm run build:azure` (scripts/build-azure.mjs); throws with its stderr if it fails. */
export function buildAzureApp(): void {
  const build = spawnSync(process.execPath, [join(root, 'scripts', 'build-azure.mjs')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build-azure.mjs exited ${build.status}: ${build.stderr}`);
}

/** Copies the built dist/ folder into `dir` (as docs/azure.md deploys it) next to the worker's stand-in. */
export function deployApp(dir: string): DeployedApp {
  const core = join(dir, 'node_modules', '@azure', 'functions-core');
  mkdirSync(core, { recursive: true });
  writeFileSync(join(core, 'index.js'), coreStub);
  writeFileSync(join(core, 'package.json'), '{"main":"index.js"}');
  cpSync(join(root, 'azure-app', 'dist'), join(dir, 'dist'), { recursive: true });
  writeFileSync(join(dir, 'load-recorder.mjs'), loadRecorder);
  return { dir, entry: join(dir, 'dist', 'main.mjs'), loadRecorder: join(dir, 'load-recorder.mjs') };
}
