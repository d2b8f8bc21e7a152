// Refreshing in a real browser: short-lived tokens, two tabs racing to
// refresh, logout across tabs, and a stolen refresh token. The server's
// reuse grace is 0, the strictest setting: any second refresh with a spent
// token would be reuse detection, so only the cross-tab lock keeps the
// racing tabs logged in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startBaton, openDemo, registerAndLogin, countRequests, sleep } from './helpers.js';

let server;
let browser;
before(async () => {
  server = await startBaton({ BATON_ACCESS_TTL: '3s', BATON_REUSE_GRACE: '0' }, { issuerFromPort: true });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test('with 3 s access tokens the page keeps working for 20 s', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, server.url);
    const refreshes = countRequests(page, '/v1/refresh');
    await registerAndLogin(page, 'refresh_cookie');
    const start = Date.now();
    let calls = 0;
    while (Date.now() - start < 20_000) {
      const status = await page.evaluate(async () => (await window.__baton.client.fetch('/v1/me')).status);
      assert.equal(status, 200, `call ${calls} at ${Date.now() - start} ms`);
      calls++;
      await sleep(700);
    }
    assert.equal(await page.locator('#ended').isHidden(), true);
    const logged = await page.locator('#log li.refresh', { hasText: 'access token refreshed by this tab' }).count();
    // 3 s tokens refresh a second before expiry: about every 2 s.
    assert.ok(refreshes.n >= 8 && refreshes.n <= 14, `${refreshes.n} refreshes in 20 s`);
    assert.equal(logged, refreshes.n);
    assert.match(await page.locator('#countdown').textContent(), /^\d s$/);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

for (const transport of ['refresh_cookie', 'body']) {
  test(`${transport}: two tabs refreshing at the same moment, 20 times: never reuse detection`, async () => {
    const context = await browser.newContext();
    try {
      const a = await openDemo(context, server.url);
      const ra = countRequests(a, '/v1/refresh');
      await registerAndLogin(a, transport);
      const b = await openDemo(context, server.url);
      const rb = countRequests(b, '/v1/refresh');
      await b.locator('#signed-in').waitFor();
      const sid = await a.evaluate(() => window.__baton.client.currentSessionId);
      assert.equal(await b.evaluate(() => window.__baton.client.currentSessionId), sid);
      const refreshAt = (page, at) =>
        page.evaluate(
          (at) =>
            new Promise((resolve) =>
              setTimeout(() => window.__baton.client.refresh().then(() => 'ok', (e) => String(e)).then(resolve), Math.max(0, at - Date.now())),
            ),
          at,
        );
      // Start the rounds right after a refresh, so no timer refresh (due
      // 2 s after each one) falls inside a round on a slow machine.
      assert.equal(await refreshAt(a, 0), 'ok');
      let clean = 0;
      for (let i = 0; i < 20; i++) {
        const before = ra.n + rb.n;
        // Rounds more than 300 ms apart: a tab shares (without racing) a
        // rotation another tab made less than 300 ms before, and each round
        // must be a real race.
        const at = Date.now() + 400;
        const [x, y] = await Promise.all([refreshAt(a, at), refreshAt(b, at)]);
        assert.deepEqual([x, y], ['ok', 'ok'], `round ${i}`);
        // One rotation, shared by both tabs.
        assert.equal(ra.n + rb.n - before, 1, `round ${i}: ${ra.n + rb.n - before} refreshes`);
        clean++;
      }
      console.log(`# ${transport}: ${clean}/20 simultaneous two-tab refreshes without reuse detection`);
      for (const p of [a, b]) {
        assert.equal(await p.locator('#ended').isHidden(), true);
        assert.equal(await p.evaluate(async () => (await window.__baton.client.fetch('/v1/me')).status), 200);
      }
      assert.deepEqual([...a.errors, ...b.errors], []);
    } finally {
      await context.close();
    }
  });
}

test('logout in one tab ends the other', async () => {
  const context = await browser.newContext();
  try {
    const a = await openDemo(context, server.url);
    await registerAndLogin(a, 'refresh_cookie');
    const b = await openDemo(context, server.url);
    await b.locator('#signed-in').waitFor();
    await a.getByRole('button', { name: 'Log out', exact: true }).click();
    await b.locator('#ended-reason[data-reason="logged_out"]').waitFor({ timeout: 5000 });
    assert.equal(await b.locator('#signed-out').isVisible(), true);
    assert.equal(await b.evaluate(() => window.__baton.client.loggedIn), false);
  } finally {
    await context.close();
  }
});

test('a stolen refresh token replayed after rotation ends the session, and the page says why', async () => {
  const context = await browser.newContext();
  try {
    const page = await openDemo(context, server.url);
    await registerAndLogin(page, 'body');
    const stolen = await page.evaluate(() => window.__baton.refreshToken());
    assert.match(stolen, /^brt_/);
    // The page rotates (its timer would within 2 s anyway).
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await page.waitForFunction((old) => window.__baton.refreshToken() !== old, stolen);
    // The thief replays the spent token: reuse detection revokes the session.
    const res = await fetch(server.url + '/v1/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: stolen }),
    });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, 'invalid_grant');
    // The page's next refresh (its timer, within ~2 s) is refused.
    await page.locator('#ended-reason[data-reason="reuse_detected"]').waitFor({ timeout: 6000 });
    assert.match(await page.locator('#ended').textContent(), /reuse detected/i);
    assert.equal(await page.locator('#signed-out').isVisible(), true);
  } finally {
    await context.close();
  }
});
