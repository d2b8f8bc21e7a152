// Shared by the browser tests: the system Chromium driven by playwright-core
// (never a downloaded browser) and a baton server per test file.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startBaton, startMailSink, newUser, repoRoot, sleep, waitFor } from '../clients/js/test/harness.js';

export { startBaton, startMailSink, newUser, repoRoot, sleep, waitFor };

export const CHROMIUM = process.env.BATON_E2E_CHROMIUM || '/usr/bin/chromium';

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export const artifacts = join(repoRoot, 'test-artifacts');
export function artifactPath(name) {
  mkdirSync(artifacts, { recursive: true });
  return join(artifacts, name);
}

/**
 * Opens the demo page with its test hooks and collects console errors
 * (a CSP violation shows up there) and page errors.
 */
export async function openDemo(context, url) {
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') page.errors.push(m.text());
  });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(url + '/?testhooks=1');
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15_000 });
  return page;
}

/** Registers a fresh user through the page's form and logs in with transport. */
export async function registerAndLogin(page, transport = 'refresh_cookie') {
  const u = newUser();
  await page.locator('#register-username').fill(u.username);
  await page.locator('#register-password').fill(u.password);
  await page.getByRole('button', { name: 'Register' }).click();
  await page.locator('#status').getByText(`Registered ${u.username}`).waitFor();
  await page.locator('#login-username').fill(u.username);
  await page.locator('#login-password').fill(u.password);
  await page.locator(`#t-${transport}`).check();
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#who-username').getByText(u.username).waitFor();
  return u;
}

/** Counts the page's requests to path. */
export function countRequests(page, path) {
  const c = { n: 0 };
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === path) c.n++;
  });
  return c;
}
