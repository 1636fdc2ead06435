// The dashboard in a real browser (Debian's Chromium, driven by playwright-core): as a
// partner and as an admin, it checks that the page signs in, draws every chart, shows the
// API's own figures (formatted by Intl as the page must), hides other partners, and
// measures navigation start to the last chart drawn. tests/e2e/dashboard.rs seeds a
// service, computes the expected figures from its API and runs this script.
//
// Environment:
//   ACCRUE_BASE_URL       the service, e.g. http://127.0.0.1:8080
//   ACCRUE_ADMIN_KEY      an admin key
//   ACCRUE_PARTNER_KEY    a partner key (the partner in the expected figures)
//   ACCRUE_AUTHOR_KEY     a plug-in author key (optional: checks "no dashboard")
//   ACCRUE_OTHER_PARTNER  another partner's id, which the partner must never see
//   ACCRUE_EXPECTED       a JSON file of the API's answers (see tests/e2e/dashboard.rs)
//   ACCRUE_SCREENSHOTS    a directory for partner.png and admin.png
//   ACCRUE_CHROMIUM       the browser (default /usr/bin/chromium)
//
// Prints one line per check that failed, and last a JSON line
// {"partner_ms":..,"admin_ms":..}. Exits 0 only if every check passed.

import { chromium } from 'playwright-core';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) {
    console.error(`dashboard.mjs: ${name} is not set`);
    process.exit(2);
  }
  return v;
};

const BASE = env('ACCRUE_BASE_URL').replace(/\/$/, '');
const ADMIN_KEY = env('ACCRUE_ADMIN_KEY');
const PARTNER_KEY = env('ACCRUE_PARTNER_KEY');
const AUTHOR_KEY = process.env.ACCRUE_AUTHOR_KEY || '';
const OTHER = env('ACCRUE_OTHER_PARTNER');
const EXPECTED = JSON.parse(readFileSync(env('ACCRUE_EXPECTED'), 'utf8'));
const SHOTS = env('ACCRUE_SCREENSHOTS');
const CHROMIUM = env('ACCRUE_CHROMIUM', '/usr/bin/chromium');
const TIMEOUT_MS = 30_000;

const failures = [];
let passed = 0;

function check(ok, what, detail) {
  if (ok) {
    passed += 1;
  } else {
    failures.push(detail === undefined ? what : `${what}: ${detail}`);
    console.log(`FAIL ${what}${detail === undefined ? '' : `: ${detail}`}`);
  }
  return ok;
}

/** JSON with every object's keys sorted: the API's key order is not the page's. */
function canonical(v) {
  return JSON.stringify(v, (_, x) => (x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]]))
    : x));
}

function same(actual, expected, what) {
  const a = canonical(actual), e = canonical(expected);
  return check(a === e, what, a === e ? undefined : `shown ${a}, API ${e}`);
}

/** Run a phase; a throw (a wait that timed out) fails it and the script goes on. */
async function phase(name, fn) {
  try {
    await fn();
  } catch (e) {
    check(false, name, (e && e.message ? e.message : String(e)).split('\n')[0]);
  }
}

// ---------------------------------------------------------------- page helpers

/** The page's own formatting, for the expected side: Intl in the same browser. */
function formatIn(page, kind, value, currency) {
  return page.evaluate(([k, v, c]) => {
    if (k === 'money') return new Intl.NumberFormat(undefined, { style: 'currency', currency: c }).format(String(v));
    return new Intl.NumberFormat(undefined).format(v);
  }, [kind, value, currency]);
}

const testid = (page, id) => page.locator(`[data-testid="${id}"]`);

/** An element's text (null when absent: the page is drawn when this is asked). */
async function textOf(page, id) {
  return page.evaluate((tid) => {
    const el = document.querySelector(`[data-testid="${tid}"]`);
    return el ? el.textContent.trim() : null;
  }, id);
}

/** An element's `data-value`: the API's figure as the page received it. */
async function valueOf(page, id) {
  return page.evaluate((tid) => {
    const el = document.querySelector(`[data-testid="${tid}"]`);
    return el ? el.getAttribute('data-value') : null;
  }, id);
}

/** Wait until the page says its view is drawn. */
async function waitReady(page, view) {
  await page.waitForSelector(`body[data-view="${view}"][data-ready="true"]`, { timeout: TIMEOUT_MS, state: 'attached' });
}

/** A chart's SVG marks: paths with a `d`, and rects with a width. */
async function marks(page, id) {
  return page.evaluate((tid) => {
    const host = document.querySelector(`[data-testid="${tid}"]`);
    const svg = host && host.querySelector('svg');
    if (!svg) return { svg: false, paths: 0, rects: 0, band: 0, role: null, label: null };
    return {
      svg: true,
      paths: [...svg.querySelectorAll('path')].filter((p) => (p.getAttribute('d') || '').length > 2).length,
      rects: [...svg.querySelectorAll('rect')].filter((r) => Number(r.getAttribute('width')) > 0 && !r.classList.contains('hover-target')).length,
      band: [...svg.querySelectorAll('path.band')].filter((p) => (p.getAttribute('d') || '').length > 2).length,
      role: svg.getAttribute('role'),
      label: svg.getAttribute('aria-label'),
    };
  }, id);
}

async function checkChart(page, id, { paths = 0, rects = 0 } = {}) {
  const m = await marks(page, id);
  check(m.svg, `${id} is drawn as SVG`);
  if (!m.svg) return m;
  check(m.paths >= paths, `${id} has at least ${paths} paths`, `found ${m.paths}`);
  check(m.rects >= rects, `${id} has at least ${rects} bars`, `found ${m.rects}`);
  check(m.role === 'img' && (m.label || '').length > 10, `${id} has role=img and an aria-label`, `role ${m.role}, label ${m.label}`);
  return m;
}

/** The rows of a table: each cell's text and raw value. */
async function rows(page, id) {
  return page.evaluate((tid) => {
    const t = document.querySelector(`[data-testid="${tid}"]`);
    if (!t || t.tagName !== 'TABLE') return null;
    return [...t.tBodies[0].rows].map((r) => [...r.cells].map((c) => ({ text: c.textContent.trim(), value: c.dataset.value ?? null })));
  }, id);
}

/** A page that records script errors and CSP violations. */
async function openPage(context, problems) {
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|404|409)/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return page;
}

async function signIn(page, key, view) {
  await page.fill('[data-testid="api-key"]', key);
  await page.click('[data-testid="sign-in"]');
  await waitReady(page, view);
}

/** The default range: the last 30 days ending today, in the browser's zone. */
async function defaultRange(page) {
  return page.evaluate(() => {
    const p = (n) => String(n).padStart(2, '0');
    const iso = (d) => `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
    const now = new Date();
    return { from: iso(new Date(now.getFullYear(), now.getMonth(), now.getDate() - 29)), to: iso(now) };
  });
}

/** Check the default range, and set the expected one if a day passed since the seed. */
async function useExpectedRange(page, view) {
  const want = await defaultRange(page);
  same({ from: await page.inputValue('#from'), to: await page.inputValue('#to') }, want, `${view}: the default range is the last 30 days`);
  same(await textOf(page, 'time-zone'), EXPECTED.time_zone, `${view}: the time zone shown is the browser's`);
  if (want.from !== EXPECTED.from || want.to !== EXPECTED.to) {
    await page.fill('#from', EXPECTED.from);
    await page.dispatchEvent('#from', 'change');
    await page.fill('#to', EXPECTED.to);
    await page.dispatchEvent('#to', 'change');
    await page.waitForFunction(() => document.body.dataset.ready === 'false', null, { timeout: 5000 }).catch(() => {});
    await waitReady(page, view);
  }
}

async function checkMoney(page, id, raw, currency, what) {
  same(await valueOf(page, id), raw, `${what} (value)`);
  same(await textOf(page, id), await formatIn(page, 'money', raw, currency), `${what} (text)`);
}

async function checkCount(page, id, n, what) {
  same(await valueOf(page, id), String(n), `${what} (value)`);
  same(await textOf(page, id), await formatIn(page, 'count', n), `${what} (text)`);
}

// ---------------------------------------------------------------- the partner

async function partner(browser) {
  const E = EXPECTED.partner;
  const problems = [];
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 }, locale: 'en-US', timezoneId: EXPECTED.time_zone,
  });
  const page = await openPage(context, problems);
  let ms = null;

  await phase('sign-in page', async () => {
    const res = await page.goto(`${BASE}/dashboard`, { waitUntil: 'load' });
    check(res && res.status() === 200, 'GET /dashboard answers 200', res && res.status());
    const csp = res ? res.headers()['content-security-policy'] || '' : '';
    check(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), 'the page has a strict CSP', csp);
    await waitReady(page, 'signin');
    check(await page.isVisible('#signin-form'), 'the sign-in form is shown');
    check(await page.isVisible('label[for="api-key"]'), 'the key field has a label');
  });

  await phase('a bad key', async () => {
    await page.fill('[data-testid="api-key"]', 'acc_not_a_real_key');
    await page.click('[data-testid="sign-in"]');
    await page.waitForSelector('[data-testid="signin-error"]:not([hidden])', { timeout: TIMEOUT_MS });
    same(await textOf(page, 'signin-error'), EXPECTED.unauthorized_detail, 'a bad key shows the 401 problem\'s detail');
  });

  if (AUTHOR_KEY) {
    await phase('a plug-in author key', async () => {
      await signIn(page, AUTHOR_KEY, 'plugin_author');
      check(await page.isVisible('[data-testid="no-dashboard"]'), 'a plug-in author key gets "no dashboard for this key"');
      await page.click('[data-testid="sign-out"]');
      await waitReady(page, 'signin');
    });
  }

  await phase('partner sign-in', async () => {
    await signIn(page, PARTNER_KEY, 'partner');
    check(await page.evaluate(() => sessionStorage.getItem('accrue.apiKey')) !== null, 'the key is kept in sessionStorage');
    same(await textOf(page, 'who'), `Partner ${E.partner_id} · program ${E.program_id}`, 'the header names the partner');
    await useExpectedRange(page, 'partner');
  });

  await phase('partner charts', async () => {
    await checkChart(page, 'revenue-chart', { paths: 2 });
    await checkChart(page, 'funnel-chart', { rects: 3 });
    await checkChart(page, 'ttc-chart', { rects: 1 });
    await checkChart(page, 'customers-chart', { rects: 1 });
    const lines = await page.evaluate(() => [...document.querySelectorAll('[data-testid="revenue-chart"] path.line')].map((p) => (p.getAttribute('d').match(/[ML]/g) || []).length));
    same(lines, [E.revenue.series.length, E.revenue.series.length], 'the revenue chart has one point per bucket, for net revenue and earnings');
  });

  await phase('partner figures', async () => {
    const c = E.revenue.program_currency;
    const t = E.revenue.program_currency_totals;
    await checkMoney(page, 'revenue-total', t.net_revenue, c, 'net revenue total');
    await checkMoney(page, 'earnings-total', t.earnings, c, 'earnings total');
    await checkMoney(page, 'refunded-total', t.refunded, c, 'refunded total');
    await checkCount(page, 'conversions-total', t.conversions, 'conversions');
    const f = E.conversions.totals;
    await checkCount(page, 'funnel-clicks', f.clicks, 'funnel clicks');
    await checkCount(page, 'funnel-leads', f.leads, 'funnel leads');
    await checkCount(page, 'funnel-sales', f.sales, 'funnel sales');
    same(await valueOf(page, 'funnel-click-to-sale'), f.click_to_sale ?? '', 'click-to-sale rate');
    await checkCount(page, 'customers-new', E.customers.new, 'new customers');
    await checkCount(page, 'customers-returning', E.customers.returning, 'returning customers');
    await checkMoney(page, 'clv-historical', E.customers.clv.historical, E.customers.clv.currency, 'historical CLV');
    same(await textOf(page, "clv-method"), E.customers.clv.method, 'the CLV method text');
    const cohorts = await rows(page, 'cohort-table');
    check(Array.isArray(cohorts), 'the cohort table is drawn');
    if (cohorts) {
      same(cohorts.map((r) => r[1].value), E.customers.cohorts.map((x) => String(x.size)), 'cohort sizes');
      same(cohorts.map((r) => r.slice(2).map((x) => x.value).filter((v) => v !== null)), E.customers.cohorts.map((x) => x.retention), 'cohort retention');
    }
    same(await valueOf(page, 'roi-value'), E.roi.total.roi ?? '', 'ROI');
    await checkMoney(page, 'roi-cost', E.roi.total.cost, c, 'ROI cost');
    const b = E.balance.balances;
    const shown = await page.evaluate(() => [...document.querySelectorAll('[data-testid="balance"] .balance')].map((el) => ({
      currency: el.dataset.currency,
      fields: Object.fromEntries([...el.querySelectorAll('dd[data-field]')].map((dd) => [dd.dataset.field, dd.dataset.value])),
      texts: Object.fromEntries([...el.querySelectorAll('dd[data-field]')].map((dd) => [dd.dataset.field, dd.textContent.trim()])),
    })));
    same(shown.map((x) => x.currency), b.map((x) => x.currency), 'balance currencies');
    for (const [i, x] of b.entries()) {
      const s = shown[i] || { fields: {}, texts: {} };
      for (const k of ['pending', 'approved', 'payable', 'in_payout', 'frozen', 'paid', 'withheld', 'fees', 'total']) {
        same(s.fields[k], x[k], `balance ${x.currency} ${k}`);
        same(s.texts[k], await formatIn(page, 'money', x[k], x.currency), `balance ${x.currency} ${k} (text)`);
      }
    }
    if (E.payouts.items.length) {
      const p = await rows(page, 'payouts-table');
      same(p ? p.length : null, E.payouts.items.length, 'payout rows');
    } else {
      const text = await textOf(page, 'payouts-table');
      check(/no payouts/i.test(text), 'payouts show an empty state', text);
    }
    const figures = await page.evaluate(() => window.__accrue && window.__accrue.figures);
    same(figures && figures.revenue && figures.revenue.net_revenue, t.net_revenue, 'window.__accrue carries the revenue total');
    same(figures && figures.funnel, f, 'window.__accrue carries the funnel');
    same(figures && figures.balance, b, 'window.__accrue carries the balance');
    const errors = await page.$$eval('.panel-error:not([hidden])', (els) => els.map((e) => e.textContent));
    same(errors, [], 'no panel shows an error');
  });

  await phase('partner isolation', async () => {
    const html = await page.content();
    const figures = await page.evaluate(() => JSON.stringify(window.__accrue));
    check(!html.includes(OTHER) && !figures.includes(OTHER), `the other partner ${OTHER} appears nowhere in the page`);
    const probe = await page.evaluate(async ([other, program]) => {
      const headers = { Authorization: `Bearer ${sessionStorage.getItem('accrue.apiKey')}` };
      const a = await fetch(`/v1/partners/${encodeURIComponent(other)}/balance`, { headers });
      const b = await fetch(`/affiliate/analytics/revenue?program_id=${encodeURIComponent(program)}&partner_id=${encodeURIComponent(other)}`, { headers });
      return [a.status, b.status];
    }, [OTHER, E.program_id]);
    same(probe, [404, 404], "the partner's key reads neither the other partner's balance nor its revenue");
  });

  await phase('partner load time', async () => {
    await page.reload({ waitUntil: 'load' });
    await waitReady(page, 'partner');
    await useExpectedRange(page, 'partner (reloaded)');
    ms = await page.evaluate(() => window.__accrue.drawnAt);
    check(Number.isFinite(ms) && ms > 0, 'drawnAt is measured', ms);
    await page.screenshot({ path: join(SHOTS, 'partner.png'), fullPage: true });
  });

  await phase('partner range presets', async () => {
    await page.click('#presets button[data-preset="7d"]');
    await page.waitForFunction(() => window.__accrue && window.__accrue.figures.revenue && window.__accrue.figures.revenue.points === 7
      && document.body.dataset.ready === 'true', null, { timeout: TIMEOUT_MS });
    same(await page.getAttribute('#presets button[data-preset="7d"]', 'aria-pressed'), 'true', 'the 7 d preset is pressed');
    await page.focus('#presets button[data-preset="30d"]');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => window.__accrue.figures.revenue.points === 30 && document.body.dataset.ready === 'true', null, { timeout: TIMEOUT_MS });
    check(true, 'presets work from the keyboard');
  });

  await phase('partner sign-out', async () => {
    await page.click('[data-testid="sign-out"]');
    await waitReady(page, 'signin');
    check(await page.evaluate(() => sessionStorage.getItem('accrue.apiKey')) === null, 'sign out forgets the key');
    check(await page.isVisible('#signin-form'), 'sign out shows the sign-in form');
  });

  same(problems, [], 'partner: no script error and no CSP violation');
  await context.close();
  return ms;
}

// ---------------------------------------------------------------- the admin

async function admin(browser) {
  const E = EXPECTED.admin;
  const problems = [];
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 }, locale: 'en-US', timezoneId: EXPECTED.time_zone,
  });
  const page = await openPage(context, problems);
  let ms = null;

  await phase('admin sign-in', async () => {
    await page.goto(`${BASE}/dashboard`, { waitUntil: 'load' });
    await waitReady(page, 'signin');
    await signIn(page, ADMIN_KEY, 'admin');
    if ((await page.inputValue('[data-testid="program-select"]')) !== E.program_id) {
      await page.selectOption('[data-testid="program-select"]', E.program_id);
      await page.waitForFunction(() => document.body.dataset.ready === 'false', null, { timeout: 5000 }).catch(() => {});
      await waitReady(page, 'admin');
    }
    same(await page.inputValue('[data-testid="program-select"]'), E.program_id, 'the program picker shows the program');
    const options = await page.$$eval('[data-testid="program-select"] option', (o) => o.map((x) => x.value));
    same(options, E.programs.items.map((p) => p.id), 'the program picker lists every program');
    await useExpectedRange(page, 'admin');
  });

  await phase('admin figures', async () => {
    await checkChart(page, 'revenue-chart', { paths: 2 });
    const c = E.revenue.program_currency;
    await checkMoney(page, 'revenue-total', E.revenue.program_currency_totals.net_revenue, c, 'program net revenue');
    await checkMoney(page, 'earnings-total', E.revenue.program_currency_totals.earnings, c, 'program earnings');

    const r = await rows(page, 'ranking-table');
    check(Array.isArray(r), 'the ranking table is drawn');
    if (r) {
      same(r.map((x) => [x[0].text, x[1].text, x[2].value, x[3].value, x[4].value, x[5].value]),
        E.ranking.partners.map((p) => [String(p.rank), p.partner_id, p.revenue, String(p.conversions), p.roi, p.growth]),
        'ranking rows equal the API\'s ranking');
      const texts = [];
      for (const p of E.ranking.partners) texts.push(await formatIn(page, 'money', p.revenue, c));
      same(r.map((x) => x[2].text), texts, 'ranking revenue, formatted');
    }

    if (E.forecast.status === 200) {
      const m = await checkChart(page, 'forecast-chart', { paths: 2 });
      check(m.band >= 1, 'the forecast chart has an interval band', `bands ${m.band}`);
      same(await valueOf(page, 'forecast-total'), E.forecast.body.next_30_days.total, 'forecast total, 30 days');
      await page.click('button[data-horizon="90"]');
      same(await valueOf(page, 'forecast-total'), E.forecast.body.next_90_days.total, 'forecast total, 90 days');
      const m90 = await marks(page, 'forecast-chart');
      check(m90.band >= 1, 'the 90-day forecast has an interval band');
      await page.click('button[data-horizon="30"]');
    } else {
      same(await textOf(page, 'forecast-unavailable'), E.forecast.body.detail, 'too little history shows the 409 problem\'s detail');
    }

    const ch = await rows(page, 'churn-table');
    if (E.churn.partners.length) {
      check(Array.isArray(ch), 'the churn table is drawn');
      if (ch) same(ch.map((x) => [x[0].value, x[1].value, x[2].value]), E.churn.partners.map((p) => [p.partner_id, p.band, p.score]), 'churn rows equal the API\'s');
    } else {
      check(await testid(page, 'churn-table').count() === 1, 'churn shows its empty state');
    }

    if (E.fraud.status === 404) {
      check(await page.isVisible('[data-testid="fraud-unavailable"]'), 'fraud alerts show "unavailable" when the route is missing');
    } else if (E.fraud.body.items.length) {
      const fr = await rows(page, 'fraud-table');
      same(fr ? fr.length : null, E.fraud.body.items.length, 'fraud rows equal the API\'s open alerts');
      same(await page.$$eval('[data-testid="fraud-table"] button[data-action]', (b) => b.length), E.fraud.body.items.length * 2, 'each open alert has Confirm and Dismiss');
    } else {
      check(/no open alerts/i.test(await textOf(page, 'fraud-table')), 'fraud shows its empty state');
    }
    const errors = await page.$$eval('.panel-error:not([hidden])', (els) => els.map((e) => e.textContent));
    same(errors, [], 'no admin panel shows an error');
    check(!(await page.content()).includes(ADMIN_KEY), 'the key is not written into the page');
  });

  await phase('admin load time', async () => {
    await page.reload({ waitUntil: 'load' });
    await waitReady(page, 'admin');
    await useExpectedRange(page, 'admin (reloaded)');
    ms = await page.evaluate(() => window.__accrue.drawnAt);
    check(Number.isFinite(ms) && ms > 0, 'admin drawnAt is measured', ms);
    await page.screenshot({ path: join(SHOTS, 'admin.png'), fullPage: true });
  });

  await phase('ranking by conversions', async () => {
    await page.selectOption('[data-testid="ranking-by"]', 'conversions');
    await page.waitForFunction(() => document.body.dataset.ready === 'true' && window.__accrue.figures.ranking && window.__accrue.figures.ranking.by === 'conversions', null, { timeout: TIMEOUT_MS });
    const r = await rows(page, 'ranking-table');
    same(r && r.map((x) => [x[1].text, x[3].value]), E.ranking_by_conversions.partners.map((p) => [p.partner_id, String(p.conversions)]), 'ranking by conversions equals the API\'s');
  });

  if (E.fraud.status === 200 && E.fraud.body.items.length) {
    await phase('dismiss a fraud alert', async () => {
      const before = (await rows(page, 'fraud-table')).length;
      await page.fill('[data-testid="fraud-table"] tbody tr:first-child input.note', 'checked by the browser test');
      await page.click('[data-testid="fraud-table"] tbody tr:first-child button[data-action="dismiss"]');
      await page.waitForFunction((n) => {
        const t = document.querySelector('[data-testid="fraud-table"]');
        const count = t && t.tagName === 'TABLE' ? t.tBodies[0].rows.length : 0;
        return document.body.dataset.ready === 'true' && count === n - 1;
      }, before, { timeout: TIMEOUT_MS });
      check(true, 'dismissing an alert removes it from the open alerts');
    });
  }

  same(problems, [], 'admin: no script error and no CSP violation');
  await context.close();
  return ms;
}

// ---------------------------------------------------------------- main

mkdirSync(SHOTS, { recursive: true });
let browser;
try {
  // launch() gives the browser a fresh temporary user-data directory, removed on close.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
} catch (e) {
  console.error(`cannot start ${CHROMIUM}: ${e.message.split('\n')[0]} (bash tests/run.sh installs Debian's chromium)`);
  process.exit(2);
}
let partnerMs = null, adminMs = null;
try {
  partnerMs = await partner(browser);
  adminMs = await admin(browser);
} finally {
  await browser.close();
}
console.log(`${passed} checks passed, ${failures.length} failed; screenshots in ${SHOTS}`);
for (const f of failures) console.log(`  - ${f}`);
console.log(JSON.stringify({ partner_ms: partnerMs === null ? null : Math.round(partnerMs), admin_ms: adminMs === null ? null : Math.round(adminMs) }));
process.exit(failures.length ? 1 : 0);
