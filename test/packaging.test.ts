/**
 * What `npm publish` would ship: the package is built once (as `npm run build` does, into a temp dir, so the
 * checkout's own dist/ is untouched) and listed with `npm pack --dry-run`. It must hold product code only.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './cli/run-cli.ts';

const run = promisify(execFile);

let pkg: string;
/** Paths in the tarball, relative to the package root. */
let packed: string[];

beforeAll(async () => {
  pkg = mkdtempSync(join(tmpdir(), 'tokenkeeper-pack-'));
  cpSync(join(repoRoot, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(repoRoot, 'bin'), join(pkg, 'bin'), { recursive: true });
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(process.execPath, [
    tsc,
    '-p',
    join(repoRoot, 'tsconfig.build.json'),
    '--outDir',
    join(pkg, 'dist'),
  ]);
  await run(
    process.execPath,
    [join(repoRoot, 'scripts', 'build-cli.mjs'), '--outdir', join(pkg, 'dist', 'cli-bundle')],
    { cwd: repoRoot },
  );
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: pkg,
    env: { ...process.env, npm_config_loglevel: 'silent' },
  });
  const [listing] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  packed = listing?.files.map((file) => file.path) ?? [];
}, 180_000);

afterAll(() => {
  if (pkg) rmSync(pkg, { recursive: true, force: true });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

describe('the published package', () => {
  it('lists no simulator, fake or test file', () => {
    expect(packed).toContain('dist/index.js');
    expect(packed).toContain('dist/cli-bundle/tokenkeeper.js');
    expect(packed).toContain('bin/tokenkeeper');
    expect(packed.filter((path) => /simulator|fakes|\.test\./.test(path))).toEqual([]);
    expect(packed.filter((path) => !/^(bin|dist)\/|^(package\.json|README\.md|LICENSE)$/.test(path))).toEqual(
      [],
    );
  });

  it('compiles only product modules of src/ into dist/', () => {
    const compiled = filesUnder(join(pkg, 'dist')).filter((path) => !path.startsWith('cli-bundle/'));
    const sources = compiled.map(
      (path) => `src/${path.replace(/(\.d)?\.js(\.map)?$|\.d\.ts(\.map)?$/, '')}.ts`,
    );
    const strays = sources.filter(
      (source) => !existsSync(join(repoRoot, source)) || /\.test\.ts$|simulator|fakes/.test(source),
    );
    expect(strays).toEqual([]);
  });

  it('bundles the CLI from src/ product files and dependencies only, and nothing in dist/ imports vitest', () => {
    const meta = JSON.parse(readFileSync(join(pkg, 'dist', 'cli-bundle', 'meta.json'), 'utf8')) as {
      inputs: Record<string, unknown>;
    };
    const inputs = Object.keys(meta.inputs);
    expect(inputs.some((input) => input.startsWith('src/cli/'))).toBe(true);
    const foreign = inputs.filter(
      (input) =>
        !(
          input.startsWith('src/') ||
          input.startsWith('node_modules/') ||
          input.startsWith('lazy-builtin:')
        ) || /^src\/.*(\.test\.ts$|simulator|fakes)|^node_modules\/(vitest|@vitest)\//.test(input),
    );
    expect(foreign).toEqual([]);
    const importsVitest = filesUnder(join(pkg, 'dist'))
      .filter((path) => /\.(js|mjs|d\.ts)$/.test(path))
      .filter((path) =>
        /\bfrom\s*["'](vitest|@vitest\/[^"']*)["']|\bimport\(\s*["']vitest["']/.test(
          readFileSync(join(pkg, 'dist', path), 'utf8'),
        ),
      );
    expect(importsVitest).toEqual([]);
  });
});
