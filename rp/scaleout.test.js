// Two baton instances on one PostgreSQL database behind a round-robin
// load balancer, as openid-client sees a scaled-out provider: the client
// registered with the CLI is usable at once on both, and every step of
// the code flow (PAR, the authorization request, the sign-in form, the
// code exchange, refresh, UserInfo, logout) may land on either instance.
// Needs PostgreSQL like the rest of make test (BATON_TEST_DATABASE_URL,
// else postgres://postgres@127.0.0.1:5432/test) and its psql.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request as httpRequest, createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import * as oidc from 'openid-client';
import { startProvider, userAgent, CookieJar, freePort, sleep } from './harness.js';

const run = promisify(execFile);
const adminURL = process.env.BATON_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const REDIRECT = 'https://rp.example.com/callback';
const SIGNED_OUT = 'https://rp.example.com/signed-out';

/** Runs one SQL statement on the admin database. */
const psql = (sql) => run('psql', [adminURL, '-v', 'ON_ERROR_STOP=1', '-qtA', '-c', sql]);

/**
 * A round-robin HTTP load balancer on port in front of backends (set
 * later); counts the requests each backend answered.
 */
function startBalancer(port) {
  const lb = { backends: [], hits: [0, 0] };
  let next = 0;
  const server = createServer((req, res) => {
    const i = next++ % lb.backends.length;
    lb.hits[i]++;
    const target = new URL(lb.backends[i]);
    const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
  });
  lb.stop = () => new Promise((r) => server.close(r));
  return new Promise((res) => server.listen(port, '127.0.0.1', () => res(lb)));
}

let dbName;
let balancer;
let a;
let b;
let rp;
before(async () => {
  dbName = `baton_rp_${process.pid}_${randomBytes(4).toString('hex')}`;
  await psql(`CREATE DATABASE ${dbName}`);
  const dbURL = new URL(adminURL);
  dbURL.pathname = '/' + dbName;
  const port = await freePort();
  balancer = await startBalancer(port);
  const env = { BATON_DATABASE_URL: dbURL.href, BATON_ISSUER: `http://127.0.0.1:${port}` };
  a = await startProvider(env);
  b = await startProvider(env);
  balancer.backends.push(a.url, b.url);
  rp = await a.addClient('scaled-rp', ['--redirect-uri', REDIRECT, '--post-logout-redirect-uri', SIGNED_OUT, '--first-party']);
});
after(async () => {
  await balancer?.stop();
  await a?.stop();
  await b?.stop();
  if (dbName) await psql(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
});

test('openid-client against two instances behind a load balancer: code flow, refresh, UserInfo, logout', async () => {
  const config = await oidc.discovery(new URL(a.issuer), rp.client_id, rp.client_secret, oidc.ClientSecretBasic(), { execute: [oidc.allowInsecureRequests] });
  const user = await a.register();
  const jar = new CookieJar();
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = await oidc.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: REDIRECT,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const { url: callback } = await userAgent(jar, url, { user, redirectUri: REDIRECT });
  const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
  assert.equal(tokens.claims().sub, user.id);
  const r1 = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  const r2 = await oidc.refreshTokenGrant(config, r1.refresh_token);
  for (const t of [tokens, r1, r2]) assert.equal((await oidc.fetchUserInfo(config, t.access_token, user.id)).email, user.email);
  assert.ok(balancer.hits[0] > 3 && balancer.hits[1] > 3, `both instances answered: ${balancer.hits}`);

  const end = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: SIGNED_OUT, state: 'bye' });
  const res = await jar.fetch()(end, { redirect: 'manual' });
  assert.equal(new URL(res.headers.get('location')).searchParams.get('state'), 'bye');
  const e = await oidc.refreshTokenGrant(config, r2.refresh_token).catch((err) => err);
  assert.equal(e.error, 'invalid_grant', String(e));
  // Revocation reaches every instance within a second.
  await sleep(1100);
  for (let i = 0; i < 2; i++) {
    const u = await oidc.fetchUserInfo(config, r2.access_token, user.id).catch((err) => err);
    assert.equal(u.status, 401, `UserInfo after logout (request ${i + 1}): ${u}`);
  }
});
