#!/usr/bin/env node
// Runs the compiled CLI; in a source checkout without a build it runs the TypeScript source (Node >= 22.18).
import { existsSync } from 'node:fs';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(
    `tokenkeeper: error: Node.js >= 22.13 is required (this is ${process.version}); inside this repository use \`npx tokenkeeper\` or \`npm run tokenkeeper --\`, which run the pinned Node 24\n`,
  );
  process.exit(2);
}
const compiled = new URL('../dist/cli/main.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);
const { main } = await import(existsSync(compiled) ? compiled.href : source.href);
process.exitCode = await main(process.argv);
