// An independent relying party against the idp: panva's openid-client (a certified RP
// library) does the protocol, a real headless Chromium does the person's part.
//
// Usage:
//   node rp.mjs --issuer URL --client-id ID --client-secret SECRET \
//               --username LOGIN --password PASSWORD --port PORT
//
// The client must be registered with the redirect URI http://127.0.0.1:PORT/cb and the
// post-logout redirect URI http://127.0.0.1:PORT/bye; this script serves both on
// 127.0.0.1:PORT. It prints one JSON line with each step's result and exits non-zero when
// any step fails.

import { createHash } from 'node:crypto';
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
const postLogoutUri = `http://127.0.0.1:${port}/bye`;
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

/**
 * Runs one named step and returns what `fn` returns; what `fn` puts into its `report`
 * argument (or the error it throws) goes into the JSON line.
 */
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

/** Expects `promise` to be refused by the idp with OAuth error `code`. */
async function refusedWith(promise, code) {
  try {
    await promise;
  } catch (e) {
    check(e?.error === code, `expected ${code}, got ${describe(e)}`);
    return e.error;
  }
  throw new Error(`expected ${code}, but the request succeeded`);
}

function jwtPart(jwt, index) {
  return JSON.parse(Buffer.from(jwt.split('.')[index], 'base64url').toString('utf8'));
}

/** OIDC Core §3.1.3.6: the left half of the SHA-256 of the access token (RS256/ES256). */
function atHash(accessToken) {
  return createHash('sha256').update(accessToken, 'ascii').digest().subarray(0, 16).toString('base64url');
}

// The client's own endpoints: the redirect URI and the post-logout redirect URI.
const hits = [];
const server = createServer((req, res) => {
  hits.push(req.url);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>rp</title><p id="rp">${req.url.startsWith('/bye') ? 'signed out' : 'back at the client'}</p>`);
});
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});

const profile = mkdtempSync(join(tmpdir(), 'rp-chromium-'));
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
    report.issuer = meta.issuer;
    check(meta.issuer === args.issuer, `issuer ${meta.issuer}`);
    check(meta.code_challenge_methods_supported?.includes('S256'), 'S256 not advertised');
    check(!meta.token_endpoint_auth_methods_supported?.includes('none'), 'none is offered');
    for (const endpoint of ['jwks_uri', 'userinfo_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'end_session_endpoint']) {
      check(typeof meta[endpoint] === 'string', `no ${endpoint}`);
    }
    return config;
  });

  // A persistent context gets its own new, empty profile directory.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  // What the browser reports (a Content-Security-Policy violation, say), for failures.
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));

  /** Opens an authorization request in Chromium, signing in when asked; the callback URL. */
  async function authorize(extra = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: SCOPE,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    const atClient = (u) => u.href.startsWith(redirectUri);
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
      throw new Error(`stuck at ${page.url()} (${(await page.title().catch(() => '?'))}); browser said: ${JSON.stringify(consoleLines.slice(-5))}; ${e.message.split('\n')[0]}`);
    }
    return { callback: new URL(page.url()), verifier, state, nonce, signedIn };
  }

  /** Redeems a callback with openid-client, which validates the response and ID token. */
  function redeem(a) {
    return client.authorizationCodeGrant(config, a.callback, {
      pkceCodeVerifier: a.verifier,
      expectedState: a.state,
      expectedNonce: a.nonce,
      idTokenExpected: true,
    });
  }

  // Code + PKCE, the browser step in Chromium.
  const first = await step('authorize', async (report) => {
    const a = await authorize();
    report.sign_in_form = a.signedIn;
    report.callback_params = [...a.callback.searchParams.keys()].sort();
    check(a.signedIn, 'the sign-in form was not shown');
    check(a.callback.searchParams.get('iss') === args.issuer, 'no iss in the response (RFC 9207)');
    return a;
  });

  // openid-client checks state and iss of the response, redeems the code with the PKCE
  // verifier and validates the ID token (signature against the JWKS, iss, aud, exp, iat,
  // nonce).
  const tokens = await step('code_exchange', async (report) => {
    const t = await redeem(first);
    report.scope = t.scope;
    report.expires_in = t.expires_in;
    check(t.token_type?.toLowerCase() === 'bearer', `token_type ${t.token_type}`);
    check(typeof t.refresh_token === 'string', 'no refresh token for offline_access');
    return t;
  });

  const claims = tokens.claims();
  await step('id_token', async (report) => {
    const header = jwtPart(tokens.id_token, 0);
    Object.assign(report, { alg: header.alg, iss: claims.iss, aud: claims.aud });
    check(header.alg === 'RS256', `alg ${header.alg}`);
    check(claims.nonce === first.nonce, 'nonce');
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    check(aud.includes(args['client-id']), 'aud');
    check(claims.at_hash === atHash(tokens.access_token), `at_hash ${claims.at_hash}`);
    report.at_hash = true;
    check(jwtPart(tokens.access_token, 0).typ === 'at+jwt', 'access token typ');
    report.access_token_typ = 'at+jwt';
  });

  await step('claims', async (report) => {
    Object.assign(report, {
      sub: claims.sub,
      role: claims.role,
      rights: claims.rights,
      email: claims.email,
      office_kind: claims.office?.kind,
      amr: claims.amr,
    });
    check(Array.isArray(claims.rights), 'no rights');
    check(typeof claims.role === 'string', 'no role');
  });

  await step('userinfo', async (report) => {
    // openid-client requires userinfo's sub to equal the ID token's.
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    Object.assign(report, { sub: info.sub, role: info.role, rights: info.rights, email: info.email });
  });

  // Refresh: rotated on use; a replay of the old one is refused and ends the family.
  const rotated = await step('refresh', async (report) => {
    const t = await client.refreshTokenGrant(config, tokens.refresh_token);
    check(typeof t.refresh_token === 'string', 'no new refresh token');
    report.rotated = t.refresh_token !== tokens.refresh_token;
    check(report.rotated, 'the refresh token was not rotated');
    report.id_token = typeof t.id_token === 'string';
    check(!report.id_token || t.claims().sub === claims.sub, 'the new ID token names another subject');
    const info = await client.fetchUserInfo(config, t.access_token, claims.sub);
    report.new_access_token_works = info.sub === claims.sub;
    return t;
  });

  await step('refresh_reuse', async (report) => {
    report.replay = await refusedWith(client.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant');
    report.newest = await refusedWith(client.refreshTokenGrant(config, rotated.refresh_token), 'invalid_grant');
    report.newest_access_token = 'accepted';
    try {
      await client.fetchUserInfo(config, rotated.access_token, claims.sub);
    } catch (e) {
      // A 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3).
      const challenge = Array.isArray(e?.cause) ? e.cause.find((c) => c.scheme === 'bearer') : undefined;
      report.newest_access_token = challenge?.parameters?.error ?? e?.error ?? e?.code ?? 'refused';
    }
    check(report.newest_access_token !== 'accepted', "the family's access token still works");
  });

  // A fresh grant (Chromium still has the idp session: no sign-in form) for introspection
  // and revocation.
  const second = await step('sso', async (report) => {
    const a = await authorize();
    report.sign_in_form = a.signedIn;
    check(!a.signedIn, 'asked to sign in again');
    return redeem(a);
  });

  await step('introspection', async (report) => {
    const at = await client.tokenIntrospection(config, second.access_token);
    const rt = await client.tokenIntrospection(config, second.refresh_token);
    report.access_token = { active: at.active, token_type: at.token_type, scope: at.scope, client_id: at.client_id };
    report.refresh_token = { active: rt.active, token_type: rt.token_type };
    check(at.active === true, 'access token inactive');
    check(rt.active === true, 'refresh token inactive');
    check(at.client_id === args['client-id'], `client_id ${at.client_id}`);
    check(at.sub === claims.sub, 'sub');
  });

  await step('revocation', async (report) => {
    await client.tokenRevocation(config, second.refresh_token, { token_type_hint: 'refresh_token' });
    const rt = await client.tokenIntrospection(config, second.refresh_token);
    const at = await client.tokenIntrospection(config, second.access_token);
    report.refresh_token_active = rt.active;
    report.access_token_active = at.active;
    check(rt.active === false, 'refresh token still active');
    check(at.active === false, "the grant's access token still active");
    report.refresh = await refusedWith(client.refreshTokenGrant(config, second.refresh_token), 'invalid_grant');
    // RFC 7009 §2.2: an unknown token is not an error.
    await client.tokenRevocation(config, 'not-a-token-of-ours');
    report.unknown_token = 'ok';
  });

  // RP-initiated logout: back to the registered post-logout URI with state; the idp
  // session is gone (prompt=none answers login_required).
  await step('logout', async (report) => {
    const state = client.randomState();
    const url = client.buildEndSessionUrl(config, {
      id_token_hint: second.id_token,
      post_logout_redirect_uri: postLogoutUri,
      state,
    });
    await page.goto(url.href);
    await page.waitForURL((u) => u.href.startsWith(postLogoutUri), { timeout: 30_000 });
    const landed = new URL(page.url());
    report.landed = `${landed.origin}${landed.pathname}`;
    report.state_returned = landed.searchParams.get('state') === state;
    check(report.state_returned, 'state not returned');
    check((await page.textContent('#rp')) === 'signed out', 'not our page');
    const silent = await authorize({ prompt: 'none' });
    report.prompt_none_after = silent.callback.searchParams.get('error') ?? 'a code';
    check(report.prompt_none_after === 'login_required', `prompt=none after logout: ${report.prompt_none_after}`);
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
