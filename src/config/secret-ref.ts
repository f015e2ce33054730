import { readFileSync } from 'node:fs';
import { TokenkeeperError } from '../core/errors.ts';

/**
 * Resolves a secret reference: `env:NAME` (environment variable), `file:PATH` (file contents, trimmed),
 * `literal:VALUE`, or `-` (read by the caller from stdin). A bare value is refused so that secrets do not end
 * up in shell history or config files by accident.
 */
export function resolveSecretRef(ref: string, what: string, env: NodeJS.ProcessEnv = process.env): string {
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    const value = env[name];
    if (!value)
      throw new TokenkeeperError('config', `${what}: environment variable ${name} is not set or empty`);
    return value;
  }
  if (ref.startsWith('file:')) {
    const path = ref.slice(5);
    try {
      const value = readFileSync(path, 'utf8').trim();
      if (!value) throw new Error('file is empty');
      return value;
    } catch (error) {
      throw new TokenkeeperError('config', `${what}: cannot read ${path}: ${(error as Error).message}`);
    }
  }
  if (ref.startsWith('literal:')) return ref.slice(8);
  throw new TokenkeeperError(
    'config',
    `${what} must be a reference: env:NAME, file:PATH or - (stdin); a bare secret would leak into shell history`,
  );
}
