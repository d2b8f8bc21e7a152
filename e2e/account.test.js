// baton's own pages in headless Chromium, opened from the links of real
// messages: baton delivers over SMTP to a real SMTP server
// (internal/smtpsink) and the test opens the link a user would click.
// Forgot password on the demo → reset page (mismatch, weak, then a good
// password) → sign in; the session open in another browser ends. And the
// verify-email page with the link a registration sends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startBaton, startMailSink, openDemo, registerAndLogin, newUser, artifactPath, countRequests, sleep } from './helpers.js';

// Tokens are fresh (RFC 9470) this long after a password was typed.
const FRESH_MS = 5000;
let server;
let sink;
let browser;
before(async () => {
  sink = await startMailSink();
  server = await startBaton({ ...sink.env, BATON_ACCESS_TTL: '30s', BATON_FRESH_TTL: `${FRESH_MS / 1000}s` }, { issuerFromPort: true });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await sink?.stop();
});

/** The link of the n-th message to `to` that opens `page`. */
async function linkTo(to, page, n = 0) {
  let link;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const hits = (await sink.messages()).filter((m) => m.to.includes(to) && m.link.includes(`/account/${page}#token=`));
    if (hits.length > n) {
      link = hits[n].link;
      break;
    }
    assert.ok(Date.now() < deadline, `no message to ${to} opening ${page}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(link.startsWith(`${server.url}/account/${page}#token=`), link);
  return link;
}

/**
 * Opens url in a new page of context and records its script errors and
 * CSP violations (Chromium reports both on the console). Answers of 4xx
 * that the page expects also show there, as failed loads: those are left
 * out.
 */
async function openPage(context, url) {
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) page.errors.push(m.text());
  });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15_000 });
  return page;
}

test('the verify-email page confirms the address a registration sent a link to', async () => {
  const context = await browser.newContext();
  try {
    const demo = await openDemo(context, server.url);
    const u = newUser();
    const email = 'confirm-' + u.username;
    await demo.locator('#register-username').fill(u.username);
    await demo.locator('#register-password').fill(u.password);
    await demo.locator('#register-email').fill(email);
    await demo.getByRole('button', { name: 'Register' }).click();
    await demo.locator('#status').getByText(`A link to confirm ${email} is on its way`).waitFor();
    const link = await linkTo(email, 'verify-email');
    const verifies = { n: 0 };
    const page = await openPage(context, link);
    await page.locator('#outcome').getByText(`Your email address ${email} is confirmed.`).waitFor();
    // The token left the address bar and the history entry.
    assert.equal(new URL(page.url()).hash, '');
    assert.equal(await page.evaluate(() => location.href), `${server.url}/account/verify-email`);
    assert.equal(await page.getByRole('link', { name: 'Sign in' }).getAttribute('href'), '/');
    await page.screenshot({ path: artifactPath('verify-email.png'), fullPage: true });
    // The same link again: spent.
    page.on('request', (r) => r.url().endsWith('/v1/email/verify') && verifies.n++);
    await page.goto(link);
    await page.locator('#outcome').getByText('This link has expired or has already been used.').waitFor();
    assert.equal(verifies.n, 1);
    // No token at all: the page says so and posts nothing.
    await page.goto(`${server.url}/account/verify-email`);
    await page.locator('#outcome').getByText('This link is incomplete.').waitFor();
    assert.equal(verifies.n, 1);
    assert.deepEqual(page.errors, []);
    // The demo shows the address as confirmed.
    await demo.locator('#login-username').fill(u.username);
    await demo.locator('#login-password').fill(u.password);
    await demo.getByRole('button', { name: 'Log in' }).click();
    await demo.locator('#who-email').getByText(`${email} (confirmed)`).waitFor();
    assert.equal(await demo.locator('#verify-line').isHidden(), true);
  } finally {
    await context.close();
  }
});

test('forgot password on the demo → message → reset page → sign in; the old session ends', async () => {
  const oldContext = await browser.newContext();
  const context = await browser.newContext();
  try {
    // A session in a tab, which the reset must end; the reset happens in
    // another tab of the same browser, asked for from another browser.
    const old = await openDemo(oldContext, server.url);
    const u = await registerAndLogin(old, 'refresh_cookie');
    await old.locator('#who-email').getByText(`${u.username} (not confirmed)`).waitFor();
    await old.getByRole('button', { name: 'Send the link again' }).click();
    await old.locator('#status').getByText(`A new confirmation link is on its way to ${u.username}.`).waitFor();
    await linkTo(u.username, 'verify-email', 1);

    const demo = await openDemo(context, server.url);
    await demo.getByText('Forgot your password?').click();
    await demo.locator('#forgot-who').fill(u.username);
    await demo.getByRole('button', { name: 'Send a reset link' }).click();
    await demo.locator('#status').getByText('If an account exists for that, a message with a reset link is on its way.').waitFor();
    // Unknown accounts get the same words.
    await demo.locator('#forgot-who').fill('nobody-' + u.username);
    await demo.getByRole('button', { name: 'Send a reset link' }).click();
    await demo.waitForFunction(() => [...document.querySelectorAll('#log li')].filter((li) => li.textContent.includes('asked for a password reset link')).length === 2);
    assert.equal(await demo.locator('#status').textContent(), 'If an account exists for that, a message with a reset link is on its way.');

    const link = await linkTo(u.username, 'reset-password');
    const page = await openPage(oldContext, link);
    const resets = countRequests(page, '/v1/password/reset');
    assert.equal(new URL(page.url()).hash, '');
    const pw = page.getByLabel(/^New password \(/);
    const again = page.getByLabel('New password again');
    // The two fields differ: caught here, nothing sent.
    await pw.fill(u.password + ' new');
    await again.fill(u.password + ' wen');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.locator('#outcome').getByText('The two passwords differ.').waitFor();
    assert.equal(resets.n, 0);
    // A common password: the policy's refusal, and the form stays.
    await pw.fill('password123');
    await again.fill('password123');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.locator('#outcome').getByText('That password cannot be used:').waitFor();
    assert.equal(resets.n, 1);
    assert.equal(await page.locator('#reset-form').isVisible(), true);
    // A good one (the token is still usable).
    const newPassword = u.password + ' renewed';
    await pw.fill(newPassword);
    await again.fill(newPassword);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.locator('#outcome').getByText('Your password is changed, and every session of your account was signed out.').waitFor();
    assert.equal(resets.n, 2);
    assert.equal(await page.locator('#reset-form').isHidden(), true);
    await page.screenshot({ path: artifactPath('reset-password.png'), fullPage: true });
    assert.deepEqual(page.errors, []);

    // The old session: its next call is refused and the page shows it.
    await old.getByRole('button', { name: 'Call a protected endpoint' }).click();
    await old.locator('#ended-reason[data-reason="revoked"]').waitFor();
    assert.equal(await old.locator('#signed-out').isVisible(), true);

    // Sign in with the new password from the page's link.
    await page.getByRole('link', { name: 'Sign in' }).click();
    await page.waitForSelector('body[data-ready="1"]');
    await page.locator('#login-username').fill(u.username);
    await page.locator('#login-password').fill(u.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#status').getByText('invalid_credentials').waitFor();
    await page.locator('#login-password').fill(newPassword);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#who-username').getByText(u.username).waitFor();
    // The reset reached the address, so it counts as confirmed.
    await page.locator('#who-email').getByText(`${u.username} (confirmed)`).waitFor();

    // The link is spent.
    const spent = await openPage(context, link);
    await spent.getByLabel(/^New password \(/).fill(newPassword + '!');
    await spent.getByLabel('New password again').fill(newPassword + '!');
    await spent.getByRole('button', { name: 'Set the new password' }).click();
    await spent.locator('#outcome').getByText('This link has expired or has already been used.').waitFor();
  } finally {
    await context.close();
    await oldContext.close();
  }
});

test('change email on the demo: a stale token asks for the password again; the link to the new address switches it', async () => {
  const context = await browser.newContext();
  try {
    const demo = await openDemo(context, server.url);
    const u = await registerAndLogin(demo, 'refresh_cookie');
    const next = 'next-' + u.username;
    await sleep(FRESH_MS + 500);
    await demo.locator('#new-email').fill(next);
    await demo.getByRole('button', { name: 'Change email' }).click();
    await demo.locator('#status').getByText('Email change needs a fresh token: reauthenticate with your password, then try again.').waitFor();
    assert.equal(await demo.evaluate(() => document.activeElement.id), 'reauth-password');
    assert.equal(await demo.locator('#signed-in').isVisible(), true);
    await demo.locator('#reauth-password').fill(u.password);
    await demo.getByRole('button', { name: 'Reauthenticate' }).click();
    await demo.getByText('Reauthenticated: your token is fresh.').waitFor();
    await demo.getByRole('button', { name: 'Change email' }).click();
    await demo.locator('#status').getByText(`A confirmation link went to ${next}`).waitFor();
    const page = await openPage(context, await linkTo(next, 'verify-email'));
    await page.locator('#outcome').getByText(`Your email address ${next} is confirmed.`).waitFor();
    await demo.reload();
    await demo.waitForSelector('body[data-ready="1"]');
    await demo.locator('#who-email').getByText(`${next} (confirmed)`).waitFor();
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});
