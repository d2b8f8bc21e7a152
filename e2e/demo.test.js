// The demo page in headless Chromium: the full flow, every transport, and a
// screenshot for people to look at.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startBaton, openDemo, registerAndLogin, artifactPath, countRequests } from './helpers.js';

let server;
let browser;
before(async () => {
  server = await startBaton({ BATON_ACCESS_TTL: '30s' }, { issuerFromPort: true });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the page is served with a strict CSP', async () => {
  const res = await fetch(server.url + '/');
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /default-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
});

test('full demo flow', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, server.url);
    const u = await registerAndLogin(page, 'refresh_cookie');
    // Who am I, and the countdown.
    await page.locator('#who-transport').getByText('refresh_cookie').waitFor();
    const countdown = await page.locator('#countdown').textContent();
    assert.match(countdown, /^\d+ s$/);
    // A protected endpoint.
    await page.getByRole('button', { name: 'Call a protected endpoint' }).click();
    await page.locator('#protected-result').getByText('GET /v1/me → 200').waitFor();
    // A reload keeps the session: the page takes it up with the refresh cookie.
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    await page.locator('#who-username').getByText(u.username).waitFor();
    await page.locator('#log li', { hasText: 'took up the session (transport refresh_cookie)' }).waitFor();
    // A manual refresh shows in the log.
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await page.locator('#log li.refresh', { hasText: 'access token refreshed by this tab' }).first().waitFor();
    // Sessions: log in a second time from node, list, revoke that one.
    const other = await fetch(server.url + '/v1/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: u.username, password: u.password }),
    }).then((r) => r.json());
    await page.getByRole('button', { name: 'List my sessions' }).click();
    await page.locator('#sessions-body tr').nth(1).waitFor();
    assert.equal(await page.locator('#sessions-body tr').count(), 2);
    await page.getByRole('button', { name: `Revoke session ${other.session_id.slice(0, 8)}` }).click();
    await page.locator('#log li', { hasText: `revoked session ${other.session_id.slice(0, 8)} → 204` }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#sessions-body tr').length === 1);
    // Reauth, then change the password.
    await page.locator('#reauth-password').fill(u.password);
    await page.getByRole('button', { name: 'Reauthenticate' }).click();
    await page.getByText('Reauthenticated: your token is fresh.').waitFor();
    const sidBefore = await page.locator('#who-session').textContent();
    await page.locator('#current-password').fill(u.password);
    await page.locator('#new-password').fill(u.password + ' v2');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed').waitFor();
    assert.notEqual(await page.locator('#who-session').textContent(), sidBefore);
    // Still works on the new session, through a refresh.
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await page.getByRole('button', { name: 'Call a protected endpoint' }).click();
    await page.locator('#protected-result').getByText('GET /v1/me → 200').waitFor();
    await page.screenshot({ path: artifactPath('demo.png'), fullPage: true });
    // Log out.
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await page.locator('#ended-reason[data-reason="logged_out"]').waitFor();
    assert.equal(await page.locator('#signed-out').isVisible(), true);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

for (const transport of ['body', 'refresh_cookie', 'cookies']) {
  test(`transport ${transport}: log in, call, refresh, log out`, async () => {
    const context = await browser.newContext();
    try {
      const page = await openDemo(context, server.url);
      const refreshes = countRequests(page, '/v1/refresh');
      await registerAndLogin(page, transport);
      await page.getByRole('button', { name: 'Refresh now' }).click();
      await page.locator('#log li.refresh', { hasText: 'access token refreshed by this tab' }).first().waitFor();
      assert.equal(refreshes.n, 1);
      await page.getByRole('button', { name: 'Call a protected endpoint' }).click();
      await page.locator('#protected-result').getByText('GET /v1/me → 200').waitFor();
      const cookies = await context.cookies();
      const names = cookies.map((c) => `${c.name}@${c.path}`).sort();
      if (transport === 'body') assert.deepEqual(names, []);
      if (transport === 'refresh_cookie') assert.deepEqual(names, ['baton_csrf@/', 'baton_refresh@/v1/logout', 'baton_refresh@/v1/refresh']);
      if (transport === 'cookies') assert.deepEqual(names, ['baton_access@/', 'baton_csrf@/', 'baton_refresh@/v1/logout', 'baton_refresh@/v1/refresh']);
      for (const c of cookies) if (c.name !== 'baton_csrf') assert.equal(c.httpOnly, true, c.name);
      // Nothing secret in web storage.
      const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
      assert.doesNotMatch(stored, /brt_|eyJ/);
      await page.getByRole('button', { name: 'Log out', exact: true }).click();
      await page.locator('#ended-reason[data-reason="logged_out"]').waitFor();
      assert.deepEqual((await context.cookies()).map((c) => c.name), []);
      assert.deepEqual(page.errors, []);
    } finally {
      await context.close();
    }
  });
}

test('BATON_DEMO=false: no page at /', async () => {
  const off = await startBaton({ BATON_DEMO: 'false' });
  try {
    const res = await fetch(off.url + '/');
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error, 'not_found');
  } finally {
    await off.stop();
  }
});
