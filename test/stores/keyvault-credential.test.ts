import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { describe, expect, it, vi } from 'vitest';
import { openLockStorage } from '../../src/stores/keyvault/blob-lease.ts';
import {
  chooseAzureCredential,
  chooseWebJobsStorageCredential,
  createAzureCredential,
  storeCredentials,
} from '../../src/stores/keyvault/credential.ts';
import { refusal } from '../support/rejection.ts';

const CLIENT_ID = '00000000-0000-0000-0000-0000000000aa';
const HOST_CLIENT_ID = '00000000-0000-0000-0000-0000000000bb';
const inFunctions = { WEBSITE_INSTANCE_ID: 'abc123', FUNCTIONS_WORKER_RUNTIME: 'node' };

describe('the Azure credential, chosen from the environment', () => {
  it.each([
    ['a laptop or CI', {}, { credential: 'DefaultAzureCredential' }],
    ['Functions, system-assigned', inFunctions, { credential: 'ManagedIdentityCredential' }],
    [
      'Functions, user-assigned',
      { ...inFunctions, AZURE_CLIENT_ID: CLIENT_ID },
      { credential: 'ManagedIdentityCredential', clientId: CLIENT_ID },
    ],
    [
      'a managed identity endpoint (Container Apps)',
      { IDENTITY_ENDPOINT: 'http://localhost:42356/msi/token' },
      { credential: 'ManagedIdentityCredential' },
    ],
    [
      'AZURE_TOKEN_CREDENTIALS=prod',
      { AZURE_TOKEN_CREDENTIALS: 'prod' },
      { credential: 'DefaultAzureCredential', narrowedTo: 'prod' },
    ],
    [
      'AZURE_TOKEN_CREDENTIALS wins in Azure too, case-insensitively',
      { ...inFunctions, AZURE_TOKEN_CREDENTIALS: ' environmentcredential ' },
      { credential: 'DefaultAzureCredential', narrowedTo: 'EnvironmentCredential' },
    ],
    [
      'FUNCTIONS_WORKER_RUNTIME alone (local.settings.json) is local development',
      { FUNCTIONS_WORKER_RUNTIME: 'node', AZURE_CLIENT_ID: CLIENT_ID },
      { credential: 'DefaultAzureCredential' },
    ],
  ])('%s', (_, env, choice) => {
    expect(chooseAzureCredential(env)).toEqual(choice);
  });

  it('refuses an AZURE_TOKEN_CREDENTIALS value @azure/identity does not know, in one line', () => {
    const error = refusal(() => chooseAzureCredential({ AZURE_TOKEN_CREDENTIALS: 'ManagedIdentity' }));
    expect(error.code).toBe('config');
    expect(error.message).toMatch(
      /^AZURE_TOKEN_CREDENTIALS "ManagedIdentity" is not one @azure\/identity knows/,
    );
    expect(error.message).toContain('ManagedIdentityCredential');
    expect(error.message).not.toContain('\n');
  });

  it("uses the Functions host's AzureWebJobsStorage__credential / __clientId for its storage account", () => {
    const env = {
      ...inFunctions,
      AZURE_CLIENT_ID: CLIENT_ID,
      AzureWebJobsStorage__accountName: 'tokensapp',
      AzureWebJobsStorage__credential: 'managedidentity',
      AzureWebJobsStorage__clientId: HOST_CLIENT_ID,
    };
    expect(chooseWebJobsStorageCredential(env)).toEqual({
      credential: 'ManagedIdentityCredential',
      clientId: HOST_CLIENT_ID,
    });
    const { AzureWebJobsStorage__clientId: _, ...systemAssigned } = env;
    expect(chooseWebJobsStorageCredential(systemAssigned)).toEqual({
      credential: 'ManagedIdentityCredential',
    });
    // Without __credential: the vault's identity.
    expect(chooseWebJobsStorageCredential({ ...inFunctions, AZURE_CLIENT_ID: CLIENT_ID })).toEqual({
      credential: 'ManagedIdentityCredential',
      clientId: CLIENT_ID,
    });
    expect(() =>
      chooseWebJobsStorageCredential({ ...env, AzureWebJobsStorage__credential: 'connectionstring' }),
    ).toThrow(/^AzureWebJobsStorage__credential "connectionstring" is not supported: use managedidentity/);
  });

  it('builds the real @azure/identity classes (no network)', async () => {
    expect(await createAzureCredential({ credential: 'DefaultAzureCredential' })).toBeInstanceOf(
      DefaultAzureCredential,
    );
    expect(await createAzureCredential({ credential: 'ManagedIdentityCredential' })).toBeInstanceOf(
      ManagedIdentityCredential,
    );
    expect(
      await createAzureCredential({ credential: 'ManagedIdentityCredential', clientId: CLIENT_ID }),
    ).toBeInstanceOf(ManagedIdentityCredential);
    const credentials = storeCredentials({ ...inFunctions, AZURE_CLIENT_ID: CLIENT_ID });
    const vault = await credentials.vault();
    expect(vault).toBeInstanceOf(ManagedIdentityCredential);
    expect(await credentials.vault()).toBe(vault); // built once
    expect(await credentials.webJobsStorage()).toBe(vault); // the same identity, the same credential
  });

  it("lets a caller's credential win everywhere", async () => {
    const given: TokenCredential = { getToken: () => Promise.resolve(null) };
    const credentials = storeCredentials(
      {
        ...inFunctions,
        AzureWebJobsStorage__credential: 'managedidentity',
        AZURE_TOKEN_CREDENTIALS: 'bogus',
      },
      given,
    );
    expect(await credentials.vault()).toBe(given);
    expect(await credentials.webJobsStorage()).toBe(given);
  });

  it('gives the blob locks the storage credential for identity-based AzureWebJobsStorage, the vault one for a URL', async () => {
    const fake: TokenCredential = { getToken: () => Promise.resolve(null) };
    const vault = vi.fn(() => Promise.resolve(fake));
    const storage = vi.fn(() => Promise.resolve(fake));
    await openLockStorage(
      { AzureWebJobsStorage__accountName: 'tokensapp' },
      'locks',
      'scope',
      vault,
      storage,
    );
    expect([vault.mock.calls.length, storage.mock.calls.length]).toEqual([0, 1]);
    await openLockStorage(
      {
        TOKENKEEPER_LOCK_STORAGE: 'https://other.blob.core.windows.net',
        AzureWebJobsStorage__accountName: 'x',
      },
      'locks',
      'scope',
      vault,
      storage,
    );
    expect([vault.mock.calls.length, storage.mock.calls.length]).toEqual([1, 1]);
  });
});
