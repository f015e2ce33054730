/**
 * `npm test`'s pretest step: the system packages the tests and benchmarks drive (Debian's Chromium for the browser
 * test, the PostgreSQL server binaries for the PostgreSQL tests, zsh and fish for the shell-completion tests, wrk
 * for `npm run bench:serve`). Missing ones are installed with apt-get when we are root, so the README's test
 * command passes as written on a fresh machine. Otherwise it says what to install and lets the dependent tests
 * fail with their own clear message: they never skip.
 */
import { existsSync } from 'node:fs';
import { postgresInstalled } from '../postgres/cluster.ts';
import { CHROMIUM_PATH } from '../server/browser.ts';
import { installMissing, onPath, type MissingPackage } from './apt-install.ts';
import { WRK_PACKAGE } from '../../bench/serve/wrk.ts';

const missing: MissingPackage[] = [];
if (!existsSync(CHROMIUM_PATH)) missing.push({ pkg: 'chromium', for: 'the status-page browser test' });
if (!postgresInstalled()) missing.push({ pkg: 'postgresql', for: 'the PostgreSQL tests' });
for (const shell of ['zsh', 'fish']) {
  if (!onPath(shell)) missing.push({ pkg: shell, for: 'the shell-completion tests' });
}
if (!onPath(WRK_PACKAGE.command)) missing.push({ pkg: WRK_PACKAGE.pkg, for: WRK_PACKAGE.for });

if (!installMissing(missing, 'pretest')) console.error('pretest: the tests that need them will fail.');
