/**
 * The entry point of the installed `tokenkeeper` command (bundled into dist/cli-bundle/ by scripts/build-cli.mjs
 * and started by bin/tokenkeeper). It checks the Node version before anything else is loaded, so an old Node
 * gets one clear line instead of a syntax or import error, and turns on Node's compile cache, which halves the
 * start of every later run.
 */
// A namespace import: Node 20 lacks enableCompileCache, and a missing named import would fail before the check.
import * as nodeModule from 'node:module';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(
    `tokenkeeper: error: Node.js >= 22.13 is required (this is ${process.version}); in a checkout, bin/tokenkeeper runs the pinned Node from node_modules (npm ci)\n`,
  );
  process.exit(2);
}
nodeModule.enableCompileCache?.();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv);
