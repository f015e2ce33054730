import type { TokenCredential } from '@azure/identity';
import { TokenkeeperError } from '../../core/errors.ts';

/**
 * Which Microsoft Entra credential to use, decided from the environment alone (one rule, here):
 *
 * | environment                                                     | credential                                |
 * |-----------------------------------------------------------------|-------------------------------------------|
 * | AZURE_TOKEN_CREDENTIALS=prod / dev / <credential name>          | DefaultAzureCredential, narrowed by the SDK |
 * | in Azure (WEBSITE_INSTANCE_ID or IDENTITY_ENDPOINT), AZURE_CLIENT_ID | ManagedIdentityCredential({ clientId }) |
 * | in Azure, no AZURE_CLIENT_ID                                    | ManagedIdentityCredential() (system-assigned) |
 * | elsewhere (a laptop, CI)                                        | DefaultAzureCredential (local development)  |
 *
 * The Azure SDK's guidance for production is a deterministic credential rather than DefaultAzureCredential's
 * chain of guesses. WEBSITE_INSTANCE_ID is set by App Service and Azure Functions on every instance (not by Core
 * Tools locally); IDENTITY_ENDPOINT is set wherever a managed identity endpoint is (App Service, Functions,
 * Container Apps). A service principal in Azure: AZURE_TOKEN_CREDENTIALS=EnvironmentCredential.
 */
export type CredentialChoice =
  | { credential: 'DefaultAzureCredential'; narrowedTo?: string }
  | { credential: 'ManagedIdentityCredential'; clientId?: string };

/** The values @azure/identity 4.13 accepts in AZURE_TOKEN_CREDENTIALS (compared case-insensitively). */
export const TOKEN_CREDENTIALS_VALUES = [
  'prod',
  'dev',
  'EnvironmentCredential',
  'WorkloadIdentityCredential',
  'ManagedIdentityCredential',
  'VisualStudioCodeCredential',
  'AzureCliCredential',
  'AzurePowerShellCredential',
  'AzureDeveloperCliCredential',
] as const;

/** The credential for Key Vault, and for blob locks given as a URL in TOKENKEEPER_LOCK_STORAGE. */
export function chooseAzureCredential(env: NodeJS.ProcessEnv): CredentialChoice {
  const narrowing = env.AZURE_TOKEN_CREDENTIALS?.trim();
  if (narrowing) {
    const known = TOKEN_CREDENTIALS_VALUES.find((value) => value.toLowerCase() === narrowing.toLowerCase());
    if (!known) {
      throw new TokenkeeperError(
        'config',
        `AZURE_TOKEN_CREDENTIALS ${JSON.stringify(narrowing)} is not one @azure/identity knows: use ${TOKEN_CREDENTIALS_VALUES.join(', ')} (e.g. ManagedIdentityCredential in Azure)`,
      );
    }
    // DefaultAzureCredential reads AZURE_TOKEN_CREDENTIALS itself (from process.env) and keeps only that part.
    return { credential: 'DefaultAzureCredential', narrowedTo: known };
  }
  if (env.WEBSITE_INSTANCE_ID || env.IDENTITY_ENDPOINT) {
    return managedIdentity(env.AZURE_CLIENT_ID);
  }
  return { credential: 'DefaultAzureCredential' };
}

/**
 * The credential for the Functions app's own storage account (AzureWebJobsStorage__accountName /
 * __blobServiceUri), where the blob locks (and the blob journal, on the same client) live. The Functions host
 * connects to that account with `AzureWebJobsStorage__credential=managedidentity` and
 * `AzureWebJobsStorage__clientId=<client id>` (a user-assigned identity; system-assigned without it), so the
 * locks use those very settings: the identity the host already needs on that account, with no second
 * configuration to get wrong. Without `__credential` they use the vault's credential.
 */
export function chooseWebJobsStorageCredential(env: NodeJS.ProcessEnv): CredentialChoice {
  const credential = env.AzureWebJobsStorage__credential?.trim();
  if (!credential) return chooseAzureCredential(env);
  if (credential.toLowerCase() !== 'managedidentity') {
    throw new TokenkeeperError(
      'config',
      `AzureWebJobsStorage__credential ${JSON.stringify(credential)} is not supported: use managedidentity (with AzureWebJobsStorage__clientId for a user-assigned identity), or leave it unset`,
    );
  }
  return managedIdentity(env.AzureWebJobsStorage__clientId);
}

function managedIdentity(clientId: string | undefined): CredentialChoice {
  const id = clientId?.trim();
  return id
    ? { credential: 'ManagedIdentityCredential', clientId: id }
    : { credential: 'ManagedIdentityCredential' };
}

/** Builds the chosen credential. Imported lazily: @azure/identity is large (Functions cold start). */
export async function createAzureCredential(choice: CredentialChoice): Promise<TokenCredential> {
  const identity = await import('@azure/identity');
  if (choice.credential === 'ManagedIdentityCredential') {
    return choice.clientId
      ? new identity.ManagedIdentityCredential({ clientId: choice.clientId })
      : new identity.ManagedIdentityCredential();
  }
  return new identity.DefaultAzureCredential();
}

/** The credentials a Key Vault store uses, each built once on first use. */
export interface StoreCredentials {
  /** For the vault, and blob locks given as a URL. */
  vault: () => Promise<TokenCredential>;
  /** For blob locks in the Functions app's identity-based AzureWebJobsStorage. */
  webJobsStorage: () => Promise<TokenCredential>;
}

/**
 * The store's credentials: the caller's for everything when one is given (tests, embedding apps), else the
 * environment's choice. The vault's choice is made now, so a bad AZURE_TOKEN_CREDENTIALS is refused at start;
 * the storage's when the locks are opened (also at start), so it is checked only where it is used.
 */
export function storeCredentials(env: NodeJS.ProcessEnv, provided?: TokenCredential): StoreCredentials {
  if (provided) {
    const given = () => Promise.resolve(provided);
    return { vault: given, webJobsStorage: given };
  }
  const vaultChoice = chooseAzureCredential(env);
  let vault: Promise<TokenCredential> | undefined;
  let storage: Promise<TokenCredential> | undefined;
  const vaultCredential = () => (vault ??= createAzureCredential(vaultChoice));
  return {
    vault: vaultCredential,
    webJobsStorage: async () => {
      const storageChoice = chooseWebJobsStorageCredential(env);
      if (JSON.stringify(storageChoice) === JSON.stringify(vaultChoice)) return vaultCredential();
      return (storage ??= createAzureCredential(storageChoice));
    },
  };
}
