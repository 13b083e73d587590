// Pushed authorization requests (RFC 9126) and DPoP (RFC 9449) with an independent client:
// panva's openid-client pushes the request and proves its key, a real headless Chromium
// signs the person in.
//
// Usage:
//   node dpop_par.mjs --issuer URL --client-id ID --client-secret SECRET \
//                     --username LOGIN --password PASSWORD --port PORT
//
// The client must be registered with `--require-par --dpop`, the grants authorization_code
// and refresh_token, and the redirect URI http://127.0.0.1:PORT/cb, which this script serves.
// It prints one JSON line with each step's result and exits non-zero when any step fails.

import { createHash, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import * as client from 'openid-client';
import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    port: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
  },
});
for (const name of ['issuer', 'client-id', 'client-secret', 'username', 'password', 'port']) {
  if (!args[name]) {
    console.error(`missing --${name}`);
    process.exit(2);
  }
}

const port = Number(args.port);
const redirectUri = `http://127.0.0.1:${port}/cb`;
const SCOPE = 'openid portal offline_access';
// The flags that work on this machine (no network but loopback, running as root).
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const results = {};
let failed = false;

async function step(name, fn) {
  const report = {};
  try {
    const value = await fn(report);
    results[name] = { ok: true, ...report };
    return value;
  } catch (e) {
    failed = true;
    results[name] = { ok: false, ...report, error: describe(e) };
    throw new StepFailed(name);
  }
}

class StepFailed extends Error {}

function describe(e) {
  const parts = [e?.name, e?.code, e?.error, e?.error_description, e?.message].filter(Boolean);
  if (e?.cause && typeof e.cause === 'object') {
    parts.push(`cause: ${JSON.stringify(e.cause)}`);
  }
  return parts.join(': ');
}

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

function jwtPart(jwt, index) {
  return JSON.parse(Buffer.from(jwt.split('.')[index], 'base64url').toString('utf8'));
}

/** RFC 7638: the SHA-256 thumbprint of an EC public key. */
async function thumbprint(publicKey) {
  const jwk = await webcrypto.subtle.exportKey('jwk', publicKey);
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

/** The WWW-Authenticate challenge scheme and error of a refused resource request. */
function challengeOf(e) {
  const challenges = Array.isArray(e?.cause) ? e.cause : [];
  const c = challenges[0];
  return c ? `${c.scheme} ${c.parameters?.error}` : describe(e);
}

const hits = [];
const server = createServer((req, res) => {
  hits.push(req.url);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end('<!doctype html><title>rp</title><p id="rp">back at the client</p>');
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});

const profile = mkdtempSync(join(tmpdir(), 'dpop-par-chromium-'));
let context;

async function main() {
  const config = await step('discovery', async (report) => {
    const config = await client.discovery(
      new URL(args.issuer),
      args['client-id'],
      undefined,
      client.ClientSecretBasic(args['client-secret']),
      { execute: [client.allowInsecureRequests] },
    );
    const meta = config.serverMetadata();
    report.par_endpoint = meta.pushed_authorization_request_endpoint;
    report.dpop_algs = meta.dpop_signing_alg_values_supported;
    check(typeof meta.pushed_authorization_request_endpoint === 'string', 'no PAR endpoint');
    check(meta.dpop_signing_alg_values_supported?.includes('ES256'), 'ES256 not offered for DPoP');
    return config;
  });

  // The client's DPoP key, made here (ES256, non-extractable private part).
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const jkt = await thumbprint(keyPair.publicKey);
  const dpop = client.getDPoPHandle(config, keyPair);

  context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  const atClient = (u) => u.href.startsWith(redirectUri);

  /** Opens `url` in Chromium, signing in when asked; the callback URL. */
  async function visit(url) {
    await page.goto(url.href);
    let signedIn = false;
    if (!atClient(new URL(page.url())) && (await page.locator('input[name=username]').count()) > 0) {
      await page.fill('input[name=username]', args.username);
      await page.fill('input[name=password]', args.password);
      await page.locator('form:has(input[name=username]) [type=submit]').first().click();
      signedIn = true;
    }
    try {
      await page.waitForURL(atClient, { timeout: 30_000 });
    } catch (e) {
      throw new Error(`stuck at ${page.url()} (${await page.title().catch(() => '?')}); browser said: ${JSON.stringify(consoleLines.slice(-5))}; ${e.message.split('\n')[0]}`);
    }
    return { callback: new URL(page.url()), signedIn };
  }

  // RFC 9126 §5: a plain authorization request of this client is refused.
  await step('plain_refused', async (report) => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: SCOPE,
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
      state: client.randomState(),
    });
    await page.goto(url.href);
    await page.waitForURL(atClient, { timeout: 30_000 });
    const back = new URL(page.url());
    report.error = back.searchParams.get('error');
    report.code = back.searchParams.has('code');
    check(report.error === 'invalid_request' && !report.code, `plain request: ${back.href}`);
  });

  // The push, with a DPoP proof (binding the code to the key, RFC 9449 §10.1), then the
  // browser with only client_id and request_uri.
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const first = await step('par_authorize', async (report) => {
    const url = await client.buildAuthorizationUrlWithPAR(
      config,
      {
        redirect_uri: redirectUri,
        scope: SCOPE,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      },
      { DPoP: dpop },
    );
    report.authorize_params = [...url.searchParams.keys()].sort();
    check(url.searchParams.get('request_uri')?.startsWith('urn:ietf:params:oauth:request_uri:'), 'no request_uri');
    const a = await visit(url);
    report.sign_in_form = a.signedIn;
    report.callback_params = [...a.callback.searchParams.keys()].sort();
    return { ...a, url };
  });

  await step('par_reuse', async (report) => {
    const res = await page.goto(first.url.href);
    report.status = res?.status();
    check(report.status === 400, `a used request_uri answered ${report.status}`);
  });

  const tokens = await step('dpop_token', async (report) => {
    const t = await client.authorizationCodeGrant(
      config,
      first.callback,
      { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
      undefined,
      { DPoP: dpop },
    );
    report.token_type = t.token_type?.toLowerCase();
    report.cnf_jkt_matches = jwtPart(t.access_token, 1).cnf?.jkt === jkt;
    check(report.token_type === 'dpop', `token_type ${t.token_type}`);
    check(report.cnf_jkt_matches, 'cnf.jkt is not the key of the proofs');
    return t;
  });
  const sub = tokens.claims().sub;

  await step('userinfo', async (report) => {
    const info = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP: dpop });
    Object.assign(report, { sub: info.sub, rights: info.rights });
    check(info.sub === sub, 'sub');
  });

  await step('bearer_refused', async (report) => {
    report.challenge = 'accepted';
    try {
      await client.fetchUserInfo(config, tokens.access_token, sub);
    } catch (e) {
      report.challenge = challengeOf(e);
    }
    check(report.challenge !== 'accepted', 'a DPoP-bound token worked as a Bearer token');
  });

  await step('introspection', async (report) => {
    const at = await client.tokenIntrospection(config, tokens.access_token);
    report.active = at.active;
    report.cnf_jkt_matches = at.cnf?.jkt === jkt;
    check(at.active === true && report.cnf_jkt_matches, `introspection ${JSON.stringify(at)}`);
  });

  await step('refresh', async (report) => {
    const t = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: dpop });
    report.token_type = t.token_type?.toLowerCase();
    report.cnf_jkt_matches = jwtPart(t.access_token, 1).cnf?.jkt === jkt;
    const info = await client.fetchUserInfo(config, t.access_token, sub, { DPoP: dpop });
    report.new_access_token_works = info.sub === sub;
    check(report.token_type === 'dpop' && report.cnf_jkt_matches, 'the refreshed token is not bound');
  });
}

try {
  await main();
} catch (e) {
  if (!(e instanceof StepFailed)) {
    failed = true;
    results.unexpected = { ok: false, error: describe(e) };
  }
} finally {
  await context?.close().catch(() => {});
  server.close();
  rmSync(profile, { recursive: true, force: true });
}

console.log(JSON.stringify({ ok: !failed, client_hits: hits.map((h) => h.split('?')[0]), steps: results }));
process.exit(failed ? 1 : 0);
