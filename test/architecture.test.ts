/**
 * The layer rule of docs/architecture.md is enforced: `src/` obeys it today, and the same configuration
 * (.dependency-cruiser.mjs, run by `npm run lint`) rejects a wrong arrow, a type-only cycle and product code
 * importing test code — shown on a small tree built here, so the rule is proven able to fail.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './cli/run-cli.ts';

const run = promisify(execFile);
const config = join(repoRoot, '.dependency-cruiser.mjs');
const depcruise = join(repoRoot, 'node_modules', '.bin', 'depcruise');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

async function violations(cwd: string): Promise<Violation[]> {
  const { stdout } = await run(depcruise, ['src', '--config', config, '--output-type', 'json'], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

const scratch = mkdtempSync(join(tmpdir(), 'tk-architecture-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(dirname(join(scratch, path)), { recursive: true });
  writeFileSync(join(scratch, path), text);
}

describe('import direction (docs/architecture.md)', () => {
  it('src/ has no violation', async () => {
    const found = await violations(repoRoot);
    expect(found.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
  });

  it('rejects an upward import, a type-only cycle, a server -> cli import and product code importing tests', async () => {
    write(
      'tsconfig.json',
      JSON.stringify({ compilerOptions: { allowImportingTsExtensions: true, noEmit: true } }),
    );
    write('src/keeper/keeper.ts', 'export class Keeper {}\n');
    write(
      'src/core/errors.ts',
      "import type { Keeper } from '../keeper/keeper.ts';\nexport type K = Keeper;\n",
    );
    write('src/core/a.ts', "import type { B } from './b.ts';\nexport interface A { b?: B }\n");
    write('src/core/b.ts', "import type { A } from './a.ts';\nexport interface B { a?: A }\n");
    write('src/cli/output.ts', 'export const table = 1;\n');
    write('src/server/page.ts', "import { table } from '../cli/output.ts';\nexport const page = table;\n");
    write('test/simulator/fake.ts', 'export const fake = 1;\n');
    write(
      'src/demo/provider.ts',
      "import { fake } from '../../test/simulator/fake.ts';\nexport const p = fake;\n",
    );

    const found = (await violations(scratch)).map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'layer-core: src/core/errors.ts -> src/keeper/keeper.ts',
        'no-circular: src/core/a.ts -> src/core/b.ts',
        'layer-server: src/server/page.ts -> src/cli/output.ts',
        'no-test-code-in-product: src/demo/provider.ts -> test/simulator/fake.ts',
      ]),
    );
  });
});
