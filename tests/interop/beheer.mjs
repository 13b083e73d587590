// The manual's own steps for a main user ("Beheerhandleiding Gebruikers Allianz Offerte
// Portaal"), in a real headless Chromium, found by their visible Dutch labels, with a
// screenshot of every screen:
//
//   --phase beheer: sign in, Gebruikers → "Nieuwe gebruiker" (Naam, E-mailadres, Rechten)
//                   → Opslaan; then Subkantoren → "nieuw subkantoor" → "Nieuw subkantoor
//                   aanmaken" with every field and "Zend e-mail met activatielink naar
//                   subkantoor." → Opslaan; sign out.
//   --phase subkantoor: the sub-office's activation link → set the password → sign in with
//                   the office e-mail → the home page → Gebruikers of its own office.
//
// Usage:
//   node beheer.mjs --phase beheer --base URL --username LOGIN --password PW --shots DIR \
//        --user-name NAME --user-email EMAIL --sub-name NAME --sub-email EMAIL --sub-number N
//   node beheer.mjs --phase subkantoor --base URL --link URL --username EMAIL \
//        --password NEWPW --shots DIR --sub-name NAME
//
// Prints one JSON line with each step's result and exits non-zero when a step fails.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    phase: { type: 'string' },
    base: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    shots: { type: 'string' },
    link: { type: 'string' },
    'user-name': { type: 'string' },
    'user-email': { type: 'string' },
    'sub-name': { type: 'string' },
    'sub-email': { type: 'string' },
    'sub-number': { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
  },
});
for (const name of ['phase', 'base', 'username', 'password', 'shots']) {
  if (!args[name]) {
    console.error(`missing --${name}`);
    process.exit(2);
  }
}

const base = args.base.replace(/\/$/, '');
const HOME = `${base}/`;
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

const results = {};
const shots = [];
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
    await shot(`${name}-fout`).catch(() => {});
    const where = page ? page.url() : '?';
    const text = page ? (await page.locator('main').innerText().catch(() => '')).slice(0, 800) : '';
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

/** A full-page screenshot named after the screen, numbered in order. */
async function shot(name) {
  const file = join(args.shots, `${args.phase}-${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(file);
}

const path = () => new URL(page.url()).pathname;

async function heading() {
  return (await page.getByRole('heading', { level: 1 }).first().innerText()).trim();
}

async function notice() {
  const n = page.locator('[role=status]:visible');
  return (await n.count()) ? (await n.first().innerText()).trim() : null;
}

async function alertText() {
  const alerts = page.locator('[role=alert]:visible');
  return (await alerts.count()) ? (await alerts.first().innerText()).trim() : null;
}

async function signIn(username, password) {
  check((await page.locator('input[name=username]').count()) > 0, `not the sign-in page: ${page.url()}`);
  await page.getByLabel('Adviseursnummer of e-mailadres').fill(username);
  await page.getByLabel('Wachtwoord', { exact: true }).fill(password);
  await shot('inloggen');
  await page.getByRole('button', { name: 'Inloggen', exact: true }).click();
  await page.waitForURL((u) => u.href === HOME, { timeout: TIMEOUT });
}

/** The menu item `name` in the portal's bar. */
function menu(name) {
  return page.getByRole('navigation').getByRole('link', { name, exact: true });
}

/** The rows of the first table on the page, as arrays of cell texts. */
async function tableRows() {
  return page.locator('main table tbody tr').evaluateAll((rows) =>
    rows.map((r) => Array.from(r.querySelectorAll('td')).map((td) => td.innerText.trim())),
  );
}

async function beheer() {
  await step('sign_in', async (report) => {
    await page.goto(HOME);
    await signIn(args.username, args.password);
    report.greeting = await heading();
    report.menu = (await page.getByRole('navigation').getByRole('link').allInnerTexts()).map((t) => t.trim());
    await shot('home');
    check(report.menu.includes('Gebruikers'), `no Gebruikers in the menu: ${report.menu}`);
  });

  await step('nieuwe_gebruiker', async (report) => {
    await menu('Gebruikers').click();
    await page.waitForURL((u) => u.pathname === '/gebruikers');
    report.columns = (await page.locator('main table thead th').allInnerTexts()).map((t) => t.trim());
    await shot('gebruikers');
    await page.getByRole('link', { name: 'Nieuwe gebruiker', exact: true }).click();
    report.title = await heading();
    check(report.title === 'Nieuwe gebruiker', `title ${report.title}`);
    await page.getByLabel('Naam', { exact: true }).fill(args['user-name']);
    await page.getByLabel('E-mailadres', { exact: true }).fill(args['user-email']);
    report.email_hint = await page.getByText('Uniek e-mailadres, deze wordt gebruikt om in te loggen').isVisible();
    await page.getByRole('checkbox', { name: 'DIP' }).check();
    await shot('nieuwe-gebruiker');
    await page.getByRole('button', { name: 'Opslaan', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/gebruikers');
    report.notice = await notice();
    const rows = await tableRows();
    report.listed = rows.some((r) => r[0].startsWith(args['user-name']) && r[1] === args['user-email']);
    await shot('gebruiker-aangemaakt');
    check(report.listed, `${args['user-name']} is not in the list`);
  });

  await step('nieuw_subkantoor', async (report) => {
    await menu('Subkantoren').click();
    await page.waitForURL((u) => u.pathname === '/subkantoren');
    report.list_title = await heading();
    await shot('subkantoren');
    await page.getByRole('link', { name: 'nieuw subkantoor', exact: true }).or(page.getByRole('button', { name: 'nieuw subkantoor', exact: true })).first().click();
    report.title = await heading();
    check(report.title === 'Nieuw subkantoor aanmaken', `title ${report.title}`);
    // Hoofdkantoor: a choice when the user manages several head offices, else its one.
    const head = page.locator('select#head_office');
    report.head_offices = (await head.count())
      ? (await head.locator('option').allInnerTexts()).map((t) => t.trim())
      : [(await page.locator('main p.field').first().innerText()).trim()];
    await page.getByLabel('Naam', { exact: true }).fill(args['sub-name']);
    await page.getByLabel('Adres', { exact: true }).fill('Oude Markt 12');
    await page.getByLabel('Postcode', { exact: true }).fill('7511 GB');
    await page.getByLabel('Plaats', { exact: true }).fill('Enschede');
    await page.getByLabel('Telefoon', { exact: true }).fill('053 123 45 67');
    await page.getByLabel('E-mailadres', { exact: true }).fill(args['sub-email']);
    await page.getByLabel('Nummer', { exact: true }).fill(args['sub-number']);
    report.email_hint = await page.getByText('Uniek kantoor e-mailadres. Naar dit e-mailadres worden de offertes verzonden.').isVisible();
    report.number_hint = await page.getByText('Uniek kantoornummer.', { exact: false }).first().isVisible();
    report.rights = (await page.getByRole('checkbox').evaluateAll((boxes) =>
      boxes.map((b) => (b.labels && b.labels[0] ? b.labels[0].innerText.trim() : b.name)),
    ));
    await page.getByRole('checkbox', { name: 'Pensioenrechten (Zeker pensioen / Keuze pensioen)' }).check();
    await page.getByRole('checkbox', { name: 'Zend e-mail met activatielink naar subkantoor.' }).check();
    await shot('nieuw-subkantoor');
    await page.getByRole('button', { name: 'Opslaan', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/subkantoren', { timeout: TIMEOUT });
    report.notice = await notice();
    report.error = await alertText();
    const rows = await tableRows();
    report.listed = rows.some((r) => r.some((c) => c.startsWith(args['sub-name'])));
    await shot('subkantoor-aangemaakt');
    check(report.listed, `${args['sub-name']} is not in the list`);
  });

  await step('sign_out', async (report) => {
    await page.getByRole('button', { name: 'Uitloggen', exact: true }).click();
    const confirm = page.getByRole('button', { name: 'Ja, uitloggen' });
    await page.locator('input[name=username]').or(confirm).first().waitFor({ timeout: TIMEOUT });
    if (await confirm.count()) {
      await confirm.click();
      await page.locator('input[name=username]').waitFor({ timeout: TIMEOUT });
    }
    report.signed_out = true;
  });
}

async function subkantoor() {
  await step('activate', async (report) => {
    check(args.link, 'missing --link');
    await page.goto(args.link);
    report.title = await heading();
    await shot('activeren');
    await page.getByLabel('Nieuw wachtwoord', { exact: true }).or(page.locator('#password')).first().fill(args.password);
    await page.locator('#password_repeat').fill(args.password);
    await page.locator('main form button[type=submit]').click();
    await page.waitForLoadState('load');
    report.done = await heading();
    report.error = await alertText();
    await shot('geactiveerd');
    check(!report.error, `activation refused: ${report.error}`);
  });

  await step('sign_in', async (report) => {
    await page.goto(HOME);
    await signIn(args.username, args.password);
    report.greeting = await heading();
    report.menu = (await page.getByRole('navigation').getByRole('link').allInnerTexts()).map((t) => t.trim());
    await shot('home');
  });

  await step('gebruikers', async (report) => {
    await menu('Gebruikers').click();
    await page.waitForURL((u) => u.pathname === '/gebruikers');
    const rows = await tableRows();
    report.users = rows.map((r) => r[1]);
    await shot('gebruikers');
  });
}

const profile = mkdtempSync(join(tmpdir(), 'beheer-chromium-'));
let context;

async function main() {
  mkdirSync(args.shots, { recursive: true });
  context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  if (args.phase === 'beheer') {
    await beheer();
  } else if (args.phase === 'subkantoor') {
    await subkantoor();
  } else {
    throw new Error(`unknown --phase ${args.phase}`);
  }
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

console.log(JSON.stringify({ ok: !failed, steps: results, screenshots: shots }));
process.exit(failed ? 1 : 0);
