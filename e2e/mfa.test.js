// Two-step sign-in on the demo page in headless Chromium: set up an
// authenticator app (the QR code the server draws, shown through a blob:
// URL under the page's CSP; the key read off the page), save the recovery
// codes, then sign in with a code, with a recovery code, and turn it off
// after a reauth that asks for the code. The codes come from the tests'
// own RFC 6238 (clients/js/test/totp.js, checked against the RFC's
// vectors there).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startBaton, openDemo, registerAndLogin, artifactPath, sleep } from './helpers.js';
import { totp, stepOf, STEP_MS } from '../clients/js/test/totp.js';

let server;
let browser;
before(async () => {
  server = await startBaton({}, { issuerFromPort: true });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/**
 * Codes as an authenticator app gives them, each time step once and after
 * the last one used (baton's rule): the current step's, else the next
 * one's (baton takes a step either side), else it waits for the clock.
 */
function authenticator(secret) {
  let last = -Infinity;
  return {
    async code() {
      for (;;) {
        const now = stepOf();
        const s = Math.max(last + 1, now);
        if (s <= now + 1) {
          last = s;
          return totp(secret, s);
        }
        await sleep(STEP_MS - (Date.now() % STEP_MS) + 50);
      }
    },
    /** A code no window of baton's accepts now. */
    wrong() {
      const now = stepOf();
      const near = [now - 1, now, now + 1, now + 2].map((s) => totp(secret, s));
      return ['000000', '111111', '222222'].find((c) => !near.includes(c));
    },
  };
}

/** Script errors and CSP violations; the 4xx answers the flow expects (401, 403 mfa_required) are left out. */
const unexpected = (page) => page.errors.filter((e) => !/^Failed to load resource: the server responded with a status of 4\d\d/.test(e));

async function logOut(page) {
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.locator('#signed-out').waitFor();
}

async function password(page, u) {
  await page.locator('#login-username').fill(u.username);
  await page.locator('#login-password').fill(u.password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

test('enrol an authenticator app on the demo, then sign in with a code and with a recovery code', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, server.url);
    const u = await registerAndLogin(page, 'refresh_cookie');
    await page.locator('#mfa-state').getByText('Off: your password alone signs you in.').waitFor();

    // Set up: the QR code loads (a blob: URL of the server's PNG) and the key is shown.
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    await page.locator('#totp-enrol').waitFor();
    const qr = page.getByRole('img', { name: 'QR code of your authenticator key' });
    await page.waitForFunction(() => {
      const img = document.getElementById('totp-qr');
      return img.complete && img.naturalWidth > 0;
    });
    assert.equal(await qr.evaluate((img) => img.naturalWidth), 256);
    assert.match(await qr.getAttribute('src'), /^blob:http:\/\/127\.0\.0\.1:\d+\//);
    const shown = await page.locator('#totp-secret').textContent();
    const secret = shown.replace(/\s+/g, '');
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const app = authenticator(secret);
    await page.locator('#totp-enrol').screenshot({ path: artifactPath('mfa-enrol.png') });

    // A wrong code: refused, the enrolment stays.
    await page.locator('#totp-form').getByLabel('Code from your authenticator app').fill(app.wrong());
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.locator('#status').getByText('Turning on two-step sign-in failed: invalid_code').waitFor();
    assert.equal(await page.locator('#totp-enrol').isVisible(), true);
    await page.locator('#totp-form').getByLabel('Code from your authenticator app').fill(await app.code());
    await page.getByRole('button', { name: 'Turn on' }).click();

    // The ten recovery codes, shown once.
    await page.locator('#recovery-box').waitFor();
    const codes = await page.locator('#recovery-codes li').allTextContents();
    assert.equal(codes.length, 10);
    for (const c of codes) assert.match(c, /^[a-z2-9]{5}-[a-z2-9]{5}$/);
    assert.equal(await page.locator('#totp-enrol').isHidden(), true);
    assert.equal(await page.locator('#totp-qr').getAttribute('src'), null);
    await page.locator('#mfa-state').getByText('On: an authenticator app. 10 recovery codes left.').waitFor();
    await page.screenshot({ path: artifactPath('mfa-recovery-codes.png'), fullPage: true });
    await page.getByRole('button', { name: 'I have saved them' }).click();
    assert.equal(await page.locator('#recovery-box').isHidden(), true);
    assert.equal(await page.locator('#recovery-codes li').count(), 0);

    // Log out; the password alone now asks for the code.
    await logOut(page);
    await password(page, u);
    const code = page.locator('#login-mfa-form').getByLabel('Code from your authenticator app');
    await code.waitFor();
    assert.equal(await page.locator('#login-form').isHidden(), true);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'login-mfa-code');
    await page.screenshot({ path: artifactPath('mfa-code-step.png'), fullPage: true });
    // A wrong code shows an error and keeps the form.
    await code.fill(app.wrong());
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('#status.error').getByText('That code is wrong or was used already. Try again.').waitFor();
    assert.equal(await page.locator('#login-mfa-form').isVisible(), true);
    assert.equal(await page.locator('#signed-out').isVisible(), true);
    await code.fill(await app.code());
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('#who-username').getByText(u.username).waitFor();
    await page.locator('#status').getByText(`Logged in as ${u.username}.`).waitFor();
    assert.equal(await page.locator('#login-mfa-form').isHidden(), true);

    // Log out; in again with a recovery code.
    await logOut(page);
    assert.equal(await page.locator('#login-form').isVisible(), true);
    await password(page, u);
    await page.getByRole('link', { name: 'Use a recovery code instead' }).click();
    const rc = page.locator('#login-mfa-form').getByLabel(/^Recovery code/);
    await rc.fill(codes[0]);
    assert.equal(await page.locator('#login-mfa-code').isHidden(), true);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('#who-username').getByText(u.username).waitFor();
    await page.locator('#mfa-state').getByText('On: an authenticator app. 9 recovery codes left.').waitFor();

    // The same recovery code again is refused.
    await logOut(page);
    await password(page, u);
    await page.getByRole('link', { name: 'Use a recovery code instead' }).click();
    await rc.fill(codes[0]);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('#status.error').getByText('That code is wrong or was used already. Try again.').waitFor();
    await rc.fill(codes[1]);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('#who-username').getByText(u.username).waitFor();
    assert.deepEqual(unexpected(page), []);
  } finally {
    await context.close();
  }
});

test('new recovery codes and turning two-step sign-in off ask for a reauth with the code; then the password alone signs in', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, server.url);
    const u = await registerAndLogin(page, 'body');
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    await page.locator('#totp-enrol').waitFor();
    const app = authenticator((await page.locator('#totp-secret').textContent()).replace(/\s+/g, ''));
    await page.locator('#totp-form').getByLabel('Code from your authenticator app').fill(await app.code());
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('button', { name: 'I have saved them' }).click();

    // Turning off and new recovery codes need a token that used the
    // second factor: the page asks to sign in again.
    await page.getByRole('button', { name: 'New recovery codes' }).click();
    await page.locator('#status.error').getByText('New recovery codes needs a fresh token: reauthenticate with your password (and a code').waitFor();
    await page.getByRole('button', { name: 'Turn off' }).click();
    await page.locator('#status.error').getByText('Turning off two-step sign-in needs a fresh token: sign in again').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'reauth-password');
    await page.locator('#reauth-password').fill(u.password);
    await page.getByRole('button', { name: 'Reauthenticate' }).click();
    const code = page.locator('#reauth-mfa-code');
    await code.waitFor();
    assert.equal(await page.locator('#reauth-form').isHidden(), true);
    await code.fill(app.wrong());
    await page.locator('#reauth-mfa-button').click();
    await page.locator('#status.error').getByText('That code is wrong or was used already. Try again.').waitFor();
    await code.fill(await app.code());
    await page.locator('#reauth-mfa-button').click();
    await page.locator('#status').getByText('Reauthenticated with your second factor: your token is fresh.').waitFor();
    assert.equal(await page.locator('#reauth-form').isVisible(), true);

    await page.getByRole('button', { name: 'New recovery codes' }).click();
    await page.locator('#status').getByText('New recovery codes: the old ones no longer work.').waitFor();
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.getByRole('button', { name: 'Turn off' }).click();
    await page.locator('#status').getByText('Two-step sign-in is off.').waitFor();
    await page.locator('#mfa-state').getByText('Off: your password alone signs you in.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Set up an authenticator app' }).isVisible(), true);

    await logOut(page);
    await password(page, u);
    await page.locator('#who-username').getByText(u.username).waitFor();
    assert.deepEqual(unexpected(page), []);
  } finally {
    await context.close();
  }
});
