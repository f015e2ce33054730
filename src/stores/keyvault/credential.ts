import type { TokenCredential } from '@azure/identity';
import { TokenkeeperError } from '../../core/errors.ts';

/**
 * TEST ONLY: a static bearer token for a fake Key Vault on loopback. It is honoured only when the vault URL is a
 * loopback address, so it can never be sent to a real vault; production always uses DefaultAzureCredential.
 */
export const TEST_TOKEN_ENV = 'TOKENKEEPER_TEST_AZURE_TOKEN';

/**
 * The credential for Key Vault (and for blob locks given as a URL): DefaultAzureCredential — Managed Identity in
 * Azure, `az login` / environment variables on a laptop. Imported lazily: @azure/identity is large.
 */
export async function azureCredential(env: NodeJS.ProcessEnv, loopback: boolean): Promise<TokenCredential> {
  const testToken = env[TEST_TOKEN_ENV];
  if (testToken) {
    if (!loopback) {
      throw new TokenkeeperError(
        'config',
        `${TEST_TOKEN_ENV} is for tests against a loopback fake vault only; unset it to use DefaultAzureCredential`,
      );
    }
    return staticTokenCredential(testToken);
  }
  const { DefaultAzureCredential } = await import('@azure/identity');
  return new DefaultAzureCredential();
}

function staticTokenCredential(token: string): TokenCredential {
  return {
    getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 60 * 60_000 }),
  };
}
