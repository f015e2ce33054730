import { resolveSecretRef } from '../config/secret-ref.ts';
import { TokenkeeperError } from '../core/errors.ts';
import type { CliIo } from './io.ts';
import { readAllStdin } from './stdin.ts';

/** Resolves a CLI secret argument: `-` reads stdin, otherwise env:NAME / file:PATH. */
export async function secretArg(
  ref: string,
  what: string,
  io: Pick<CliIo, 'stdin' | 'stderr' | 'env'>,
): Promise<string> {
  return ref === '-' ? readAllStdin(what, io) : resolveSecretRef(ref, what, io.env);
}

export function assertOneStdinSecret(refs: Array<string | undefined>): void {
  if (refs.filter((ref) => ref === '-').length > 1) {
    throw new TokenkeeperError(
      'usage',
      'only one secret can be read from standard input (-); pass the others as env:NAME or file:PATH',
    );
  }
}

/** The seed stored the client credentials as one pre-encoded HTTP Basic value: base64("id:secret"). */
export function decodeBasicCredentials(value: string): { clientId: string; clientSecret: string } {
  const encoded = value.replace(/^Basic\s+/i, '').trim();
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) {
    throw new TokenkeeperError('usage', '--basic-credentials is not base64 of "client_id:client_secret"');
  }
  return { clientId: decoded.slice(0, colon), clientSecret: decoded.slice(colon + 1) };
}
