import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestCertificate } from './certificate.ts';

/**
 * A fake Microsoft Entra token endpoint over HTTPS on 127.0.0.1, for the real `@azure/identity` in processes the
 * tests spawn (the CLI, the Functions bundle): DefaultAzureCredential's EnvironmentCredential signs in with a
 * client secret at AZURE_AUTHORITY_HOST and gets the token the fake Key Vault accepts.
 *
 * The tenant is `adfs`: for it @azure/identity trusts the configured authority host as it is (ADFS / Azure Stack),
 * so MSAL skips instance discovery at login.microsoftonline.com and nothing leaves loopback. MSAL then reads
 * `/adfs/.well-known/openid-configuration` and posts the client-credentials grant to its token endpoint.
 */
export interface FakeEntra {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** Client-credentials grants answered with a token. */
  readonly tokensIssued: number;
  /** AZURE_* variables that make DefaultAzureCredential sign in here, and only try that. */
  readonly env: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

const TENANT = 'adfs';

export async function startFakeEntra(options: {
  certificate: TestCertificate;
  /** The access token to hand out (the fake vault's accepted token). */
  accessToken: string;
}): Promise<FakeEntra> {
  const clientId = `fake-app-${randomBytes(4).toString('hex')}`;
  const clientSecret = randomBytes(16).toString('hex');
  let tokensIssued = 0;
  let base = '';

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const path = new URL(req.url ?? '/', base).pathname;
    if (req.method === 'GET' && path === `/${TENANT}/.well-known/openid-configuration`) {
      return json(res, 200, {
        issuer: `${base}/${TENANT}`,
        authorization_endpoint: `${base}/${TENANT}/oauth2/authorize`,
        token_endpoint: `${base}/${TENANT}/oauth2/token`,
        end_session_endpoint: `${base}/${TENANT}/oauth2/logout`,
        jwks_uri: `${base}/${TENANT}/discovery/keys`,
      });
    }
    if (req.method === 'POST' && path === `/${TENANT}/oauth2/token`) {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      if (form.get('grant_type') !== 'client_credentials') {
        return json(res, 400, { error: 'unsupported_grant_type' });
      }
      if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) {
        return json(res, 401, {
          error: 'invalid_client',
          error_description: 'AADSTS7000215: Invalid client secret',
        });
      }
      tokensIssued++;
      return json(res, 200, {
        token_type: 'Bearer',
        expires_in: 3600,
        ext_expires_in: 3600,
        access_token: options.accessToken,
      });
    }
    json(res, 404, { error: 'not_found' });
  }

  const server = createServer(
    { cert: options.certificate.cert, key: options.certificate.key },
    (req, res) => {
      handle(req, res).catch(() => res.destroy());
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    get tokensIssued() {
      return tokensIssued;
    },
    env: {
      AZURE_AUTHORITY_HOST: base,
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_ID: clientId,
      AZURE_CLIENT_SECRET: clientSecret,
      AZURE_TOKEN_CREDENTIALS: 'EnvironmentCredential',
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function json(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
