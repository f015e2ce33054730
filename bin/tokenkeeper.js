#!/usr/bin/env node
// In a source checkout the TypeScript source runs directly (Node strips the types), so the CLI is never older
// than the code; an installed package, which ships only dist/, runs the compiled build.
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(
    `tokenkeeper: error: Node.js >= 22.13 is required (this is ${process.version}); inside this repository use \`npx tokenkeeper\` or \`npm run tokenkeeper --\`, which run the pinned Node 24\n`,
  );
  process.exit(2);
}
const source = new URL('../src/cli/main.ts', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);
const useSource = existsSync(source) && Boolean(process.features.typescript);
const { main } = await import(useSource ? source.href : compiled.href);
process.exitCode = await main(process.argv);
