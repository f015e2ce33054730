import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createTestCertificate, type TestCertificate } from './certificate.ts';

/**
 * A fake Azure Key Vault (secrets only) over HTTPS on 127.0.0.1, faithful to the REST shapes the real
 * `@azure/keyvault-secrets` client sends and expects: challenge authentication (401 + WWW-Authenticate to the
 * first, body-less request), `PUT/GET/PATCH/DELETE /secrets/…`, versions with paging, soft delete, purge, the
 * name and 25 KB size rules, and injectable faults (429/503 bursts with Retry-After, resets).
 */

const NAME = /^[0-9a-zA-Z-]{1,127}$/;
export const MAX_SECRET_BYTES = 25 * 1024;
const DEFAULT_PAGE = 25;
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

export interface FakeSecretVersion {
  version: string;
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  /** Unix seconds, as on the wire. */
  nbf?: number;
  exp?: number;
  created: number;
  updated: number;
}

interface SecretEntry {
  name: string;
  versions: FakeSecretVersion[];
}

interface DeletedEntry extends SecretEntry {
  deletedDate: number;
}

export interface KeyVaultFault {
  status: number;
  headers?: Record<string, string>;
  body?: object;
  /** Destroy the socket instead of answering. */
  reset?: boolean;
}

export interface FaultRule {
  /** Which requests the fault applies to (default: every authorised request). */
  match?: (request: { method: string; path: string; secretName?: string }) => boolean;
  fault: KeyVaultFault;
  times: number;
}

export interface KeyVaultRequestRecord {
  method: string;
  path: string;
  status: number;
  authorized: boolean;
  hadBody: boolean;
  at: number;
}

export interface FakeKeyVaultOptions {
  /** The bearer token the fake accepts. */
  acceptedToken?: string;
  /** Reuse a certificate (e.g. one already trusted by a subprocess). */
  certificate?: TestCertificate;
}

export interface FakeKeyVault {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly host: string;
  readonly certificate: TestCertificate;
  readonly acceptedToken: string;
  readonly requests: KeyVaultRequestRecord[];
  /** Count of writes (PUT /secrets/…) that created a version. */
  readonly writes: number;
  /** Every request received, challenges and faults included. */
  readonly requestCount: number;
  /** Queues a fault for the next `times` matching authorised requests. */
  inject(rule: FaultRule): void;
  clearFaults(): void;
  /** Direct read of the stored versions (oldest first), bypassing HTTP; undefined if absent. */
  versionsOf(name: string): FakeSecretVersion[] | undefined;
  /** Direct write, as another tool (az CLI, the old C# function) would do. */
  seed(
    name: string,
    value: string,
    options?: { tags?: Record<string, string>; exp?: Date; contentType?: string },
  ): void;
  close(): Promise<void>;
}

export async function startFakeKeyVault(options: FakeKeyVaultOptions = {}): Promise<FakeKeyVault> {
  const ownsCertificate = !options.certificate;
  const certificate = options.certificate ?? createTestCertificate();
  const acceptedToken = options.acceptedToken ?? `fake-aad-${randomBytes(12).toString('hex')}`;
  const secrets = new Map<string, SecretEntry>();
  const deleted = new Map<string, DeletedEntry>();
  const faults: FaultRule[] = [];
  const requests: KeyVaultRequestRecord[] = [];
  const sockets = new Set<Socket>();
  let writes = 0;
  let requestCount = 0;
  let base = '';

  const server: Server = createHttpsServer({ cert: certificate.cert, key: certificate.key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, errorBody('InternalServerError', String(error)));
      else res.destroy();
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  base = `https://127.0.0.1:${port}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    const body = await readBody(req);
    const method = req.method ?? 'GET';
    const auth = req.headers.authorization ?? '';
    const authorized = auth === `Bearer ${acceptedToken}`;
    const record: KeyVaultRequestRecord = {
      method,
      path: url.pathname,
      status: 0,
      authorized,
      hadBody: body.length > 0,
      at: Date.now(),
    };
    requests.push(record);
    requestCount++;
    if (requests.length > 5000) requests.splice(0, requests.length - 5000);
    const reply = (status: number, payload?: object, headers?: Record<string, string>) => {
      record.status = status;
      send(res, status, payload, headers);
    };

    if (!authorized) {
      // Challenge authentication: the SDK first sends the request without token and without body.
      return reply(401, errorBody('Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.'), {
        'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="https://vault.azure.net"`,
      });
    }
    if (!url.searchParams.get('api-version')) {
      return reply(400, errorBody('BadParameter', 'The request URI contains an invalid api-version.'));
    }
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const secretName = segments[1];

    const rule = faults.find(
      (candidate) =>
        candidate.times > 0 && (candidate.match?.({ method, path: url.pathname, secretName }) ?? true),
    );
    if (rule) {
      rule.times--;
      if (rule.fault.reset) {
        record.status = -1;
        req.socket.destroy();
        return;
      }
      return reply(
        rule.fault.status,
        rule.fault.body ??
          errorBody(rule.fault.status === 429 ? 'Throttled' : 'ServiceUnavailable', 'injected'),
        rule.fault.headers,
      );
    }

    const json = parseJson(body);
    if (json === undefined) return reply(400, errorBody('BadParameter', 'Request body is not valid JSON.'));

    if (segments[0] === 'secrets') {
      if (segments.length === 1 && method === 'GET') return reply(200, listSecrets(url));
      if (!secretName) return reply(404, errorBody('NotFound', 'unknown route'));
      if (!NAME.test(secretName)) {
        return reply(
          400,
          errorBody('BadParameter', `The request URI contains an invalid name: ${secretName.slice(0, 140)}`),
        );
      }
      const versionPart = segments[2];
      if (method === 'PUT' && segments.length === 2) return reply(...setSecret(secretName, json));
      if (method === 'GET' && versionPart === 'versions') return reply(...listVersions(secretName, url));
      if (method === 'GET') return reply(...getSecret(secretName, versionPart ?? ''));
      if (method === 'PATCH' && versionPart !== undefined) {
        return reply(...updateSecret(secretName, versionPart, json));
      }
      if (method === 'DELETE' && segments.length === 2) return reply(...deleteSecret(secretName));
    }
    if (segments[0] === 'deletedsecrets' && secretName) {
      const entry = deleted.get(secretName.toLowerCase());
      if (!entry) return reply(404, notFound(secretName, 'Deleted Secret'));
      if (method === 'GET') return reply(200, deletedBundle(entry));
      if (method === 'DELETE') {
        deleted.delete(secretName.toLowerCase());
        record.status = 204;
        res.writeHead(204).end();
        return;
      }
      if (method === 'POST' && segments[2] === 'recover') {
        deleted.delete(secretName.toLowerCase());
        secrets.set(secretName.toLowerCase(), { name: entry.name, versions: entry.versions });
        return reply(200, bundle(entry, entry.versions.at(-1) as FakeSecretVersion));
      }
    }
    return reply(404, errorBody('NotFound', `no route for ${method} ${url.pathname}`));
  }

  type Answer = [number, object];

  function setSecret(name: string, json: Record<string, unknown>): Answer {
    const key = name.toLowerCase();
    if (deleted.has(key)) {
      return [
        409,
        errorBody(
          'Conflict',
          `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
          'ObjectIsDeletedButRecoverable',
        ),
      ];
    }
    if (typeof json.value !== 'string') {
      return [400, errorBody('BadParameter', 'Property value is required and must be a string.')];
    }
    if (Buffer.byteLength(json.value, 'utf8') > MAX_SECRET_BYTES) {
      return [400, errorBody('BadParameter', 'Secret value exceeds the maximum allowed size of 25 KB.')];
    }
    const attributes = (json.attributes ?? {}) as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    const version: FakeSecretVersion = {
      version: randomBytes(16).toString('hex'),
      value: json.value,
      contentType: typeof json.contentType === 'string' ? json.contentType : undefined,
      tags: validTags(json.tags),
      enabled: attributes.enabled !== false,
      nbf: typeof attributes.nbf === 'number' ? attributes.nbf : undefined,
      exp: typeof attributes.exp === 'number' ? attributes.exp : undefined,
      created: now,
      updated: now,
    };
    const entry = secrets.get(key) ?? { name, versions: [] };
    entry.versions.push(version);
    secrets.set(key, entry);
    writes++;
    return [200, bundle(entry, version)];
  }

  function getSecret(name: string, version: string): Answer {
    const entry = secrets.get(name.toLowerCase());
    const found =
      version === '' ? entry?.versions.at(-1) : entry?.versions.find((v) => v.version === version);
    if (!entry || !found) return [404, notFound(name, 'Secret')];
    if (!found.enabled) {
      return [403, errorBody('Forbidden', 'Operation get is not allowed on a disabled secret.')];
    }
    return [200, bundle(entry, found)];
  }

  function updateSecret(name: string, version: string, json: Record<string, unknown>): Answer {
    const entry = secrets.get(name.toLowerCase());
    const found =
      version === '' ? entry?.versions.at(-1) : entry?.versions.find((v) => v.version === version);
    if (!entry || !found) return [404, notFound(name, 'Secret')];
    const attributes = (json.attributes ?? {}) as Record<string, unknown>;
    if (typeof attributes.enabled === 'boolean') found.enabled = attributes.enabled;
    if (typeof attributes.exp === 'number') found.exp = attributes.exp;
    if (typeof attributes.nbf === 'number') found.nbf = attributes.nbf;
    if (typeof json.contentType === 'string') found.contentType = json.contentType;
    if (json.tags !== undefined) found.tags = validTags(json.tags);
    found.updated = Math.floor(Date.now() / 1000);
    const { value: _value, ...withoutValue } = bundle(entry, found);
    return [200, withoutValue];
  }

  function deleteSecret(name: string): Answer {
    const key = name.toLowerCase();
    const entry = secrets.get(key);
    if (!entry) return [404, notFound(name, 'Secret')];
    secrets.delete(key);
    const gone: DeletedEntry = { ...entry, deletedDate: Math.floor(Date.now() / 1000) };
    deleted.set(key, gone);
    return [200, deletedBundle(gone)];
  }

  function listVersions(name: string, url: URL): Answer {
    const entry = secrets.get(name.toLowerCase());
    if (!entry) return [404, notFound(name, 'Secret')];
    return [
      200,
      page(
        entry.versions.map((version) => item(entry, version, true)),
        url,
      ),
    ];
  }

  function listSecrets(url: URL): object {
    const items = [...secrets.values()].map((entry) =>
      item(entry, entry.versions.at(-1) as FakeSecretVersion, false),
    );
    return page(items, url);
  }

  function page(items: object[], url: URL): object {
    const size = Math.min(Number(url.searchParams.get('maxresults') ?? DEFAULT_PAGE) || DEFAULT_PAGE, 25);
    const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
    const slice = items.slice(skip, skip + size);
    let nextLink: string | null = null;
    if (skip + size < items.length) {
      const next = new URL(url.pathname, base);
      next.searchParams.set('api-version', url.searchParams.get('api-version') ?? '');
      next.searchParams.set('$skiptoken', String(skip + size));
      next.searchParams.set('maxresults', String(size));
      nextLink = next.href;
    }
    return { value: slice, nextLink };
  }

  function attributesOf(version: FakeSecretVersion): object {
    return {
      enabled: version.enabled,
      ...(version.nbf !== undefined && { nbf: version.nbf }),
      ...(version.exp !== undefined && { exp: version.exp }),
      created: version.created,
      updated: version.updated,
      recoveryLevel: 'Recoverable+Purgeable',
      recoverableDays: 90,
    };
  }

  function bundle(entry: SecretEntry, version: FakeSecretVersion): Record<string, unknown> {
    return {
      value: version.value,
      id: `${base}/secrets/${entry.name}/${version.version}`,
      ...(version.contentType !== undefined && { contentType: version.contentType }),
      ...(version.tags !== undefined && { tags: version.tags }),
      attributes: attributesOf(version),
    };
  }

  function item(entry: SecretEntry, version: FakeSecretVersion, withVersion: boolean): object {
    return {
      id: withVersion ? `${base}/secrets/${entry.name}/${version.version}` : `${base}/secrets/${entry.name}`,
      ...(version.contentType !== undefined && { contentType: version.contentType }),
      ...(version.tags !== undefined && { tags: version.tags }),
      attributes: attributesOf(version),
    };
  }

  function deletedBundle(entry: DeletedEntry): object {
    const latest = entry.versions.at(-1) as FakeSecretVersion;
    return {
      ...bundle(entry, latest),
      value: undefined,
      recoveryId: `${base}/deletedsecrets/${entry.name}`,
      deletedDate: entry.deletedDate,
      scheduledPurgeDate: entry.deletedDate + 90 * 86400,
    };
  }

  return {
    url: base,
    host: `127.0.0.1:${port}`,
    certificate,
    acceptedToken,
    requests,
    get writes() {
      return writes;
    },
    get requestCount() {
      return requestCount;
    },
    inject: (rule) => void faults.push({ ...rule }),
    clearFaults: () => void faults.splice(0),
    versionsOf: (name) => secrets.get(name.toLowerCase())?.versions.map((version) => ({ ...version })),
    seed(name, value, seedOptions = {}) {
      const [status, payload] = setSecret(name, {
        value,
        tags: seedOptions.tags,
        ...(seedOptions.contentType && { contentType: seedOptions.contentType }),
        attributes: seedOptions.exp ? { exp: Math.floor(seedOptions.exp.getTime() / 1000) } : {},
      });
      if (status !== 200) throw new Error(`seeding ${name} failed: ${JSON.stringify(payload)}`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          if (ownsCertificate) certificate.dispose();
          resolve();
        });
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function validTags(tags: unknown): Record<string, string> | undefined {
  if (tags === undefined || tags === null) return undefined;
  const entries = Object.entries(tags as Record<string, unknown>).filter(
    ([, value]) => typeof value === 'string',
  );
  return Object.fromEntries(entries) as Record<string, string>;
}

function errorBody(code: string, message: string, innerCode?: string): object {
  return { error: { code, message, ...(innerCode && { innererror: { code: innerCode } }) } };
}

function notFound(name: string, what: string): object {
  return errorBody(
    `${what.replace(/ /g, '')}NotFound`,
    `A ${what.toLowerCase()} with (name/id) ${name} was not found in this key vault.`,
  );
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  payload?: object,
  headers: Record<string, string> = {},
): void {
  const text = payload === undefined ? '' : JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-ms-keyvault-service-version': '1.9.0.0',
    ...headers,
  });
  res.end(text);
}
