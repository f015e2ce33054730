/**
 * `npm test`'s pretest step: the system packages the tests drive (Debian's Chromium for the browser test, the
 * PostgreSQL server binaries for the PostgreSQL tests, zsh and fish for the shell-completion tests). Missing
 * ones are installed with apt-get when we are root, so the README's test command passes as written on a fresh
 * machine. Otherwise it says what to install and lets the dependent tests fail with their own clear message:
 * they never skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { postgresInstalled } from '../postgres/cluster.ts';
import { CHROMIUM_PATH } from '../server/browser.ts';

const missing: { pkg: string; for: string }[] = [];
if (!existsSync(CHROMIUM_PATH)) missing.push({ pkg: 'chromium', for: 'the status-page browser test' });
if (!postgresInstalled()) missing.push({ pkg: 'postgresql', for: 'the PostgreSQL tests' });
for (const shell of ['zsh', 'fish']) {
  if (spawnSync('sh', ['-c', `command -v ${shell}`], { stdio: 'ignore' }).status !== 0) {
    missing.push({ pkg: shell, for: 'the shell-completion tests' });
  }
}

if (missing.length > 0) {
  const names = missing.map((m) => m.pkg);
  const why = missing.map((m) => `${m.pkg} (${m.for})`).join(', ');
  if (process.getuid?.() !== 0) {
    console.error(
      `pretest: missing ${why}; not root, so not installing: run \`sudo apt-get install -y ${names.join(' ')}\`. The tests that need them will fail.`,
    );
  } else {
    const logDir = join(import.meta.dirname, '..', '..', 'test-artifacts');
    mkdirSync(logDir, { recursive: true });
    const logPath = join(logDir, 'apt.log');
    console.error(`pretest: installing ${why} with apt-get; this takes a minute or two (log: ${logPath}) …`);
    const log = openSync(logPath, 'w');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const apt = (args: string[]) =>
      spawnSync('apt-get', args, { stdio: ['ignore', log, log], env }).status === 0;
    const ok = apt(['update', '-qq']) && apt(['install', '-y', '-qq', ...names]);
    closeSync(log);
    console.error(
      ok
        ? `pretest: installed ${names.join(', ')}`
        : `pretest: apt-get install ${names.join(' ')} failed (see ${logPath}); the tests that need them will fail`,
    );
  }
}
