// An advisor's day in the product portals, in a real headless Chromium, found by the
// visible Dutch labels, with a screenshot of every screen:
//
//   1. The sub-office's employee (Tim) signs in at the Offerte Portaal, clicks "Direct
//      Ingaand Pensioen", then "Nieuwe offerte"; fills in the DIZP form without a koopsom
//      and sees the Dutch message under that field with the rest of the input kept; fills
//      in the koopsom and gets the quote page; opens "Offerte als PDF"; "Aanvraag
//      indienen" with the policyholder's details and the declaration; "Aanvraag versturen"
//      brings him back to the quote, which says "De aanvraag is ontvangen op …".
//   2. The head office's main user signs in in a new browser context, opens the "DIL/DIP
//      Dashboard", finds Tim's quote there as "Aangevraagd" and filters on the sub-office;
//      then the same pages at a phone's width (390 px).
//
// Usage:
//   node products.mjs --base URL --chromium PATH --shots DIR --password PW \
//        --advisor LOGIN --main LOGIN --client NAME --birth-date YYYY-MM-DD \
//        --start-date YYYY-MM-DD --partner-birth-date YYYY-MM-DD --purchase-sum 150.000 \
//        --office "Onderbemiddeling Zuid (Z01)"
//
// Prints one JSON line with each step's result and exits non-zero when a step fails.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM_PATH || '/usr/bin/chromium' },
    shots: { type: 'string' },
    password: { type: 'string' },
    advisor: { type: 'string' },
    main: { type: 'string' },
    client: { type: 'string' },
    'birth-date': { type: 'string' },
    'start-date': { type: 'string' },
    'partner-birth-date': { type: 'string' },
    'purchase-sum': { type: 'string' },
    office: { type: 'string' },
  },
});
for (const name of ['base', 'shots', 'password', 'advisor', 'main', 'client', 'birth-date',
  'start-date', 'partner-birth-date', 'purchase-sum', 'office']) {
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
const QUOTE_PATH = /^\/dip\/offertes\/[0-9a-f-]{36}$/;

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
  const file = join(args.shots, `${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
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

/** The card (the page's content, without the menus). */
const card = () => page.locator('main section.card');

/** The product's own menu under the header. */
const productMenu = () => page.getByRole('navigation', { name: 'Direct Ingaand Pensioen' });

/** What in `main` sticks out of the window (outside a scrolling box), as `tag.class`. */
async function overflows() {
  return page.evaluate(() => {
    const scrolls = (e) => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
    const out = [];
    for (const e of document.querySelectorAll('main *')) {
      let p = e.parentElement;
      let clipped = false;
      while (p && p.tagName !== 'MAIN') {
        if (scrolls(p)) clipped = true;
        p = p.parentElement;
      }
      if (!clipped && e.getBoundingClientRect().right > window.innerWidth + 1) {
        out.push(`${e.tagName.toLowerCase()}${e.className ? '.' + String(e.className).replace(/ /g, '.') : ''}`);
      }
    }
    return [...new Set(out)];
  });
}

/** Whether the shared header is wider than the window. */
async function headerOverflows() {
  return page.evaluate(() => document.querySelector('header.site').scrollWidth > window.innerWidth + 1);
}

/** The roles the accessibility tree gives a table: still a table with rows and cells? */
async function tableRoles(selector) {
  const snapshot = await page.locator(selector).first().ariaSnapshot();
  return {
    table: /^- table/m.test(snapshot),
    rowheader: /- rowheader/.test(snapshot),
    columnheader: /- columnheader/.test(snapshot),
    cell: /- cell/.test(snapshot),
  };
}

async function signIn(username) {
  await page.goto(HOME);
  check((await page.locator('input[name=username]').count()) > 0, `not the sign-in page: ${page.url()}`);
  await page.getByLabel('Adviseursnummer of e-mailadres').fill(username);
  await page.getByLabel('Wachtwoord', { exact: true }).fill(args.password);
  await page.getByRole('button', { name: 'Inloggen', exact: true }).click();
  await page.waitForURL((u) => u.href === HOME, { timeout: TIMEOUT });
}

/** The label/value rows of every `table.figures` on the quote page, by section heading. */
async function figures() {
  return page.locator('main table.figures').evaluateAll((tables) =>
    tables.map((t) => {
      let h = t.previousElementSibling;
      while (h && h.tagName !== 'H2') h = h.previousElementSibling;
      return {
        heading: h ? h.innerText.trim() : null,
        rows: Array.from(t.querySelectorAll('tr')).map((r) => [
          r.querySelector('th')?.innerText.trim() ?? '',
          r.querySelector('td')?.innerText.trim() ?? '',
        ]),
      };
    }),
  );
}

/** The dashboard's rows as objects keyed by the column headings. */
async function dashboardRows() {
  return page.locator('main table#dashboard').evaluateAll((tables) => {
    if (!tables.length) return [];
    const t = tables[0];
    const cols = Array.from(t.querySelectorAll('thead th')).map((th) => th.innerText.trim());
    return Array.from(t.querySelectorAll('tbody tr')).map((r) =>
      Object.fromEntries(Array.from(r.querySelectorAll('td')).map((td, i) => [cols[i], td.innerText.trim()])),
    );
  });
}

/** Fills in the DIZP form as an advisor would; the koopsom as given. */
async function fillQuoteForm(purchaseSum) {
  await page.getByRole('radio', { name: 'Direct Ingaand Zeker Pensioen (DIZP)' }).check();
  await page.getByLabel('Naam verzekerde', { exact: true }).fill(args.client);
  await page.getByLabel('Koopsom (pensioenkapitaal)', { exact: true }).fill(purchaseSum);
  // A date field takes yyyy-mm-dd from Playwright, whatever the locale shows (this
  // Chromium, without Dutch system locales, shows mm/dd/jjjj even under nl-NL).
  await page.getByLabel('Geboortedatum verzekerde', { exact: true }).fill(args['birth-date']);
  await page.getByLabel('Ingangsdatum', { exact: true }).fill(args['start-date']);
  await page.getByLabel('Uitkering', { exact: true }).selectOption({ label: 'Per maand' });
  await page.getByLabel('Partnerpensioen', { exact: true }).selectOption({ label: '70 % van het ouderdomspensioen' });
  await page.getByLabel('Geboortedatum partner', { exact: true }).fill(args['partner-birth-date']);
}

async function advisor(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'nl-NL', acceptDownloads: true });
  page = await context.newPage();
  watch(page);
  const quote = {};

  await step('sign_in', async (report) => {
    await signIn(args.advisor);
    report.greeting = await heading();
    report.products = (await page.locator('main .products a strong').allInnerTexts()).map((t) => t.trim());
    await shot('adviseur-home');
  });

  await step('product', async (report) => {
    await page.getByRole('link', { name: /^Direct Ingaand Pensioen/ }).click();
    await page.waitForURL((u) => /^\/dip\/?$/.test(u.pathname), { timeout: TIMEOUT });
    report.title = await heading();
    report.text = (await card().innerText()).trim();
    report.menu = (await productMenu().getByRole('link').allInnerTexts()).map((t) => t.trim());
    await shot('dip-home');
  });

  await step('form_error', async (report) => {
    await card().getByRole('link', { name: 'Nieuwe offerte', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/dip/offertes/nieuw');
    report.title = await heading();
    report.purchase_sum_hint = (await page.locator('#purchase_sum-hint').innerText()).trim();
    report.start_default = await page.getByLabel('Ingangsdatum', { exact: true }).inputValue();
    await shot('formulier');
    await fillQuoteForm('');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/dip/offertes/nieuw'),
      page.getByRole('button', { name: 'Offerte berekenen', exact: true }).click(),
    ]);
    await page.waitForLoadState('load');
    report.status = response.status();
    report.alert = await alertText();
    const koopsom = page.getByLabel('Koopsom (pensioenkapitaal)', { exact: true });
    report.field_class = await page.locator('div.field', { has: koopsom }).getAttribute('class');
    report.field_error = (await page.locator('div.field', { has: koopsom }).locator('p.error').innerText()).trim();
    report.aria_invalid = await koopsom.getAttribute('aria-invalid');
    report.described_by = await koopsom.getAttribute('aria-describedby');
    report.errors = (await page.locator('main .field p.error').allInnerTexts()).map((t) => t.trim());
    report.kept = {
      kind: await page.getByRole('radio', { name: 'Direct Ingaand Zeker Pensioen (DIZP)' }).isChecked(),
      client: await page.getByLabel('Naam verzekerde', { exact: true }).inputValue(),
      birth_date: await page.getByLabel('Geboortedatum verzekerde', { exact: true }).inputValue(),
      start_date: await page.getByLabel('Ingangsdatum', { exact: true }).inputValue(),
      frequency: await page.getByLabel('Uitkering', { exact: true }).inputValue(),
      partner_percent: await page.getByLabel('Partnerpensioen', { exact: true }).inputValue(),
      partner_birth_date: await page.getByLabel('Geboortedatum partner', { exact: true }).inputValue(),
    };
    // The error is where the eye is: right under the koopsom field, and in the window.
    const field = await koopsom.boundingBox();
    const error = await page.locator('div.field', { has: koopsom }).locator('p.error').boundingBox();
    report.error_below_field = Boolean(field && error && error.y >= field.y + field.height - 1);
    await shot('formulier-fout');
    check(report.status === 422, `status ${report.status}`);
  });

  await step('quote', async (report) => {
    await page.getByLabel('Koopsom (pensioenkapitaal)', { exact: true }).fill(args['purchase-sum']);
    await page.getByRole('button', { name: 'Offerte berekenen', exact: true }).click();
    await page.waitForURL((u) => QUOTE_PATH.test(u.pathname), { timeout: TIMEOUT });
    quote.url = page.url();
    report.path = path();
    report.title = await heading();
    report.number = (await page.locator('#quote-number').innerText()).trim();
    quote.number = report.number;
    report.text = (await card().innerText()).trim();
    report.figures = await figures();
    report.notes = (await page.locator('main ul.notes li').allInnerTexts()).map((t) => t.trim());
    report.buttons = (await card().locator('.links a.button').allInnerTexts()).map((t) => t.trim());
    report.overflows = await overflows();
    await shot('offerte');
  });

  await step('pdf', async (report) => {
    // Content-Disposition inline: Chromium opens the PDF in its viewer, in the same tab.
    const link = card().getByRole('link', { name: 'Offerte als PDF', exact: true });
    report.href = await link.getAttribute('href');
    const [response, download] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === report.href),
      page.waitForEvent('download', { timeout: 5_000 }).catch(() => null),
      link.click(),
    ]);
    report.status = response.status();
    report.content_type = response.headers()['content-type'];
    report.disposition = response.headers()['content-disposition'];
    let bytes;
    if (download) {
      // A Chromium without a viewer hands it over as a download instead.
      report.opened_as = 'download';
      report.filename = download.suggestedFilename();
      report.file = join(args.shots, report.filename);
      await download.saveAs(report.file);
      bytes = readFileSync(report.file);
    } else {
      report.opened_as = 'viewer';
      await page.waitForURL((u) => u.pathname === report.href);
      await page.waitForTimeout(1500);
      await shot('offerte-pdf');
      // The viewer keeps the document to itself: the same request, with the browser's own
      // cookies, gives the bytes.
      const again = await page.context().request.get(`${base}${report.href}`);
      report.again_content_type = again.headers()['content-type'];
      bytes = await again.body();
      report.file = join(args.shots, `offerte-${quote.number}.pdf`);
      writeFileSync(report.file, bytes);
    }
    report.bytes = bytes.length;
    report.magic = bytes.subarray(0, 5).toString('latin1');
    if (page.url() !== quote.url) {
      await page.goBack();
      await page.waitForURL((u) => u.href === quote.url);
    }
    report.back_on_quote = page.url() === quote.url;
  });

  await step('application', async (report) => {
    await card().getByRole('link', { name: 'Aanvraag indienen', exact: true }).click();
    await page.waitForURL((u) => u.pathname.endsWith('/aanvraag'));
    report.title = await heading();
    report.intro = (await card().locator('p').first().innerText()).trim();
    report.prefilled_name = await page.getByLabel('Naam verzekeringnemer', { exact: true }).inputValue();
    await page.getByLabel('Adres', { exact: true }).fill('Kerkstraat 1');
    await page.getByLabel('Postcode', { exact: true }).fill('3511 AB');
    await page.getByLabel('Woonplaats', { exact: true }).fill('Utrecht');
    await page.getByLabel('IBAN', { exact: true }).fill('NL91ABNA0417164300');
    const declaration = page.getByRole('checkbox', { name: /heeft de gegevens gecontroleerd/ });
    await declaration.check();
    report.declaration_checked = await declaration.isChecked();
    report.overflows = await overflows();
    await shot('aanvraag');
    await page.getByRole('button', { name: 'Aanvraag versturen', exact: true }).click();
    await page.waitForURL((u) => u.href === quote.url, { timeout: TIMEOUT });
    report.alert = await alertText();
    report.notice = await notice();
    report.can_apply_again = (await card().getByRole('link', { name: 'Aanvraag indienen' }).count()) > 0;
    await shot('aanvraag-ontvangen');
    check(report.notice && report.notice.startsWith('De aanvraag is ontvangen op'), `notice ${report.notice}`);
  });

  await context.close();
  return quote;
}

async function headOffice(browser, quote) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'nl-NL' });
  page = await context.newPage();
  watch(page);

  await step('main_sign_in', async (report) => {
    await signIn(args.main);
    report.greeting = await heading();
    report.products = (await page.locator('main .products a strong').allInnerTexts()).map((t) => t.trim());
  });

  await step('dashboard', async (report) => {
    await page.getByRole('link', { name: /^Direct Ingaand Pensioen/ }).click();
    await page.waitForURL((u) => /^\/dip\/?$/.test(u.pathname), { timeout: TIMEOUT });
    await productMenu().getByRole('link', { name: 'DIL/DIP Dashboard', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/dip/dashboard');
    report.title = await heading();
    report.columns = (await page.locator('main table#dashboard thead th').allInnerTexts()).map((t) => t.trim());
    report.offices = (await page.getByLabel('Kantoor', { exact: true }).locator('option').allInnerTexts()).map((t) => t.trim());
    const rows = await dashboardRows();
    report.rows = rows.length;
    report.row = rows.find((r) => r.Offertenummer === quote.number) ?? null;
    report.overflows = await overflows();
    report.roles = await tableRoles('main table#dashboard');
    await shot('dashboard');
  });

  await step('filter', async (report) => {
    await page.getByLabel('Kantoor', { exact: true }).selectOption({ label: args.office });
    await page.getByRole('button', { name: 'Filteren', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/dip/dashboard' && u.searchParams.get('kantoor'));
    report.selected = (await page.getByLabel('Kantoor', { exact: true }).locator('option:checked').innerText()).trim();
    const rows = await dashboardRows();
    report.rows = rows.length;
    report.row_offices = [...new Set(rows.map((r) => r.Kantoor))];
    report.row = rows.find((r) => r.Offertenummer === quote.number) ?? null;
    report.pager = (await page.locator('main .pager').innerText()).trim();
    await shot('dashboard-z01');
    // Keyboard: the office filter is reachable and shows where the focus is.
    await page.getByLabel('Kantoor', { exact: true }).focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Shift+Tab');
    report.focus_outline = await page.evaluate(() => {
      const s = getComputedStyle(document.activeElement);
      return `${s.outlineStyle} ${s.outlineWidth}`;
    });
  });

  await step('tablet', async (report) => {
    await page.setViewportSize({ width: 800, height: 900 });
    report.dashboard_overflows = await overflows();
    await shot('dashboard-800');
  });

  await step('phone', async (report) => {
    // The same pages at a phone's width: nothing wider than the screen but the table.
    await page.setViewportSize({ width: 390, height: 844 });
    report.dashboard_overflows = await overflows();
    report.header_overflows = await headerOverflows();
    report.dashboard_roles = await tableRoles('main table#dashboard');
    report.dashboard_scrolls = await page.locator('main table#dashboard').evaluate((t) => {
      let e = t;
      while (e && e.tagName !== 'MAIN') {
        if (['auto', 'scroll'].includes(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth) return true;
        e = e.parentElement;
      }
      return false;
    });
    await shot('dashboard-390');
    await page.goto(quote.url);
    report.quote_overflows = await overflows();
    report.figures_roles = await tableRoles('main table.figures');
    await shot('offerte-390');
    await page.goto(`${base}/dip/offertes/nieuw`);
    report.form_overflows = await overflows();
    await shot('formulier-390');
  });

  await context.close();
}

function watch(p) {
  p.setDefaultTimeout(TIMEOUT);
  p.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  p.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
}

let browser;

try {
  mkdirSync(args.shots, { recursive: true });
  browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: CHROMIUM_FLAGS });
  const quote = await advisor(browser);
  await headOffice(browser, quote);
} catch (e) {
  if (!(e instanceof StepFailed)) {
    failed = true;
    results.unexpected = { ok: false, error: `${e?.name}: ${e?.message}`, browser_said: consoleLines.slice(-8) };
  }
} finally {
  await browser?.close().catch(() => {});
}

console.log(JSON.stringify({ ok: !failed, steps: results, screenshots: shots }));
process.exit(failed ? 1 : 0);
