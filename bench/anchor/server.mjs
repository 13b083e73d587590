// Anchor server for the benchmarks: panva's oidc-provider (OpenID Certified), configured for
// client_credentials with JWT access tokens, in-memory adapter, plain HTTP on 127.0.0.1.
//
//   node server.mjs --port 9090 --issuer http://127.0.0.1:9090
//   (or ANCHOR_PORT / ANCHOR_ISSUER / ANCHOR_HOST in the environment)
//
// Nothing is logged per request. One line "anchor listening on http://..." is printed when ready.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`unexpected argument: ${a}`);
    const value = m[2] ?? argv[(i += 1)];
    if (value === undefined) throw new Error(`missing value for --${m[1]}`);
    out[m[1]] = value;
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const host = args.host ?? process.env.ANCHOR_HOST ?? '127.0.0.1';
const port = Number(args.port ?? process.env.ANCHOR_PORT ?? 9090);
if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad port: ${port}`);
const issuer = args.issuer ?? process.env.ANCHOR_ISSUER ?? `http://${host}:${port}`;

// Signing keys, fresh at every start: one RSA 2048 (RS256) and one P-256 (ES256).
function signingJwk(kid, alg, type, options) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}
const jwks = {
  keys: [
    signingJwk('rs256-1', 'RS256', 'rsa', { modulusLength: 2048 }),
    signingJwk('es256-1', 'ES256', 'ec', { namedCurve: 'P-256' }),
  ],
};

const benchClient = (clientId) => ({
  client_id: clientId,
  client_secret: 'bench-secret',
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
});

// Resource servers. urn:bench is the default (JWT access tokens, alg by client);
// urn:bench:opaque gives an opaque (stored) token, the only kind oidc-provider introspects:
// it answers unsupported_token_type for a structured JWT at the introspection endpoint.
const DEFAULT_RESOURCE = 'urn:bench';
const OPAQUE_RESOURCE = 'urn:bench:opaque';

const configuration = {
  clients: [benchClient('bench'), benchClient('bench-es')],
  jwks,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Any authenticated confidential client may introspect (the default policy, without its notice).
      allowedPolicy: async (ctx, client) => client.clientAuthMethod !== 'none',
    },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf ?? DEFAULT_RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator, client) => {
        if (resourceIndicator === DEFAULT_RESOURCE) {
          return {
            scope: 'api',
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: client.clientId === 'bench-es' ? 'ES256' : 'RS256' } },
          };
        }
        if (resourceIndicator === OPAQUE_RESOURCE) {
          return { scope: 'api', accessTokenFormat: 'opaque' };
        }
        throw new errors.InvalidTarget(`unknown resource indicator: ${resourceIndicator}`);
      },
    },
  },
  // No browser flows are benchmarked; cookies are signed with a per-start random key anyway.
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  clientBasedCORS: () => false,
  ttl: { ClientCredentials: 600 }, // the default (10 min), set so the provider does not print a notice
  routes: {
    token: '/token',
    introspection: '/token/introspection',
    jwks: '/jwks',
  },
};

const provider = new Provider(issuer, configuration);
provider.proxy = false;

// Count failures instead of logging them on the hot path; report once at exit.
let serverErrors = 0;
provider.on('server_error', () => { serverErrors += 1; });
provider.silent = true; // in v9 the Provider is the Koa app itself (provider.app is deprecated)

const server = createServer(provider.callback());
server.keepAliveTimeout = 65_000;

function stop() {
  if (serverErrors > 0) console.error(`anchor: ${serverErrors} server_error(s) during the run`);
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

server.listen(port, host, () => {
  console.log(`anchor listening on http://${host}:${port} (issuer ${issuer})`);
});
