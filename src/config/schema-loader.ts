import { createRequire } from 'node:module';

/**
 * The config schema module, loaded the first time a config is checked: zod/mini and the schema take ~6 ms to load,
 * and most CLI runs (`tokenkeeper token me` without a config file) check none. It sits next to this file with
 * the same extension: .ts in src/, .js in dist/ and in the CLI bundle (scripts/build-cli.mjs emits schema.js).
 * The Azure bundle replaces this module with a static import, in a chunk loaded on first use (scripts/build-azure.mjs).
 */
let schemaModule: typeof import('./schema.ts') | undefined;

export function loadSchema(): typeof import('./schema.ts') {
  if (schemaModule) return schemaModule;
  const file = `./schema${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`;
  try {
    schemaModule = createRequire(import.meta.url)(file) as typeof import('./schema.ts');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
    // Only a bundle that inlined this module but not its sibling gets here: say what the bundle lacks.
    throw new Error(
      `tokenkeeper's config schema ${new URL(file, import.meta.url).pathname} is missing: a bundle of tokenkeeper must ship it next to this module or import it statically (see scripts/build-azure.mjs)`,
      { cause: error },
    );
  }
  return schemaModule;
}
