import { TokenkeeperError } from './errors.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function assertConnectionName(name: string): void {
  if (!NAME.test(name)) {
    throw new TokenkeeperError(
      'usage',
      `connection name "${name}" is invalid: use 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
}
