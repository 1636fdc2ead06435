// The dashboard's load time in headless Chromium, for the analytics benchmark
// (tests/bench/dashboard.sh runs it against a service on the benchmark's database):
// signs in with each key, then reloads the page RUNS times, each after the service's
// analytics cache (5 s) has expired, so every figure is computed afresh, and reads the
// page's own measure: navigation start to the last chart drawn (`window.__accrue.drawnAt`,
// `performance.now()` when the last view's charts are in the DOM).
//
// Environment: ACCRUE_BASE_URL, ACCRUE_ADMIN_KEY, ACCRUE_PARTNER_KEY, ACCRUE_RUNS (default
// 5), ACCRUE_CHROMIUM (default /usr/bin/chromium). Prints one JSON line per view.

import { chromium } from 'playwright-core';

const BASE = (process.env.ACCRUE_BASE_URL || '').replace(/\/$/, '');
const RUNS = Number(process.env.ACCRUE_RUNS || 5);
const views = [
  ['admin', process.env.ACCRUE_ADMIN_KEY],
  ['partner', process.env.ACCRUE_PARTNER_KEY],
];
if (!BASE || views.some(([, k]) => !k)) {
  console.error('timing.mjs: ACCRUE_BASE_URL, ACCRUE_ADMIN_KEY and ACCRUE_PARTNER_KEY are needed');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.ACCRUE_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  for (const [view, key] of views) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'UTC' });
    const page = await context.newPage();
    const ready = () => page.waitForSelector(`body[data-view="${view}"][data-ready="true"]`, { timeout: 60_000, state: 'attached' });
    await page.goto(`${BASE}/dashboard`, { waitUntil: 'load' });
    await page.waitForSelector('body[data-view="signin"][data-ready="true"]', { state: 'attached' });
    await page.fill('[data-testid="api-key"]', key);
    await page.click('[data-testid="sign-in"]');
    await ready();
    const times = [];
    for (let i = 0; i < RUNS; i += 1) {
      await sleep(5_500);
      await page.reload({ waitUntil: 'load' });
      await ready();
      times.push(Math.round(await page.evaluate(() => window.__accrue.drawnAt)));
    }
    console.log(JSON.stringify({ view, runs: times, median_ms: median(times), max_ms: Math.max(...times) }));
    await context.close();
  }
} finally {
  await browser.close();
}
