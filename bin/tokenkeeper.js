#!/usr/bin/env node
// Runs the compiled CLI; in a source checkout without a build it runs the TypeScript source (Node >= 22.18).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);
const { main } = await import(existsSync(compiled) ? compiled.href : source.href);
process.exitCode = await main(process.argv);
