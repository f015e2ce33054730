import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The esbuild options every bundle of tokenkeeper shares (the CLI and the Functions app): minified ESM for
 * Node 22+, linked source maps and licences, a metafile for size checks.
 */
export const nodeBundleOptions = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  metafile: true,
  // CommonJS dependencies (commander, fastify, the Azure SDKs) call require(); give the ESM output one.
  banner: {
    js: "import { createRequire as __tkCreateRequire } from 'node:module'; const require = __tkCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
};

const { version } = JSON.parse(
  readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'), 'utf8'),
);

/** src/version.ts reads ../package.json next to itself, which a bundle does not have: inline the version. */
export const inlineVersion = {
  name: 'inline-version',
  setup(pluginBuild) {
    pluginBuild.onLoad({ filter: /[/\\]src[/\\]version\.ts$/ }, () => ({
      contents: `export const version = ${JSON.stringify(version)};`,
      loader: 'ts',
    }));
  },
};

/**
 * Gives the dependencies matched by `importers` (a path pattern) a stand-in for the given Node built-ins that loads
 * the real module on first use: for packages that require a built-in at load time but only use it on a path the
 * app rarely or never takes, where loading it would be a visible part of the start.
 */
export function lazyBuiltins(name, importers, builtins) {
  const filter = new RegExp(`^(node:)?(${builtins.join('|')})$`);
  return {
    name,
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter }, (args) =>
        importers.test(args.importer)
          ? { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' }
          : undefined,
      );
      pluginBuild.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
        contents: `let real; module.exports = new Proxy({}, { get: (_, key) => (real ??= require('node:${args.path}'))[key] });`,
        loader: 'js',
      }));
    },
  };
}
