// Passkeys on the demo page in headless Chromium, with a virtual
// authenticator from the DevTools protocol (WebAuthn domain: CTAP2, a
// platform authenticator that holds discoverable credentials and verifies
// the user). baton runs as `make run` does, with the default loopback
// issuer (http://127.0.0.1:<port>), and the page is opened at
// http://localhost:<port>: WebAuthn takes no IP address as an RP ID, so
// the relying party is then "localhost", and that origin must also pass
// the cookie transports' Origin check. Enrol a passkey, sign in with it without a username
// (the session's amr is hwk+mfa), use it as the second step after the
// password for a user with TOTP, remove it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startBaton, openDemo, registerAndLogin, artifactPath } from './helpers.js';
import { totp, stepOf, awayFromStepEdge } from '../clients/js/test/totp.js';

let server;
let browser;
let url;
before(async () => {
  server = await startBaton({}, { issuerFromPort: true });
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  url = server.url.replace('127.0.0.1', 'localhost');
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Script errors and CSP violations; the 4xx answers the flows expect (401, 403 mfa_required) are left out. */
const unexpected = (page) => page.errors.filter((e) => !/^Failed to load resource: the server responded with a status of 4\d\d/.test(e));

/** A virtual platform authenticator for the page; returns {cdp, id}. */
async function addAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { cdp, id: authenticatorId };
}

async function credentials(auth) {
  return (await auth.cdp.send('WebAuthn.getCredentials', { authenticatorId: auth.id })).credentials;
}

async function logOut(page) {
  await page.getByRole('button', { name: 'Log out', exact: true }).click();
  await page.locator('#signed-out').waitFor();
}

/** The page's live sessions as the server lists them (amr included). */
async function sessions(page) {
  return page.evaluate(async () => {
    const res = await window.__baton.client.fetch('/v1/sessions');
    return (await res.json()).sessions;
  });
}

async function addPasskey(page, name) {
  await page.locator('#passkey-name').fill(name);
  await page.getByRole('button', { name: 'Add a passkey' }).click();
}

test('add a passkey on the demo, sign in with it without a username, then remove it', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, url);
    const auth = await addAuthenticator(page);
    const u = await registerAndLogin(page, 'refresh_cookie');
    await page.locator('#passkeys-state').getByText('None yet.').waitFor();
    assert.equal(await page.locator('#passkeys-table').isHidden(), true);

    await addPasskey(page, 'Test laptop');
    await page.locator('#status').getByText('Added the passkey Test laptop.').waitFor();
    const row = page.locator('#passkeys-body tr');
    assert.equal(await row.count(), 1);
    assert.equal(await row.locator('td').nth(0).textContent(), 'Test laptop');
    assert.equal(await row.locator('td.last-used').textContent(), 'never');
    await page.locator('#mfa-state').getByText('On: 1 passkey.').waitFor();
    const creds = await credentials(auth);
    assert.equal(creds.length, 1);
    assert.equal(creds[0].isResidentCredential, true);
    assert.equal(creds[0].rpId, 'localhost');
    await page.locator('#passkeys-card').screenshot({ path: artifactPath('passkey-list.png') });

    // A second one needs a token that used a second factor, now that
    // the account has one: this password-only token is refused before
    // the browser is asked.
    await addPasskey(page, 'Again');
    await page.locator('#status.error').getByText('Adding a passkey needs a fresh token: reauthenticate').waitFor();
    assert.equal((await credentials(auth)).length, 1);

    // Out, and back in with the passkey alone: no username typed.
    await logOut(page);
    assert.equal(await page.locator('#login-username').inputValue(), '');
    await page.locator('#t-cookies').check();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.locator('#who-username').getByText(u.username).waitFor();
    await page.locator('#status').getByText(`Logged in as ${u.username}.`).waitFor();
    assert.equal(await page.locator('#who-transport').textContent(), 'cookies');
    assert.equal(await page.locator('#login-username').inputValue(), '');
    const me = await page.evaluate(() => window.__baton.client.me());
    assert.equal(me.username, u.username);
    assert.deepEqual(me.mfa, { totp: false, passkeys: 1, recovery_codes_left: 0 });
    const current = (await sessions(page)).find((s) => s.current);
    assert.deepEqual(current.amr, ['hwk', 'mfa']);
    assert.notEqual(await row.locator('td.last-used').textContent(), 'never');
    assert.equal((await credentials(auth))[0].signCount > 0, true);

    // This token used the passkey, so enrolment may go on; but this
    // authenticator already holds one of the account's passkeys (the
    // options exclude it), and the page says so.
    await addPasskey(page, 'Again');
    await page.locator('#status.error').getByText('Adding a passkey failed: already_registered').waitFor();
    assert.equal(await row.count(), 1);
    assert.equal((await credentials(auth)).length, 1);
    // The cookie session refreshes from this origin (the Origin check).
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await page.locator('#log').getByText('access token refreshed by this tab').waitFor();

    // The password alone now asks for the passkey as the second step.
    await logOut(page);
    await page.locator('#login-username').fill(u.username);
    await page.locator('#login-password').fill(u.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#status').getByText('Use your passkey to finish signing in.').waitFor();
    assert.equal(await page.locator('#login-mfa-totp').isHidden(), true);
    assert.equal(await page.locator('#login-mfa-button').isHidden(), true);
    await page.screenshot({ path: artifactPath('passkey-step.png'), fullPage: true });
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.locator('#who-username').getByText(u.username).waitFor();
    assert.deepEqual((await sessions(page)).find((s) => s.current).amr, ['pwd', 'hwk', 'mfa']);

    // Remove it: this token used the passkey (mfa), so the last second
    // factor may go; then the password alone signs in again.
    await page.getByRole('button', { name: 'Remove passkey Test laptop' }).click();
    await page.locator('#status').getByText('Removed the passkey Test laptop.').waitFor();
    assert.equal(await row.count(), 0);
    await page.locator('#mfa-state').getByText('Off: your password alone signs you in.').waitFor();
    // The authenticator still holds it, but the server no longer knows it.
    await logOut(page);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.locator('#status.error').getByText('That passkey was not accepted').waitFor();
    assert.equal(await page.locator('#signed-out').isVisible(), true);
    await page.locator('#login-username').fill(u.username);
    await page.locator('#login-password').fill(u.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#who-username').getByText(u.username).waitFor();
    assert.deepEqual(unexpected(page), []);
  } finally {
    await context.close();
  }
});

test('with TOTP on: adding a passkey needs a reauth with the code; then the passkey finishes a password login', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, url);
    await addAuthenticator(page);
    const u = await registerAndLogin(page, 'body');
    await awayFromStepEdge();
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    await page.locator('#totp-enrol').waitFor();
    const secret = (await page.locator('#totp-secret').textContent()).replace(/\s+/g, '');
    const step = stepOf();
    await page.locator('#totp-code').fill(totp(secret, step - 1));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('button', { name: 'I have saved them' }).click();

    // This token is from before the factor: the page asks for a reauth.
    await addPasskey(page, 'Key');
    await page.locator('#status.error').getByText('Adding a passkey needs a fresh token: reauthenticate').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'reauth-password');
    await page.locator('#reauth-password').fill(u.password);
    await page.getByRole('button', { name: 'Reauthenticate' }).click();
    await page.locator('#reauth-mfa-code').fill(totp(secret, step));
    await page.locator('#reauth-mfa-button').click();
    await page.locator('#status').getByText('Reauthenticated with your second factor').waitFor();
    await addPasskey(page, 'Key');
    await page.locator('#status').getByText('Added the passkey Key.').waitFor();
    await page.locator('#mfa-state').getByText('Passkeys: 1.').waitFor();

    // Password, then the passkey instead of a code.
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await page.locator('#signed-out').waitFor();
    await page.locator('#login-username').fill(u.username);
    await page.locator('#login-password').fill(u.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.locator('#status').getByText('Enter the code from your authenticator app, or use a passkey.').waitFor();
    assert.equal(await page.locator('#login-mfa-code').isVisible(), true);
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.locator('#who-username').getByText(u.username).waitFor();
    assert.deepEqual((await sessions(page)).find((s) => s.current).amr, ['pwd', 'hwk', 'mfa']);

    // A reauth takes the passkey too.
    await page.locator('#reauth-password').fill(u.password);
    await page.getByRole('button', { name: 'Reauthenticate' }).click();
    await page.locator('#reauth-mfa-passkey').waitFor();
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.locator('#status').getByText('Reauthenticated with your second factor: your token is fresh.').waitFor();
    assert.equal(await page.locator('#reauth-form').isVisible(), true);
    assert.deepEqual(unexpected(page), []);
  } finally {
    await context.close();
  }
});
