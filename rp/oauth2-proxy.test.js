// oauth2-proxy (v7.15.6, a real OpenID Connect relying party in Go) in
// front of an app, with baton as its provider: Chromium opens the app
// through the proxy, is sent to baton's /login, signs in, and sees the
// app's page with the headers the proxy passes (X-Forwarded-Email,
// X-Forwarded-User). oauth2-proxy refuses an unverified email, so the
// user verifies theirs first with the link baton mails (to a real SMTP
// server, internal/smtpsink).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startProvider, startMailSink, launch, watchErrors, freePort, repoRoot, waitFor, sleep } from './harness.js';

export const OAUTH2_PROXY_VERSION = 'v7.15.6';
// Installed once into the repository's (ignored) bin/ by `make rp-deps`,
// or here when missing: a go install from the module proxy.
const binDir = join(repoRoot, 'bin', `oauth2-proxy-${OAUTH2_PROXY_VERSION}`);
const binary = process.env.BATON_OAUTH2_PROXY || join(binDir, 'oauth2-proxy');

function ensureOAuth2Proxy() {
  if (existsSync(binary)) return;
  const t0 = Date.now();
  execFileSync('go', ['install', `github.com/oauth2-proxy/oauth2-proxy/v7@${OAUTH2_PROXY_VERSION}`], {
    env: { ...process.env, GOBIN: binDir },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  console.log(`installed oauth2-proxy ${OAUTH2_PROXY_VERSION} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

/** The app behind the proxy: a page that shows who the proxy says it is. */
function startUpstream() {
  const server = createServer((req, res) => {
    const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(
      `<!doctype html><title>upstream</title><h1>The app</h1>` +
        `<p>email: <span id="email">${esc(req.headers['x-forwarded-email'])}</span></p>` +
        `<p>user: <span id="user">${esc(req.headers['x-forwarded-user'])}</span></p>` +
        `<p>username: <span id="username">${esc(req.headers['x-forwarded-preferred-username'])}</span></p>` +
        `<p>path: <span id="path">${esc(req.url)}</span></p>`,
    );
  });
  return new Promise((res) =>
    server.listen(0, '127.0.0.1', () => res({ url: `http://127.0.0.1:${server.address().port}`, stop: () => new Promise((r) => server.close(r)) })),
  );
}

/** Starts oauth2-proxy with args and waits for its /ping. */
async function startProxy(port, args) {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  const lines = [];
  child.stdout.on('data', (d) => lines.push(String(d)));
  child.stderr.on('data', (d) => lines.push(String(d)));
  let exited = false;
  child.once('exit', () => {
    exited = true;
    process.removeListener('exit', reap);
  });
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error('oauth2-proxy exited:\n' + lines.join(''));
        try {
          return (await fetch(`http://127.0.0.1:${port}/ping`)).ok;
        } catch {
          return false;
        }
      },
      20_000,
      'oauth2-proxy /ping',
    );
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n${lines.join('')}`);
  }
  return {
    logs: () => lines.join(''),
    stop: async () => {
      if (exited) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    },
  };
}

// Short, so that the test sees the proxy refresh (an app would take minutes).
const COOKIE_REFRESH_MS = 2000;
// Long enough for the proxy to find its session due for a refresh: it
// counts the session's age from the current time truncated to the second,
// so a session is due up to a second after COOKIE_REFRESH_MS.
const PAST_REFRESH_MS = COOKIE_REFRESH_MS + 1500;

let sink;
let op;
let upstream;
let proxy;
let proxyURL;
let clientID;
let browser;
before(async () => {
  ensureOAuth2Proxy();
  sink = await startMailSink();
  op = await startProvider({ ...sink.env });
  upstream = await startUpstream();
  const port = await freePort();
  // localhost, not 127.0.0.1: the app and baton are different sites, as in production.
  proxyURL = `http://localhost:${port}`;
  const client = await op.addClient('oauth2-proxy', [
    '--redirect-uri',
    `${proxyURL}/oauth2/callback`,
    '--post-logout-redirect-uri',
    `${proxyURL}/`,
    '--first-party',
  ]);
  clientID = client.client_id;
  proxy = await startProxy(port, [
    '--provider=oidc',
    `--oidc-issuer-url=${op.issuer}`,
    `--client-id=${client.client_id}`,
    `--client-secret=${client.client_secret}`,
    `--redirect-url=${proxyURL}/oauth2/callback`,
    '--email-domain=*',
    `--cookie-secret=${randomBytes(16).toString('hex')}`,
    '--cookie-secure=false',
    `--upstream=${upstream.url}/`,
    `--http-address=127.0.0.1:${port}`,
    '--code-challenge-method=S256',
    '--pass-user-headers=true',
    '--skip-provider-button=true',
    // The proxy renews its tokens with the refresh token this often, and
    // so learns within that time that baton ended the session.
    `--cookie-refresh=${COOKIE_REFRESH_MS / 1000}s`,
    // Signing out may continue to baton's end-session endpoint.
    `--whitelist-domain=${new URL(op.issuer).host}`,
  ]);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await proxy?.stop();
  await upstream?.stop();
  await op?.stop();
  await sink?.stop();
});

/** A user whose email is verified, with the link baton mailed. */
async function verifiedUser() {
  const user = await op.register();
  assert.equal(user.email, user.username, 'an email-address username is the email');
  const msg = await sink.waitForMessage((m) => m.to.includes(user.email) && m.link.includes('/account/verify-email#token='));
  const token = decodeURIComponent(new URL(msg.link).hash.replace(/^#token=/, ''));
  const verified = await fetch(op.issuer + '/v1/email/verify', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  assert.equal(verified.status, 200);
  return user;
}

/**
 * Opens path through the proxy, is sent to baton's sign-in page and signs
 * in there; returns the proxy's answer at its callback.
 */
async function signInAtBaton(page, user, path) {
  await page.goto(proxyURL + path);
  await page.waitForURL((u) => u.origin === op.issuer && u.pathname === '/login');
  await page.locator('input[name="username"]').fill(user.username);
  await page.locator('input[name="password"]').fill(user.password);
  const callback = page.waitForResponse((r) => new URL(r.url()).pathname === '/oauth2/callback', { timeout: 15_000 });
  await page.locator('input[name="password"]').press('Enter');
  return callback;
}

/** Signs in through the proxy, and checks the app sees the user. */
async function signIn(page, user, path) {
  await signInAtBaton(page, user, path);
  // Back through the proxy's callback to the page first asked for.
  await page.waitForURL(proxyURL + path, { timeout: 15_000 });
  assert.equal(await page.locator('#email').textContent(), user.email);
  assert.equal(await page.locator('#user').textContent(), user.id);
}

/**
 * Runs fn with a page of a fresh browser context; fails on script errors
 * and CSP violations, and adds the proxy's log to any failure.
 */
async function inBrowser(fn) {
  const context = await browser.newContext();
  let page;
  try {
    page = watchErrors(await context.newPage());
    await fn(page);
    assert.deepEqual(page.errors, []);
  } catch (e) {
    e.message += `\n--- the page: ${page?.url()}\n${(await page?.content().catch(() => ''))?.slice(0, 3000)}`;
    e.message += `\n--- oauth2-proxy log ---\n${proxy.logs()}`;
    throw e;
  } finally {
    await context.close();
  }
}

/** The proxy's log lines that contain text. */
const proxyLog = (text) => proxy.logs().split('\n').filter((l) => l.includes(text));

/**
 * Waits until the proxy has logged n lines containing text: its log
 * arrives through a pipe, a moment after the answer the browser saw.
 */
const waitForLog = (text, n = 1) => waitFor(() => proxyLog(text).length >= n, 5000, `${n}× "${text}" in the proxy's log`);

test('oauth2-proxy: Chromium signs in on baton and reaches the app as the user', async () => {
  const user = await verifiedUser();
  await inBrowser(async (page) => {
    await signIn(page, user, '/hello?x=1');
    assert.equal(await page.locator('#username').textContent(), user.username);
    assert.deepEqual(page.errors, []);
    // The proxy's cookie carries the session: another page needs no sign-in.
    await page.goto(proxyURL + '/again');
    assert.equal(await page.locator('#path').textContent(), '/again');
    assert.equal(await page.locator('#email').textContent(), user.email);

    // The proxy refreshes its tokens (baton rotates the refresh token and
    // sends no new ID token, which the proxy allows), twice, so that the
    // rotated token is used too; the user notices nothing.
    for (const path of ['/later', '/later-still']) {
      await sleep(PAST_REFRESH_MS);
      await page.goto(proxyURL + path);
      assert.equal(await page.locator('#path').textContent(), path);
      assert.equal(await page.locator('#email').textContent(), user.email);
    }
    await waitForLog(`Refreshing session - User: ${user.id}`, 2);
    assert.deepEqual(proxyLog('Unable to refresh session'), []);

    // Signing out of the proxy and on through baton's end-session
    // endpoint ends both sessions. Without an id_token_hint (the proxy
    // does not hand the browser one) baton asks the user to confirm
    // (RP-Initiated Logout 1.0 §2); then, back at the app, it asks for
    // the password again.
    const endSession = new URL(op.issuer + '/oauth/logout');
    endSession.searchParams.set('client_id', clientID);
    endSession.searchParams.set('post_logout_redirect_uri', proxyURL + '/');
    await page.goto(`${proxyURL}/oauth2/sign_out?rd=${encodeURIComponent(endSession.href)}`);
    await page.waitForURL((u) => u.origin === op.issuer && u.pathname === '/oauth/logout');
    await page.getByText('oauth2-proxy asks to sign you out').waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((u) => u.origin === op.issuer && u.pathname === '/login', { timeout: 15_000 });
  });
});

test('oauth2-proxy refuses a user whose email baton has not verified', async () => {
  const user = await op.register();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const callback = await signInAtBaton(page, user, '/unverified');
    assert.equal(callback.status(), 403);
    await waitForLog(`email in id_token (${user.email}) isn't verified`);
    assert.equal(await page.locator('#email').count(), 0, 'the app was not reached');
  } finally {
    await context.close();
  }
});

test('oauth2-proxy without a session sends the browser to baton, never to the app', async () => {
  const res = await fetch(proxyURL.replace('localhost', '127.0.0.1') + '/secret', { redirect: 'manual', headers: { Accept: 'text/html' } });
  assert.equal(res.status, 302);
  const loc = new URL(res.headers.get('location'));
  assert.equal(loc.origin + loc.pathname, op.issuer + '/oauth/authorize');
  assert.equal(loc.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(loc.searchParams.get('response_type'), 'code');
});

test('a session baton ends (an administrator locks the user) ends at the proxy at its next refresh', async () => {
  const user = await verifiedUser();
  await inBrowser(async (page) => {
    await signIn(page, user, '/before');
    await op.cli('users', 'lock', user.username);
    await sleep(PAST_REFRESH_MS);
    // The proxy's refresh gets invalid_grant, it drops its session and
    // sends the browser to baton, whose own session is gone as well.
    await page.goto(proxyURL + '/after');
    await page.waitForURL((u) => u.origin === op.issuer && u.pathname === '/login', { timeout: 15_000 });
    // The proxy saw invalid_grant.
    await waitForLog(`Fatal refresh error detected (session revoked or invalid), clearing session for user: ${user.id}`);
  });
});
