// A single-page app on oidc-client-ts, in headless Chromium, with baton as
// its OpenID provider: the SPA (rp/spa, served here with the library's
// browser build from node_modules) is a public client on another origin;
// the user signs in on baton's real /login page and consents on /consent,
// the SPA calls an API that verifies the access token against baton's
// JWKS, renews silently with the refresh token, and signs out through
// baton's end-session endpoint back to the SPA.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startProvider, launch, watchErrors, jwtPayload, artifactPath } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
// The package's browser build (an IIFE defining window.oidc).
const libraryFile = join(dirname(require.resolve('oidc-client-ts/package.json')), 'dist/browser/oidc-client-ts.js');

/**
 * The SPA's origin: its pages, its config, and /api/hello, a resource
 * server that accepts baton's access tokens (RFC 9068: signature by the
 * JWKS, iss, aud, typ at+jwt) from the SPA's client. On localhost, so
 * that the SPA and baton (127.0.0.1) are different sites, as in
 * production.
 */
function startSPA() {
  const app = { config: {} };
  let jwks;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const send = (status, type, body) => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    try {
      if (url.pathname === '/config.js') return send(200, 'text/javascript', `window.SPA_CONFIG = ${JSON.stringify(app.config)};`);
      if (url.pathname === '/oidc-client-ts.js') return send(200, 'text/javascript', await readFile(libraryFile));
      if (url.pathname === '/app.js') return send(200, 'text/javascript', await readFile(join(here, 'spa/app.js')));
      if (['/', '/callback', '/signed-out'].includes(url.pathname)) return send(200, 'text/html', await readFile(join(here, 'spa/index.html')));
      if (url.pathname === '/api/hello') {
        const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
        if (!m) return send(401, 'application/json', JSON.stringify({ error: 'no token' }));
        jwks ??= createRemoteJWKSet(new URL(app.config.jwks_uri));
        try {
          const { payload } = await jwtVerify(m[1], jwks, { issuer: app.config.authority, audience: app.config.audience, typ: 'at+jwt' });
          if (payload.client_id !== app.config.client_id) throw new Error(`client_id ${payload.client_id}`);
          app.apiCalls = (app.apiCalls ?? 0) + 1;
          return send(200, 'application/json', JSON.stringify({ hello: payload.sub }));
        } catch (e) {
          return send(401, 'application/json', JSON.stringify({ error: e.message }));
        }
      }
      send(404, 'text/plain', 'not found');
    } catch (e) {
      send(500, 'text/plain', String(e));
    }
  });
  return new Promise((res) =>
    server.listen(0, '127.0.0.1', () => {
      app.origin = `http://localhost:${server.address().port}`;
      app.stop = () => new Promise((r) => server.close(r));
      res(app);
    }),
  );
}

let spa;
let op;
let browser;
before(async () => {
  spa = await startSPA();
  // The SPA calls baton's discovery, token and UserInfo endpoints from its
  // own origin: CORS.
  op = await startProvider({ BATON_CORS_ORIGINS: spa.origin, BATON_ACCESS_TTL: '60s' });
  const client = await op.addClient('spa', [
    '--public',
    '--redirect-uri',
    spa.origin + '/callback',
    '--post-logout-redirect-uri',
    spa.origin + '/signed-out',
  ]);
  assert.equal(client.client_secret, undefined, 'a public client has no secret');
  const meta = await (await fetch(op.issuer + '/.well-known/openid-configuration')).json();
  spa.config = { authority: op.issuer, client_id: client.client_id, jwks_uri: meta.jwks_uri, audience: op.issuer };
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await op?.stop();
  await spa?.stop();
});

test('oidc-client-ts: sign in on baton, call an API, renew silently, sign out', async () => {
  const user = await op.register();
  const context = await browser.newContext();
  let page;
  try {
    page = watchErrors(await context.newPage());
    await page.goto(spa.origin + '/');
    await page.waitForSelector('body[data-ready="1"]');
    assert.equal(await page.locator('#user').textContent(), 'nobody');

    // Sign in: the SPA sends the browser to baton, which shows its form.
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.origin === op.issuer && u.pathname === '/login');
    // As a person would: by the labels, and the button.
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(user.password);
    await page.screenshot({ path: artifactPath('rp-spa-login.png'), fullPage: true });
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    // A public, third-party client: baton asks for consent.
    await page.waitForURL((u) => u.origin === op.issuer && u.pathname === '/consent');
    await page.screenshot({ path: artifactPath('rp-spa-consent.png'), fullPage: true });
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(spa.origin + '/');
    await page.waitForSelector('body[data-ready="1"]');
    await page.locator('#user').getByText(user.username).waitFor();
    const first = await page.evaluate(() => window.currentUser);
    assert.equal(first.profile.sub, user.id);
    assert.equal(first.profile.email, user.email);
    assert.ok(first.refresh_token, 'the client may refresh, so it gets a refresh token');
    assert.equal(jwtPayload(first.access_token).client_id, spa.config.client_id);

    // The API accepts the access token.
    await page.getByRole('button', { name: 'Call the API' }).click();
    await page.locator('#api').getByText(`200 ${user.id}`).waitFor();

    // Silent renewal with the refresh token (no iframe, no page).
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('#log li', { hasText: /^refresh/ }).waitFor();
    assert.deepEqual(await page.locator('#log li').allTextContents(), ['signed in', 'refreshed']);
    const renewed = await page.evaluate(() => window.currentUser);
    assert.notEqual(renewed.access_token, first.access_token);
    assert.notEqual(renewed.refresh_token, first.refresh_token, 'the refresh token rotates');
    await page.getByRole('button', { name: 'Call the API' }).click();
    await page.locator('#api').getByText(`200 ${user.id}`).waitFor();
    assert.equal(spa.apiCalls, 2);
    await page.screenshot({ path: artifactPath('rp-spa-signed-in.png'), fullPage: true });

    // Sign out: baton's end-session endpoint, back to the SPA.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.origin === spa.origin && u.pathname === '/signed-out');
    await page.waitForSelector('body[data-ready="1"]');
    await page.locator('#log li', { hasText: 'signed out' }).waitFor();
    assert.equal(await page.locator('#user').textContent(), 'nobody');
    assert.deepEqual(page.errors, []);

    // The session is over at baton: the refresh token is refused.
    const res = await fetch(op.issuer + '/oauth/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: renewed.refresh_token, client_id: spa.config.client_id }),
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_grant');
    // And so is the browser's single-sign-on session: signing in again asks for the password.
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.origin === op.issuer && u.pathname === '/login');
  } catch (e) {
    // Where it stopped, and what the page said.
    e.message += `\n--- the page: ${page?.url()}\nerrors: ${JSON.stringify(page?.errors)}\n${(await page?.content().catch(() => ''))?.slice(0, 3000)}`;
    throw e;
  } finally {
    await context.close();
  }
});
