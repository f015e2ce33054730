// Bundles the Azure Functions app (src/azure/main.ts) into azure-app/dist/main.mjs with esbuild: one file, no
// node_modules to deploy, a small cold start. `--measure` also times a cold import of the bundle against
// `node -e 0` on this machine (medians of several runs) and prints the bundle size.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { inlineVersion, nodeBundleOptions } from './esbuild-node.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'azure-app', 'dist', 'main.mjs');

/** Stores the function never opens (e.g. PostgreSQL) stay out of the bundle; opening one says so. */
const onlyKeyVault = {
  name: 'only-keyvault-store',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /(^|\/)postgres\// }, (args) => ({
      path: args.path,
      namespace: 'left-out',
    }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'left-out' }, () => ({
      contents: "throw new Error('this store is not part of the Azure Functions bundle: use keyvault://');",
      loader: 'js',
    }));
  },
};

/** One file: the config schema is imported statically instead of required from a sibling file at run time. */
const schemaInline = {
  name: 'schema-inline',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /[/\\]src[/\\]config[/\\]schema-loader\.ts$/ }, (args) => ({
      contents: "import * as schema from './schema.ts';\nexport function loadSchema() { return schema; }\n",
      loader: 'ts',
      resolveDir: dirname(args.path),
    }));
  },
};

const result = await build({
  ...nodeBundleOptions,
  entryPoints: [join(root, 'src', 'azure', 'main.ts')],
  outfile,
  // Provided by the Functions Node.js worker at run time. @azure/functions itself is bundled; azure-app/package.json
  // still declares it, as the v4 programming model requires (a remote build installs it; the bundle ignores that copy).
  external: ['@azure/functions-core'],
  plugins: [onlyKeyVault, schemaInline, inlineVersion],
});
writeFileSync(join(root, 'azure-app', 'dist', 'meta.json'), JSON.stringify(result.metafile));
const bytes = statSync(outfile).size;
console.log(`azure-app/dist/main.mjs: ${(bytes / 1024).toFixed(0)} KiB`);

if (process.argv.includes('--measure')) {
  const runs = 9;
  // The app checks its settings at import: a throwaway key (used for nothing) and a vault name it never reaches.
  const env = {
    ...process.env,
    TOKENKEEPER_KEYVAULT: 'measure-only',
    TOKENKEEPER_KEY: randomBytes(32).toString('base64'),
    FUNCTIONS_WORKER_RUNTIME: 'node',
  };
  const time = (args) => {
    const samples = [];
    for (let i = 0; i < runs; i++) {
      const started = process.hrtime.bigint();
      const child = spawnSync(process.execPath, args, { env, stdio: 'ignore' });
      if (child.status !== 0) throw new Error(`${args.join(' ')} exited ${child.status}`);
      samples.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    samples.sort((a, b) => a - b);
    return samples[Math.floor(runs / 2)];
  };
  const baseline = time(['-e', '0']);
  const bundle = time(['--input-type=module', '-e', `await import(${JSON.stringify(outfile)})`]);
  const source = time([
    '--input-type=module',
    '-e',
    `await import(${JSON.stringify(join(root, 'src', 'azure', 'main.ts'))})`,
  ]);
  console.log(
    `cold import (median of ${runs}, ${process.version}): node -e 0 ${baseline.toFixed(0)} ms; ` +
      `bundle ${bundle.toFixed(0)} ms (${(bundle / baseline).toFixed(2)}x, +${(bundle - baseline).toFixed(0)} ms); ` +
      `unbundled src ${source.toFixed(0)} ms (${(source / baseline).toFixed(2)}x)`,
  );
}
