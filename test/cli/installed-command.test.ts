/**
 * The `tokenkeeper` command as the README installs it (npm link): a symlink on PATH to bin/tokenkeeper, which runs
 * the esbuild bundle of the CLI on the pinned Node. Built here into a package directory of its own.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, expectSuccess } from './harness.ts';
import { repoRoot } from './run-cli.ts';

const exec = promisify(execFile);
const pinnedNode = join(repoRoot, 'node_modules', 'node', 'bin', 'node');

let dir: string;
/** A package root: bin/tokenkeeper, dist/cli-bundle/ (built here) and node_modules (the repository's). */
let pkg: string;
/** A directory for PATH with `tokenkeeper` -> ../lib/tokenkeeper -> pkg/bin/tokenkeeper, as npm link makes. */
let pathDir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tokenkeeper-installed-'));
  pkg = join(dir, 'pkg');
  mkdirSync(join(pkg, 'bin'), { recursive: true });
  copyFileSync(join(repoRoot, 'bin', 'tokenkeeper'), join(pkg, 'bin', 'tokenkeeper'));
  symlinkSync(join(repoRoot, 'node_modules'), join(pkg, 'node_modules'));
  const build = spawnSync(
    process.execPath,
    [join(repoRoot, 'scripts', 'build-cli.mjs'), '--outdir', join(pkg, 'dist', 'cli-bundle')],
    { encoding: 'utf8' },
  );
  if (build.status !== 0) throw new Error(`build-cli.mjs failed: ${build.stderr}`);
  pathDir = join(dir, 'bin');
  mkdirSync(pathDir);
  mkdirSync(join(dir, 'lib'));
  symlinkSync(join(pkg, 'bin', 'tokenkeeper'), join(dir, 'lib', 'tokenkeeper'));
  symlinkSync(join('..', 'lib', 'tokenkeeper'), join(pathDir, 'tokenkeeper'));
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.concurrent('the installed tokenkeeper command', () => {
  it('prints the token, help and version from the bundle', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    const expected = expectSuccess(await h.cli(['token', 'me'])).stdout;
    const env = { ...h.env, PATH: `${pathDir}:${process.env.PATH}` };
    const token = await exec('tokenkeeper', ['--config', h.configPath, 'token', 'me'], { env, cwd: h.home });
    expect(token.stdout).toBe(expected);
    expect(token.stderr).toBe('');
    const help = await exec('tokenkeeper', ['--help'], { env });
    expect(help.stdout).toMatch(/^ {2}completion +print a shell completion script/m);
    const version = await exec('tokenkeeper', ['--version'], { env });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('`token` loads neither zod, pino, fastify, pg nor the Azure SDK (what made it slow)', async ({
    onTestFinished,
  }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    // Records every module file the process loads (NODE_OPTIONS reaches the Node that bin/tokenkeeper execs).
    const loaded = join(h.home, 'loaded.txt');
    const hook = join(h.home, 'record-loads.mjs');
    writeFileSync(
      hook,
      `import { registerHooks } from 'node:module';
import { appendFileSync } from 'node:fs';
registerHooks({ load(url, context, next) { appendFileSync(${JSON.stringify(loaded)}, url + '\\n'); return next(url, context); } });
`,
    );
    const env = { ...h.env, PATH: `${pathDir}:${process.env.PATH}`, NODE_OPTIONS: `--import ${hook}` };
    // Without --config: the harness's config file would (rightly) load the schema to check it.
    const expected = expectSuccess(await h.cli(['token', 'me'])).stdout;
    const token = await exec('tokenkeeper', ['token', 'me'], { env, cwd: h.home });
    expect(token.stdout).toBe(expected);
    const meta = JSON.parse(readFileSync(join(pkg, 'dist', 'cli-bundle', 'meta.json'), 'utf8')) as {
      outputs: Record<string, { inputs: Record<string, unknown> }>;
    };
    const inputsByFile = new Map(
      Object.entries(meta.outputs).map(([output, { inputs }]) => [
        output.split('/').at(-1),
        Object.keys(inputs),
      ]),
    );
    const files = readFileSync(loaded, 'utf8')
      .split('\n')
      .filter((url) => url.startsWith('file:'));
    const inputs = files.flatMap((url) => inputsByFile.get(url.split('/').at(-1)) ?? [url]);
    expect(inputs.some((input) => input.includes('src/cli/commands/token.ts'))).toBe(true);
    for (const heavy of ['zod', 'pino', 'fastify', 'pg', '@azure']) {
      expect(inputs.filter((input) => input.includes(`node_modules/${heavy}/`))).toEqual([]);
    }
  });

  it('becomes the pinned Node itself (exec), so SIGTERM reaches the daemon', async ({ onTestFinished }) => {
    const h = await createHarness(onTestFinished);
    await h.addConnection('me');
    const daemon = spawn(
      'tokenkeeper',
      ['--config', h.configPath, '--log-format', 'json', 'run', '--no-server'],
      {
        env: { ...h.env, PATH: `${pathDir}:${process.env.PATH}` },
        cwd: h.home,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    onTestFinished(() => {
      daemon.kill('SIGKILL');
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      daemon.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes('"msg":"tokenkeeper running"')) resolve();
      });
      daemon.once('exit', () => reject(new Error(`daemon exited early: ${stderr}`)));
    });
    expect(readlinkSync(`/proc/${daemon.pid}/exe`)).toBe(realpathSync(pinnedNode));
    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/"msg":"stopped"/);
  });

  it('installed as a package (no pinned Node next to it) runs the node on PATH', async () => {
    const plain = join(dir, 'plain');
    mkdirSync(join(plain, 'bin'), { recursive: true });
    mkdirSync(join(plain, 'dist'));
    copyFileSync(join(pkg, 'bin', 'tokenkeeper'), join(plain, 'bin', 'tokenkeeper'));
    symlinkSync(join(pkg, 'dist', 'cli-bundle'), join(plain, 'dist', 'cli-bundle'));
    const nodeDir = join(dir, 'node-on-path');
    mkdirSync(nodeDir);
    symlinkSync(pinnedNode, join(nodeDir, 'node'));
    const result = await exec(join(plain, 'bin', 'tokenkeeper'), ['--version'], {
      env: { PATH: `${nodeDir}:/usr/bin:/bin` },
    });
    expect(result.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('without a build says how to make one', async () => {
    const bare = join(dir, 'bare');
    mkdirSync(join(bare, 'bin'), { recursive: true });
    copyFileSync(join(pkg, 'bin', 'tokenkeeper'), join(bare, 'bin', 'tokenkeeper'));
    const result = await exec(join(bare, 'bin', 'tokenkeeper'), ['--version']).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect('code' in result && result.code).toBe(2);
    expect(result.stderr).toBe(
      `tokenkeeper: error: ${join(bare, 'dist', 'cli-bundle', 'tokenkeeper.js')} is missing: run \`npm run build\` in ${bare}\n`,
    );
  });
});
