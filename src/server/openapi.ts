import { version } from '../version.ts';

const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const nameParameter = {
  name: 'name',
  in: 'path',
  required: true,
  description: 'Connection name',
  schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
};

const common = {
  '401': errorResponse('No API key, or an unknown or revoked one'),
  '429': errorResponse('Rate limit of this API key exceeded (see Retry-After)'),
};

const connectionScoped = {
  ...common,
  '403': errorResponse('The API key is not scoped to this connection'),
  '404': errorResponse('No connection of that name'),
};

const nullable = (type: string, extra: object = {}) => ({ type: [type, 'null'], ...extra });

/** The OpenAPI 3.1 description of the daemon's API, served at /openapi.json. */
export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'tokenkeeper',
    version,
    description:
      'Valid OAuth 2.0 access tokens for your pipelines. Refresh tokens and client secrets never leave tokenkeeper.',
  },
  servers: [{ url: '/' }],
  security: [{ apiKey: [] }],
  components: {
    securitySchemes: {
      apiKey: {
        type: 'http',
        scheme: 'bearer',
        description: 'An API key from `tokenkeeper api-key create --scope <connection…>`',
      },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: {
              code: {
                type: 'string',
                description:
                  'unauthenticated, invalid_api_key, forbidden, not_found, needs_reauth, provider_retired, provider_unavailable, rate_limited, bad_request, …',
              },
              message: { type: 'string' },
            },
          },
        },
      },
      Connection: {
        type: 'object',
        required: ['name', 'provider', 'status', 'expiringSoon', 'failureCount', 'refreshInProgress'],
        properties: {
          name: { type: 'string' },
          provider: { type: 'string' },
          account: nullable('string', { description: "The provider's user id" }),
          status: {
            type: 'string',
            enum: ['active', 'refreshing', 'needs_reauth', 'provider_retired', 'failing'],
          },
          scope: nullable('string'),
          expiresAt: nullable('string', { format: 'date-time' }),
          refreshTokenExpiresAt: nullable('string', {
            format: 'date-time',
            description:
              'When the refresh token dies; null: it does not expire by time, as far as anyone says',
          }),
          expiringSoon: {
            type: 'boolean',
            description:
              'The refresh token or the client secret dies within its warning window (see expiring): act soon',
          },
          expiring: {
            type: ['object', 'null'],
            description:
              'While expiringSoon: what dies first and when (refresh_token: reconnect the account; client_secret: rotate the client secret and update providers.<id>.clientSecret / clientSecretExpiresAt)',
            required: ['what', 'at'],
            properties: {
              what: { type: 'string', enum: ['refresh_token', 'client_secret'] },
              at: { type: 'string', format: 'date-time' },
            },
          },
          successor: nullable('string', {
            description:
              'For provider_retired: the provider that replaced this one, to connect the account at',
          }),
          lastRefreshAt: nullable('string', { format: 'date-time' }),
          nextRefreshAt: nullable('string', { format: 'date-time' }),
          lastError: nullable('string'),
          lastErrorAt: nullable('string', { format: 'date-time' }),
          failureCount: { type: 'integer' },
          refreshInProgress: { type: 'boolean' },
          createdAt: nullable('string', { format: 'date-time' }),
        },
      },
      AccessToken: {
        type: 'object',
        required: ['connection', 'accessToken', 'tokenType'],
        properties: {
          connection: { type: 'string' },
          accessToken: { type: 'string' },
          tokenType: { type: 'string', description: 'Usually "Bearer"' },
          expiresAt: nullable('string', { format: 'date-time' }),
          expiresIn: nullable('integer', { description: 'Seconds until the access token expires' }),
          scope: nullable('string'),
        },
      },
    },
  },
  paths: {
    '/v1/connections': {
      get: {
        operationId: 'listConnections',
        summary: 'The connections this API key may use',
        responses: {
          '200': {
            description: 'Connections (no secrets)',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['connections'],
                  properties: {
                    connections: { type: 'array', items: { $ref: '#/components/schemas/Connection' } },
                  },
                },
              },
            },
          },
          ...common,
        },
      },
    },
    '/v1/connections/{name}': {
      get: {
        operationId: 'getConnection',
        summary: 'One connection: status, expiry, last refresh and error',
        parameters: [nameParameter],
        responses: {
          '200': {
            description: 'The connection (no secrets)',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Connection' } } },
          },
          ...connectionScoped,
        },
      },
    },
    '/v1/connections/{name}/token': {
      get: {
        operationId: 'getAccessToken',
        summary: 'A valid access token: a usable stored one at once, refreshed first only when expired',
        description:
          'Never returns the refresh token or the client secret. Responses carry Cache-Control: no-store.',
        parameters: [nameParameter],
        responses: {
          '200': {
            description: 'A valid access token',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/AccessToken' } } },
          },
          ...connectionScoped,
          '409': errorResponse('needs_reauth: a human must reconnect the account'),
          '410': errorResponse('provider_retired: the provider shut down; reconnect with its successor'),
          '503': errorResponse('The provider or the store is unavailable and the access token has expired'),
        },
      },
    },
    '/v1/connections/{name}/refresh': {
      post: {
        operationId: 'refreshConnection',
        summary: 'Refresh now, even if not due',
        parameters: [nameParameter],
        responses: {
          '200': {
            description: 'The connection after the refresh',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Connection' } } },
          },
          ...connectionScoped,
          '409': errorResponse('needs_reauth'),
          '410': errorResponse('provider_retired'),
          '502': errorResponse('The provider refused the request (e.g. invalid_client)'),
          '503': errorResponse('The provider or the store is unavailable'),
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'health',
        summary: 'Liveness: the process is serving',
        security: [],
        responses: { '200': { description: 'Alive' } },
      },
    },
    '/readyz': {
      get: {
        operationId: 'ready',
        summary: 'Readiness: the store can be read and the daemon is not shutting down',
        security: [],
        responses: { '200': { description: 'Ready' }, '503': { description: 'Not ready' } },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary:
          'Prometheus metrics (open on a loopback listen; else the metrics token or an operator session)',
        security: [],
        responses: { '200': { description: 'Prometheus text format', content: { 'text/plain': {} } } },
      },
    },
  },
} as const;
