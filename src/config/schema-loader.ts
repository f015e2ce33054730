import { createRequire } from 'node:module';

/**
 * The config schema module, loaded the first time a config is checked: zod and the schema take ~20 ms to load,
 * and most CLI runs (`tokenkeeper token me` without a config file) check none. It sits next to this file with
 * the same extension: .ts in src/, .js in dist/ and in the CLI bundle (scripts/build-cli.mjs emits schema.js).
 * The single-file Azure bundle replaces this module with a static import (scripts/build-azure.mjs).
 */
let schemaModule: typeof import('./schema.ts') | undefined;

export function loadSchema(): typeof import('./schema.ts') {
  const extension = import.meta.url.slice(import.meta.url.lastIndexOf('.'));
  schemaModule ??= createRequire(import.meta.url)(`./schema${extension}`) as typeof import('./schema.ts');
  return schemaModule;
}
