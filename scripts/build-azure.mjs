// Bundles the Azure Functions app (src/azure/main.ts) into azure-app/dist/ with esbuild: the entry main.mjs (what
// azure-app/package.json's `main` names) and the chunks it imports on the first invocation (dist/chunks/), no
// node_modules to deploy. The entry only registers the functions, so the host's cold import of it is small; the
// keeper, the Azure SDKs and the config schema are in chunks. Deploy the whole dist/ folder (docs/azure.md).
// `--measure` also times a cold import of the entry against `node -e 0` on this machine (medians of several runs)
// and prints the sizes.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { inlineVersion, lazyBuiltins, nodeBundleOptions } from './esbuild-node.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'azure-app', 'dist');
const outfile = join(outdir, 'main.mjs');

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

/** The config schema is imported statically (into a lazy chunk) instead of required from a sibling file at run time. */
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

/**
 * @azure/functions requires node:http and node:net at load time only to serve HTTP streams (app.setup({
 * enableHttpStream }), which this app does not enable); loading them is most of what the entry would cost.
 */
const lazyHttpForFunctions = lazyBuiltins(
  'lazy-http-for-functions',
  /[/\\]node_modules[/\\]@azure[/\\]functions[/\\]/,
  ['crypto', 'http', 'net'],
);

// Chunks of an earlier build must not linger in the deployed folder.
rmSync(outdir, { recursive: true, force: true });
const result = await build({
  ...nodeBundleOptions,
  entryPoints: { main: join(root, 'src', 'azure', 'main.ts') },
  outdir,
  splitting: true,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  // Provided by the Functions Node.js worker at run time. @azure/functions itself is bundled; azure-app/package.json
  // still declares it, as the v4 programming model requires (a remote build installs it; the bundle ignores that copy).
  external: ['@azure/functions-core'],
  plugins: [onlyKeyVault, schemaInline, inlineVersion, lazyHttpForFunctions],
});
writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;
const chunks = Object.entries(result.metafile.outputs).filter(
  ([path]) => path.endsWith('.mjs') && path !== relative(root, outfile).split(sep).join('/'),
);
console.log(
  `azure-app/dist/main.mjs: ${kib(statSync(outfile).size)} (entry); ` +
    `${chunks.length} lazy chunks: ${kib(chunks.reduce((sum, [, output]) => sum + output.bytes, 0))}`,
);

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
