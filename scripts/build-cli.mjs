// Bundles the CLI (src/cli/bin.ts) into dist/cli-bundle/ with esbuild, the entry bin/tokenkeeper runs: the
// dependencies inlined and split into chunks, each command's code (fastify for `run`, the Azure SDK for
// keyvault://, pg) in chunks of its own that only that command loads. One file per chunk instead of hundreds of
// modules to resolve roughly halves the start of `tokenkeeper token <name>` (see bench/cli-startup.ts).
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { inlineVersion, lazyBuiltins, nodeBundleOptions } from './esbuild-node.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// `--outdir DIR` builds elsewhere (the installed-command test builds a package of its own).
const outdirArg = process.argv.indexOf('--outdir');
const outdir = outdirArg > 0 ? resolve(process.argv[outdirArg + 1]) : join(root, 'dist', 'cli-bundle');
/**
 * commander requires node:child_process at load time, only to spawn executable subcommands (tokenkeeper has
 * none); loading it (with net, dgram and streams) is a tenth of `tokenkeeper token`'s start. Give commander a
 * stand-in that loads the real module on first use.
 */
const lazyChildProcessForCommander = lazyBuiltins(
  'lazy-child-process-for-commander',
  /[/\\]node_modules[/\\]commander[/\\]/,
  ['child_process'],
);

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  ...nodeBundleOptions,
  entryPoints: {
    tokenkeeper: join(root, 'src', 'cli', 'bin.ts'),
    // Required by src/config/schema-loader.ts as ./schema.js only when a config is checked.
    schema: join(root, 'src', 'config', 'schema.ts'),
  },
  outdir,
  splitting: true,
  // pg's optional native binding, never installed.
  external: ['pg-native'],
  plugins: [inlineVersion, lazyChildProcessForCommander],
});
writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
