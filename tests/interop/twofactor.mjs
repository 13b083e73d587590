// Two-factor authentication as a person meets it, in a real headless Chromium: forced
// enrolment of the authenticator app, the 2FA page with a code, a replayed code refused, a
// recovery code, and passkeys (registration under Profiel → Beveiliging, passwordless
// sign-in, and a passkey as the second factor) through Chromium's virtual authenticator.
// Everything is found by its visible Dutch label; the TOTP codes are computed here
// (RFC 6238) from the key the set-up page shows.
//
// Usage:
//   node twofactor.mjs --base http://localhost:PORT --username LOGIN --password PASSWORD \
//                      --name "NAME ON THE HOME PAGE" [--chromium /usr/bin/chromium]
//
// The account must be activated, have no second factor yet, and 2FA must be mandatory.
// The portal's public URL must be --base (passkeys need a domain name, not an IP address).
// Prints one JSON line with each step's result and exits non-zero when any step fails.

import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    name: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
  },
});
for (const name of ['base', 'username', 'password', 'name']) {
  if (!args[name]) {
    console.error(`missing --${name}`);
    process.exit(2);
  }
}

const base = args.base.replace(/\/$/, '');
const HOME = `${base}/`;
const GREETING = `Welkom, ${args.name}`;
// The home page offers 2FA to a session without it ("mfa" not in amr).
const OFFER = 'Beveilig uw account met twee-factor-authenticatie.';
const WRONG_CODE = 'Deze code is onjuist of verlopen. Vul de code in die de app nu laat zien.';
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
const TIMEOUT = 20_000;

// ----- RFC 6238 -----

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32, blanks and padding ignored. */
function base32Decode(text) {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const i = BASE32.indexOf(ch);
    if (i < 0) {
      throw new Error(`not base32: ${JSON.stringify(ch)}`);
    }
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** HOTP (RFC 4226) of `counter`, HMAC-SHA-1, `digits` digits. */
function hotp(key, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

const STEP_SECONDS = 30;
const stepNow = () => Math.floor(Date.now() / 1000 / STEP_SECONDS);
const totpAt = (key, step) => hotp(key, step);

// ----- Steps and reporting -----

const results = {};
let failed = false;
let page;
const consoleLines = [];

class StepFailed extends Error {}

function check(condition, message) {
  if (!condition) {
    throw new Error(message);
  }
}

async function step(name, fn) {
  const report = {};
  try {
    const value = await fn(report);
    results[name] = { ok: true, ...report };
    return value;
  } catch (e) {
    failed = true;
    const where = page ? page.url() : '?';
    const text = page ? (await page.locator('main').innerText().catch(() => '')).slice(0, 600) : '';
    results[name] = {
      ok: false,
      ...report,
      error: `${e?.message?.split('\n')[0]}`,
      at: where,
      page_text: text,
      browser_said: consoleLines.slice(-8),
    };
    throw new StepFailed(name);
  }
}

// ----- Page helpers -----

const path = (p = page) => new URL(p.url()).pathname;
const atPath = (wanted) => (u) => u.pathname === wanted;

/** Whether the sign-in page is shown (its user name field). */
async function onSignInPage(p = page) {
  return (await p.locator('input[name=username]').count()) > 0;
}

/** The Offerte Portaal home page: its greeting, and whether 2FA is offered. */
async function home(report) {
  await page.waitForURL((u) => u.href === HOME, { timeout: TIMEOUT });
  const heading = (await page.getByRole('heading', { level: 1 }).innerText()).trim();
  report.greeting = heading;
  report.offer_shown = (await page.getByText(OFFER).count()) > 0;
  check(heading === GREETING, `home page heading ${JSON.stringify(heading)}`);
  check(!report.offer_shown, 'the home page still offers 2FA: the session lacks mfa');
}

/** Fills in the sign-in page with the password. */
async function signInWithPassword() {
  check(await onSignInPage(), `not the sign-in page: ${page.url()}`);
  await page.getByLabel('Adviseursnummer of e-mailadres').fill(args.username);
  await page.getByLabel('Wachtwoord', { exact: true }).fill(args.password);
  await page.getByRole('button', { name: 'Inloggen', exact: true }).click();
}

/** "Uitloggen" in the portal's bar; ends on the sign-in page. */
async function signOut(report) {
  await page.getByRole('button', { name: 'Uitloggen', exact: true }).click();
  const confirm = page.getByRole('button', { name: 'Ja, uitloggen' });
  await page.locator('input[name=username]').or(confirm).first().waitFor({ timeout: TIMEOUT });
  if (await confirm.count()) {
    await confirm.click();
    await page.locator('input[name=username]').waitFor({ timeout: TIMEOUT });
  }
  report.signed_out = await onSignInPage();
  check(report.signed_out, 'not back at the sign-in page after Uitloggen');
}

/**
 * In another tab of the same browser: does `/` (and Profiel) still ask for a sign-in?
 * That is: no session exists yet, only the pending step.
 */
async function noSession(report) {
  const other = await page.context().newPage();
  try {
    await other.goto(HOME);
    report.root_without_session = path(other);
    report.root_asks_sign_in = await onSignInPage(other);
    await other.goto(`${base}/idp/account`);
    report.account_without_session = path(other);
  } finally {
    await other.close();
  }
  check(report.root_asks_sign_in && report.root_without_session === '/idp/login', `/ led to ${report.root_without_session}`);
  check(report.account_without_session === '/idp/login', `/idp/account led to ${report.account_without_session}`);
}

/** The Dutch error on the page (role=alert), if shown. */
async function alertText() {
  const alerts = page.locator('[role=alert]:visible');
  return (await alerts.count()) ? (await alerts.first().innerText()).trim() : null;
}

/** Clicks `locator` and waits until a new document has loaded (a form post's answer). */
async function clickForNewPage(locator) {
  await page.evaluate(() => {
    window.__previousDocument = true;
  });
  await locator.click();
  await page.waitForFunction(() => !window.__previousDocument && document.readyState === 'complete', null, { timeout: TIMEOUT });
}

/** Types a code on the 2FA page and presses "Verstuur". */
async function submitCode(code) {
  await page.getByRole('textbox', { name: '6-cijferige code' }).fill(code);
  await clickForNewPage(page.getByRole('button', { name: 'Verstuur', exact: true }));
}

// ----- The run -----

const profile = mkdtempSync(join(tmpdir(), 'twofactor-chromium-'));
let context;

async function main() {
  await step('totp_self_test', async (report) => {
    // RFC 6238 appendix B, SHA-1, T = 59 s and 1111111109 s, cut to 6 digits.
    const key = Buffer.from('12345678901234567890', 'ascii');
    report.codes = [totpAt(key, Math.floor(59 / 30)), totpAt(key, Math.floor(1111111109 / 30))];
    check(report.codes[0] === '287082' && report.codes[1] === '081804', `RFC 6238 vectors: ${report.codes}`);
    check(base32Decode('GEZDGNBVGY3TQOJQ').toString('ascii') === '1234567890', 'base32');
  });

  context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    args: CHROMIUM_FLAGS,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));

  // 1. Past the mandatory date, the password leads to the set-up page, not into the portal.
  const enrolment = await step('enrol', async (report) => {
    await page.goto(HOME);
    await signInWithPassword();
    await page.waitForURL(atPath('/idp/2fa/instellen'), { timeout: TIMEOUT });
    report.landed = path();
    report.title = (await page.getByRole('heading', { level: 1 }).innerText()).trim();
    check(report.title === 'Twee-factor-authenticatie instellen', `title ${report.title}`);
    report.mandatory_notice = await page.getByText('Twee-factor-authenticatie is verplicht. Stel deze nu in om verder te gaan.').isVisible();
    report.qr_svg = (await page.locator('figure.qr svg').count()) === 1;
    check(report.qr_svg, 'no QR code');
    await noSession(report);

    const shown = (await page.locator('#totp-key').innerText()).trim();
    report.key_groups = shown.split(' ').map((g) => g.length);
    check(/^[A-Z2-7]{4}( [A-Z2-7]{1,4})*$/.test(shown), `key ${JSON.stringify(shown)} is not base32 in groups of 4`);
    const key = base32Decode(shown);
    report.key_bytes = key.length;
    check(key.length === 20, `a ${key.length}-byte key`);

    const now = stepNow();
    report.step = now;
    await page.getByLabel('Vul ter bevestiging de 6-cijferige code in die de app nu laat zien:').fill(totpAt(key, now));
    await page.getByRole('button', { name: 'Bevestigen', exact: true }).click();
    await page.getByRole('heading', { name: 'Uw herstelcodes' }).waitFor({ timeout: TIMEOUT });
    const codes = (await page.locator('#recovery-codes li code').allInnerTexts()).map((c) => c.trim());
    report.recovery_codes = codes.length;
    report.recovery_codes_distinct = new Set(codes).size;
    check(codes.length === 10 && new Set(codes).size === 10, `${codes.length} recovery codes`);
    report.shown_once_notice = await page.getByText('Deze codes worden maar één keer getoond.').isVisible();

    await page.getByRole('link', { name: 'Doorgaan', exact: true }).click();
    await home(report);
    return { key, step: now, recoveryCodes: codes };
  });

  // 2. The next sign-in: password, then the 2FA page and a code from the app.
  const accepted = await step('totp_sign_in', async (report) => {
    await signOut(report);
    await signInWithPassword();
    await page.waitForURL(atPath('/idp/2fa'), { timeout: TIMEOUT });
    report.landed = path();
    report.intro_shown = await page.getByText('Vul hieronder de 6-cijferige code uit de authenticator in:').isVisible();
    check(report.intro_shown, 'the 2FA page does not ask for the code');
    await noSession(report);

    // The code that confirmed the app was used up there (a replay if still in the window).
    report.enrolment_code_step = enrolment.step;
    report.enrolment_code_step_lag = stepNow() - enrolment.step;
    await submitCode(totpAt(enrolment.key, enrolment.step));
    report.enrolment_code_error = await alertText();
    report.after_enrolment_code = path();
    check(path() === '/idp/2fa' && report.enrolment_code_error === WRONG_CODE, `the enrolment's code again: ${report.enrolment_code_error} at ${path()}`);

    // The next step's code: later than any accepted, inside the ±1 window.
    const next = stepNow() + 1;
    report.step = next;
    await submitCode(totpAt(enrolment.key, next));
    await home(report);
    return next;
  });

  // 2b. A code accepted once is refused the next time, with the same Dutch message; a
  // recovery code then signs in.
  await step('totp_replay', async (report) => {
    await signOut(report);
    await signInWithPassword();
    await page.waitForURL(atPath('/idp/2fa'), { timeout: TIMEOUT });
    report.step = accepted;
    report.step_lag = stepNow() - accepted;
    await submitCode(totpAt(enrolment.key, accepted));
    report.after = path();
    report.error = await alertText();
    check(report.after === '/idp/2fa', `the replayed code led to ${report.after}`);
    check(report.error === WRONG_CODE, `error ${JSON.stringify(report.error)}`);
    report.code_field_again = await page.getByRole('textbox', { name: '6-cijferige code' }).isVisible();
  });

  await step('recovery_sign_in', async (report) => {
    check(path() === '/idp/2fa', `not on the 2FA page: ${page.url()}`);
    await page.getByLabel('Herstelcode', { exact: true }).fill(enrolment.recoveryCodes[0]);
    await page.getByRole('button', { name: 'Inloggen met herstelcode', exact: true }).click();
    await home(report);
  });

  // 3. Passkeys, with Chromium's virtual authenticator (a platform authenticator that keeps
  // resident credentials and verifies the user).
  const cdp = await context.newCDPSession(page);
  const authenticatorId = await step('virtual_authenticator', async (report) => {
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    report.id = authenticatorId;
    return authenticatorId;
  });

  await step('passkey_register', async (report) => {
    // Signed in within the last five minutes (the recovery code just now).
    await page.getByRole('link', { name: 'Profiel', exact: true }).click();
    await page.waitForURL(atPath('/idp/account'), { timeout: TIMEOUT });
    report.none_before = await page.getByText('U heeft nog geen passkeys.').isVisible();
    const add = page.getByRole('button', { name: 'Passkey toevoegen', exact: true });
    await add.waitFor({ state: 'visible', timeout: TIMEOUT });
    await page.getByLabel('Naam van de passkey').fill('Testsleutel');
    await add.click();
    const listed = page.getByRole('cell', { name: 'Testsleutel', exact: true });
    const failedBox = page.locator('#passkey-error:visible');
    await listed.or(failedBox).first().waitFor({ timeout: TIMEOUT });
    report.error_shown = (await failedBox.count()) > 0;
    report.at = page.url().replace(base, '');
    report.listed = (await page.locator('table.passkeys tbody td:first-child').allInnerTexts()).map((t) => t.trim());
    check(report.listed.includes('Testsleutel'), `passkeys listed: ${report.listed}`);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    report.credentials = credentials.length;
    report.resident = credentials.every((c) => c.isResidentCredential);
    report.rp_id = credentials[0]?.rpId;
    check(credentials.length === 1 && report.resident, `credentials ${JSON.stringify(credentials.map((c) => c.rpId))}`);
    // Back to the portal, for its "Uitloggen".
    await page.getByRole('link', { name: 'Terug naar het Offerte Portaal' }).click();
    await home(report);
  });

  await step('passkey_sign_in', async (report) => {
    await signOut(report);
    const button = page.getByRole('button', { name: 'Inloggen met passkey', exact: true });
    await button.waitFor({ state: 'visible', timeout: TIMEOUT });
    report.password_field_empty = (await page.getByLabel('Wachtwoord', { exact: true }).inputValue()) === '';
    report.username_field_empty = (await page.getByLabel('Adviseursnummer of e-mailadres').inputValue()) === '';
    await button.click();
    await home(report);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    report.sign_count = credentials[0]?.signCount;
  });

  await step('passkey_second_factor', async (report) => {
    await signOut(report);
    await signInWithPassword();
    await page.waitForURL(atPath('/idp/2fa'), { timeout: TIMEOUT });
    report.landed = path();
    const button = page.getByRole('button', { name: 'Inloggen met passkey', exact: true });
    await button.waitFor({ state: 'visible', timeout: TIMEOUT });
    await button.click();
    await home(report);
  });
}

try {
  await main();
} catch (e) {
  if (!(e instanceof StepFailed)) {
    failed = true;
    results.unexpected = { ok: false, error: `${e?.name}: ${e?.message}`, browser_said: consoleLines.slice(-8) };
  }
} finally {
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

console.log(JSON.stringify({ ok: !failed, steps: results }));
process.exit(failed ? 1 : 0);
