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

/** A Key Vault secret name: 1–127 letters, digits and "-" (Key Vault ignores case). */
export const KEY_VAULT_SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** A connection name a Key Vault store can keep: letters, digits and "-" inside (it prefixes secret names). */
export const KEY_VAULT_CONNECTION_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
