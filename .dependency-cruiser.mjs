/**
 * The layers of src/ and who may import whom (docs/architecture.md draws the same picture in words).
 * Each layer may import only the layers listed for it (and itself, and src/version.ts). A wrong arrow,
 * a cycle (type-only imports included) or product code reaching into test/ fails `npm run lint`.
 */
const storesAndBelow = ['core', 'config', 'files', 'crypto', 'providers', 'oauth', 'stores'];
const keeperAndBelow = [...storesAndBelow, 'engine', 'flows', 'keeper'];
const serverAndBelow = [...keeperAndBelow, 'api-keys', 'webhooks', 'server'];

const below = {
  core: [],
  config: ['core'],
  files: ['core'],
  logging: ['core'],
  crypto: ['core', 'files'],
  providers: ['core', 'config'],
  oauth: ['core', 'config', 'providers'],
  stores: ['core', 'config', 'files', 'crypto', 'providers'],
  'api-keys': ['core', 'files', 'crypto'],
  engine: storesAndBelow,
  flows: ['core', 'config', 'providers', 'oauth'],
  webhooks: ['core', 'config', 'files'],
  keeper: [...storesAndBelow, 'engine', 'flows'],
  server: [...keeperAndBelow, 'api-keys', 'webhooks'],
  daemon: [...serverAndBelow, 'logging'],
  azure: [...storesAndBelow, 'engine', 'keeper', 'webhooks'],
  doctor: [...storesAndBelow, 'server'],
  demo: [...keeperAndBelow, 'webhooks', 'server', 'daemon', 'logging'],
  cli: [...serverAndBelow, 'daemon', 'doctor', 'demo', 'logging'],
};
const layers = Object.keys(below);
const path = (layer) => `^src/${layer}(/|\\.ts$)`;

export default {
  forbidden: [
    ...layers.map((layer) => ({
      name: `layer-${layer}`,
      comment: below[layer].length
        ? `src/${layer} may import only ${below[layer].join(', ')} (see docs/architecture.md)`
        : `src/${layer} is the bottom layer: it imports nothing else in src/ (see docs/architecture.md)`,
      severity: 'error',
      from: { path: path(layer) },
      to: {
        path: '^src/',
        pathNot: [path(layer), '^src/version\\.ts$', ...below[layer].map(path)],
      },
    })),
    {
      name: 'layer-index',
      comment: 'the library entry (src/index.ts) exports the keeper and what lies below it',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: { path: '^src/(cli|server|daemon|azure|doctor|demo|webhooks)/' },
    },
    {
      name: 'unknown-layer',
      comment: 'every module of src/ belongs to a layer of .dependency-cruiser.mjs',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: [...layers.map(path), '^src/(index|version)\\.ts$'] },
    },
    {
      name: 'no-test-code-in-product',
      comment: 'product code never imports tests, simulators or fakes',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: '(^test/|\\.test\\.ts$)' },
    },
    {
      name: 'no-circular',
      comment: 'modules of src/ form no cycle, type-only imports included',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['dynamic-import'] } },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs'] },
  },
};
