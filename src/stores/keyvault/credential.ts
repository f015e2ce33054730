import type { TokenCredential } from '@azure/identity';

/**
 * The credential for Key Vault (and for blob locks given as a URL) when the caller passes none:
 * DefaultAzureCredential — Managed Identity in Azure, `az login` / environment variables on a laptop.
 * Imported lazily: @azure/identity is large.
 */
export async function defaultAzureCredential(): Promise<TokenCredential> {
  const { DefaultAzureCredential } = await import('@azure/identity');
  return new DefaultAzureCredential();
}
