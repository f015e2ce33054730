/**
 * Installs Debian packages the tests and benchmarks drive, the one way both do it: with apt-get when we are root
 * (logged to test-artifacts/apt.log), otherwise by saying what to run. Returns whether everything is installed.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';

export interface MissingPackage {
  pkg: string;
  /** What needs it, for the messages. */
  for: string;
}

/** Whether `command` is on the PATH. */
export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export function installMissing(missing: readonly MissingPackage[], who: string): boolean {
  if (missing.length === 0) return true;
  const names = missing.map((m) => m.pkg);
  const why = missing.map((m) => `${m.pkg} (${m.for})`).join(', ');
  if (process.getuid?.() !== 0) {
    console.error(
      `${who}: missing ${why}; not root, so not installing: run \`sudo apt-get install -y ${names.join(' ')}\`.`,
    );
    return false;
  }
  const logDir = join(import.meta.dirname, '..', '..', 'test-artifacts');
  mkdirSync(logDir, { recursive: true });
  const logPath = join(logDir, 'apt.log');
  console.error(`${who}: installing ${why} with apt-get; this takes a minute or two (log: ${logPath}) …`);
  const log = openSync(logPath, 'w');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args: string[]) =>
    spawnSync('apt-get', args, { stdio: ['ignore', log, log], env }).status === 0;
  const ok = apt(['update', '-qq']) && apt(['install', '-y', '-qq', ...names]);
  closeSync(log);
  console.error(
    ok
      ? `${who}: installed ${names.join(', ')}`
      : `${who}: apt-get install ${names.join(' ')} failed (see ${logPath})`,
  );
  return ok;
}
