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
