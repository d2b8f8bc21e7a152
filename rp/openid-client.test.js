// baton as the OpenID provider of openid-client (panva, a certified
// relying-party library), which checks the provider against the
// standards rather than against baton's own idea of them: Discovery 1.0,
// the code flow with PKCE S256, PAR (RFC 9126), iss in the authorization
// response (RFC 9207), ID token validation, refresh-token rotation,
// UserInfo, client_credentials and RP-initiated logout. The user signs in
// on baton's real /login (and /consent) pages, driven without JavaScript.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createServer } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startProvider, userAgent, CookieJar, jwtPayload, jwtHeader } from './harness.js';
import { totp, stepOf, awayFromStepEdge } from '../clients/js/test/totp.js';

// The RP's registered URIs. baton only redirects there; the test reads
// the redirect and never fetches it, so nothing needs to listen.
const REDIRECT = 'https://rp.example.com/callback';
const SIGNED_OUT = 'https://rp.example.com/signed-out';

let op;
let user;
// A confidential, first-party client (no consent page) that may refresh.
let rp;
before(async () => {
  op = await startProvider({ BATON_ACCESS_TTL: '60s' });
  user = await op.register();
  rp = await op.addClient('node-rp', ['--redirect-uri', REDIRECT, '--post-logout-redirect-uri', SIGNED_OUT, '--first-party']);
});
after(async () => {
  await op?.stop();
});

/** openid-client's configuration of a client, by discovery (plain http on loopback). */
function discover(client, metadata = {}, auth) {
  const meta = { ...metadata };
  if (client.client_secret) meta.client_secret = client.client_secret;
  return oidc.discovery(new URL(op.issuer), client.client_id, meta, auth ?? (client.client_secret ? oidc.ClientSecretBasic() : oidc.None()), {
    execute: [oidc.allowInsecureRequests],
  });
}

/**
 * An authorization request as an RP builds it: PKCE S256, state and
 * nonce, pushed first (PAR) unless par is false. Returns the URL to send
 * the browser to and what the callback is checked against.
 */
async function authorize(config, { scope = 'openid profile email offline_access', par = true, extra = {} } = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const params = {
    redirect_uri: REDIRECT,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  };
  const url = par ? await oidc.buildAuthorizationUrlWithPAR(config, params) : oidc.buildAuthorizationUrl(config, params);
  const checks = { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true };
  // openid-client then checks auth_time against it.
  if (params.max_age !== undefined) checks.maxAge = Number(params.max_age);
  return { url, checks };
}

/**
 * One authorization code flow: the user agent signs in (or rides the SSO
 * session in jar) and openid-client validates the callback and redeems
 * the code. Returns the token response, the callback URL and the pages
 * shown.
 */
async function codeFlow(config, { jar = new CookieJar(), who = user, decision, code, ...request } = {}) {
  const { url, checks } = await authorize(config, request);
  const { url: callback, pages } = await userAgent(jar, url, { user: who, redirectUri: REDIRECT, decision, code });
  const tokens = await oidc.authorizationCodeGrant(config, callback, checks);
  return { tokens, callback, pages, jar };
}

/** Runs fn and returns the OAuth error it threw (openid-client's ResponseBodyError and kin). */
async function oauthError(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected an OAuth error, got success');
}

test('discovery: openid-client accepts the metadata, which advertises what baton does', async () => {
  const config = await discover(rp);
  const m = config.serverMetadata();
  assert.equal(m.issuer, op.issuer);
  for (const [k, path] of Object.entries({
    authorization_endpoint: '/oauth/authorize',
    token_endpoint: '/oauth/token',
    userinfo_endpoint: '/oauth/userinfo',
    end_session_endpoint: '/oauth/logout',
    pushed_authorization_request_endpoint: '/oauth/par',
  })) {
    assert.equal(m[k], op.issuer + path, k);
  }
  assert.ok(m.jwks_uri?.startsWith(op.issuer), `jwks_uri ${m.jwks_uri}`);
  assert.deepEqual(m.response_types_supported, ['code']);
  assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
  assert.equal(m.authorization_response_iss_parameter_supported, true);
  for (const alg of ['RS256', 'ES256', 'EdDSA']) assert.ok(m.id_token_signing_alg_values_supported.includes(alg), alg);
  for (const g of ['authorization_code', 'refresh_token', 'client_credentials']) assert.ok(m.grant_types_supported.includes(g), g);
  for (const a of ['client_secret_basic', 'client_secret_post', 'none']) assert.ok(m.token_endpoint_auth_methods_supported.includes(a), a);
  for (const s of ['openid', 'profile', 'email', 'offline_access']) assert.ok(m.scopes_supported.includes(s), s);
  assert.ok(m.subject_types_supported.includes('public'));
  // The JWKS holds the keys of every ID-token algorithm.
  const jwks = await (await fetch(m.jwks_uri)).json();
  const kty = new Set(jwks.keys.map((k) => (k.kty === 'OKP' ? `OKP/${k.crv}` : k.kty === 'EC' ? `EC/${k.crv}` : k.kty)));
  for (const want of ['RSA', 'EC/P-256', 'OKP/Ed25519']) assert.ok(kty.has(want), `JWKS lacks ${want}: ${[...kty]}`);
});

test('PAR + code flow: baton /login, then openid-client validates the callback and the ID token', async () => {
  const config = await discover(rp);
  const { tokens, callback, pages } = await codeFlow(config);
  // The pushed request travels by reference only.
  assert.deepEqual(pages, ['/login'], 'a first-party client shows the sign-in page and no consent');
  assert.equal(callback.searchParams.get('iss'), op.issuer);
  assert.ok(tokens.access_token);
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.ok(tokens.refresh_token, 'offline_access and the refresh_token grant give a refresh token');
  assert.ok(tokens.expires_in > 0 && tokens.expires_in <= 60);
  const id = tokens.claims();
  assert.equal(id.iss, op.issuer);
  assert.equal(id.sub, user.id);
  assert.equal(id.aud, rp.client_id);
  assert.equal(id.preferred_username, user.username);
  assert.equal(id.email, user.email);
  assert.equal(id.email_verified, false);
  assert.ok(id.sid, 'sid');
  assert.ok(id.auth_time <= id.iat, 'auth_time');
  assert.ok(id.amr.includes('pwd'), `amr ${id.amr}`);
  assert.equal(jwtHeader(tokens.id_token).alg, 'RS256');
  // The access token keeps the RFC 9068 profile.
  assert.equal(jwtHeader(tokens.access_token).typ, 'at+jwt');
  const at = jwtPayload(tokens.access_token);
  assert.equal(at.sub, user.id);
  assert.equal(at.client_id, rp.client_id);
  assert.deepEqual(at.scope.split(' ').sort(), ['email', 'offline_access', 'openid', 'profile']);
});

test('the authorization request without PAR works too; the same browser then gets codes from the SSO session with no page, for this client and another', async () => {
  const config = await discover(rp);
  const jar = new CookieJar();
  const first = await codeFlow(config, { jar, par: false });
  assert.deepEqual(first.pages, ['/login']);
  // Same browser, again: no page at all.
  const again = await codeFlow(config, { jar, par: false });
  assert.deepEqual(again.pages, [], 'the single-sign-on session gives a code without a password');
  assert.equal(again.tokens.claims().sub, user.id);
  assert.equal(again.tokens.claims().auth_time, first.tokens.claims().auth_time, 'auth_time is the sign-in, not the request');
  // Another client in the same browser: no page either.
  const other = await op.addClient('node-rp-2', ['--redirect-uri', REDIRECT, '--first-party']);
  const second = await codeFlow(await discover(other), { jar, par: false });
  assert.deepEqual(second.pages, []);
  assert.equal(second.tokens.claims().aud, other.client_id);
  assert.equal(second.tokens.claims().sub, user.id);
});

test('prompt=login and an exceeded max_age make the user sign in again; auth_time moves', async () => {
  const config = await discover(rp);
  const jar = new CookieJar();
  const first = await codeFlow(config, { jar });
  // auth_time counts seconds.
  await new Promise((r) => setTimeout(r, 1100));
  const forced = await codeFlow(config, { jar, extra: { prompt: 'login' } });
  assert.deepEqual(forced.pages, ['/login']);
  assert.ok(forced.tokens.claims().auth_time > first.tokens.claims().auth_time);
  await new Promise((r) => setTimeout(r, 1100));
  const aged = await codeFlow(config, { jar, extra: { max_age: '1' } });
  assert.deepEqual(aged.pages, ['/login'], 'the sign-in is older than max_age');
  assert.ok(aged.tokens.claims().auth_time > forced.tokens.claims().auth_time);
  const young = await codeFlow(config, { jar, extra: { max_age: '3600' } });
  assert.deepEqual(young.pages, [], 'a recent sign-in is young enough');
});

test('every answer that carries a token or a one-time reference says Cache-Control: no-store (RFC 6749 §5.1; PAR and UserInfo likewise)', async () => {
  const config = await discover(rp);
  const seen = [];
  config[oidc.customFetch] = async (url, options) => {
    const res = await fetch(url, options);
    seen.push({ path: new URL(url).pathname, status: res.status, cacheControl: res.headers.get('cache-control') });
    return res;
  };
  const { tokens } = await codeFlow(config);
  await oidc.refreshTokenGrant(config, tokens.refresh_token);
  await oidc.fetchUserInfo(config, tokens.access_token, user.id);
  const answers = seen.filter((r) => r.path.startsWith('/oauth/'));
  assert.deepEqual(answers.map((r) => `${r.path} ${r.status}`), ['/oauth/par 201', '/oauth/token 200', '/oauth/token 200', '/oauth/userinfo 200']);
  for (const r of answers) assert.match(r.cacheControl ?? '', /no-store/, `${r.path}: Cache-Control ${r.cacheControl}`);
});

test('an authorization code is single use; redeeming it again revokes what it issued', async () => {
  const config = await discover(rp);
  const { url, checks } = await authorize(config, { scope: 'openid offline_access' });
  const { url: callback } = await userAgent(new CookieJar(), url, { user, redirectUri: REDIRECT });
  const tokens = await oidc.authorizationCodeGrant(config, callback, checks);
  const replay = await oauthError(() => oidc.authorizationCodeGrant(config, callback, checks));
  assert.equal(replay.error, 'invalid_grant', String(replay));
  const refresh = await oauthError(() => oidc.refreshTokenGrant(config, tokens.refresh_token));
  assert.equal(refresh.error, 'invalid_grant', 'the session issued from a replayed code is revoked');
});

/** POSTs body as JSON to path with an access token; returns the parsed answer, which must have status. */
async function callAPI(path, accessToken, body, status = 200) {
  const res = await fetch(op.issuer + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, status, `POST ${path} → ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

test('a user with TOTP signs in with password and code; the ID token says so (amr pwd, otp, mfa)', async () => {
  const someone = await op.register();
  const login = await callAPI('/v1/login', null, { username: someone.username, password: someone.password });
  await awayFromStepEdge();
  const { secret } = await callAPI('/v1/mfa/totp', login.access_token, {});
  const step = stepOf();
  await callAPI('/v1/mfa/totp/confirm', login.access_token, { code: totp(secret, step) });
  // Each step's code counts once: the sign-in uses the next step's.
  const config = await discover(rp);
  const { tokens, pages } = await codeFlow(config, { who: someone, code: () => totp(secret, step + 1) });
  assert.deepEqual(pages, ['/login', '/login']);
  const amr = tokens.claims().amr;
  for (const m of ['pwd', 'otp', 'mfa']) assert.ok(amr.includes(m), `amr ${amr} lacks ${m}`);
});

test('a wrong PKCE verifier is refused', async () => {
  const config = await discover(rp);
  const { url, checks } = await authorize(config, { scope: 'openid' });
  const { url: callback } = await userAgent(new CookieJar(), url, { user, redirectUri: REDIRECT });
  const e = await oauthError(() => oidc.authorizationCodeGrant(config, callback, { ...checks, pkceCodeVerifier: oidc.randomPKCECodeVerifier() }));
  assert.equal(e.error, 'invalid_grant', String(e));
});

test('refresh: the token rotates; within the grace window the spent one gets the same successor; reuse after that ends the session', async () => {
  const config = await discover(rp);
  const { tokens } = await codeFlow(config);
  const a = tokens.refresh_token;
  const r1 = await oidc.refreshTokenGrant(config, a);
  const b = r1.refresh_token;
  assert.ok(b, 'a new refresh token');
  assert.notEqual(b, a, 'the refresh token rotates');
  assert.notEqual(r1.access_token, tokens.access_token);
  assert.equal(jwtPayload(r1.access_token).sub, user.id);
  if (r1.id_token) assert.equal(r1.claims().sub, user.id);
  // Grace (BATON_REUSE_GRACE, 10 s): a lost answer is retried safely.
  const r1again = await oidc.refreshTokenGrant(config, a);
  assert.equal(r1again.refresh_token, b, 'the spent token within the grace window gets the same successor');
  // Once b is spent too, a is reuse: the whole family is revoked.
  const r2 = await oidc.refreshTokenGrant(config, b);
  const c = r2.refresh_token;
  assert.ok(c && c !== b && c !== a);
  const reuse = await oauthError(() => oidc.refreshTokenGrant(config, a));
  assert.equal(reuse.error, 'invalid_grant', String(reuse));
  const after = await oauthError(() => oidc.refreshTokenGrant(config, c));
  assert.equal(after.error, 'invalid_grant', 'reuse revoked the session, so its newest token fails too');
  const ui = await oauthError(() => oidc.fetchUserInfo(config, r2.access_token, user.id));
  assert.equal(ui.status ?? ui.cause?.status, 401, `the revoked session's access token is refused at UserInfo: ${ui}`);
  // RFC 6750 §3: the 401 says why in WWW-Authenticate.
  assert.ok(ui instanceof oidc.WWWAuthenticateChallengeError, `a 401 without a WWW-Authenticate challenge: ${ui}`);
  assert.equal(ui.cause[0]?.parameters?.error, 'invalid_token');
});

test('refresh may narrow the scope', async () => {
  const config = await discover(rp);
  const { tokens } = await codeFlow(config);
  const narrowed = await oidc.refreshTokenGrant(config, tokens.refresh_token, { scope: 'openid offline_access' });
  assert.deepEqual(jwtPayload(narrowed.access_token).scope.split(' ').sort(), ['offline_access', 'openid']);
});

test('UserInfo returns sub and the claims the scopes allow', async () => {
  const config = await discover(rp);
  const wide = await codeFlow(config);
  const info = await oidc.fetchUserInfo(config, wide.tokens.access_token, user.id);
  assert.equal(info.sub, user.id);
  assert.equal(info.preferred_username, user.username);
  assert.equal(info.email, user.email);
  assert.equal(info.email_verified, false);
  // (A refresh token comes whenever the client may refresh, offline_access or not.)
  const narrow = await codeFlow(config, { scope: 'openid' });
  const bare = await oidc.fetchUserInfo(config, narrow.tokens.access_token, user.id);
  assert.deepEqual(Object.keys(bare), ['sub']);
});

test('ID tokens in each algorithm a client can choose verify against the JWKS', async (t) => {
  for (const alg of ['RS256', 'ES256', 'EdDSA']) {
    await t.test(alg, async () => {
      const client = await op.addClient(`node-rp-${alg}`, ['--redirect-uri', REDIRECT, '--first-party', '--id-token-alg', alg]);
      const config = await discover(client, { id_token_signed_response_alg: alg });
      const { tokens } = await codeFlow(config, { scope: 'openid' });
      assert.equal(jwtHeader(tokens.id_token).alg, alg);
      assert.equal(tokens.claims().aud, client.client_id);
    });
  }
});

test('a third-party client gets the consent page once; client_secret_post; a denial reaches the RP as access_denied', async () => {
  const client = await op.addClient('third-party-rp', ['--redirect-uri', REDIRECT]);
  assert.ok(client.client_secret, 'a confidential client gets a secret');
  const config = await discover(client, {}, oidc.ClientSecretPost());
  const someone = await op.register();
  const jar = new CookieJar();
  const first = await codeFlow(config, { jar, who: someone });
  assert.deepEqual(first.pages, ['/login', '/consent']);
  assert.equal(first.tokens.claims().sub, someone.id);
  // Remembered: the same browser gets a code with no page.
  const second = await codeFlow(config, { jar, who: someone });
  assert.deepEqual(second.pages, []);
  // Another user says no.
  const other = await op.register();
  const denied = await oauthError(() => codeFlow(config, { who: other, decision: 'deny' }));
  assert.equal(denied.error, 'access_denied', String(denied));
});

test('client_credentials with a confidential client: an access token for the client itself', async () => {
  const client = await op.addClient('service', ['--redirect-uri', REDIRECT, '--grant-types', 'client_credentials']);
  const config = await discover(client);
  const tokens = await oidc.clientCredentialsGrant(config);
  assert.ok(tokens.access_token);
  assert.equal(tokens.refresh_token, undefined);
  assert.equal(tokens.id_token, undefined);
  const at = jwtPayload(tokens.access_token);
  assert.equal(at.sub, client.client_id);
  assert.equal(at.client_id, client.client_id);
  // A wrong secret is 401 invalid_client, with a WWW-Authenticate
  // challenge (RFC 6749 §5.2 for HTTP Basic, RFC 9110 §15.5.2 for any
  // 401), which openid-client reports before the body.
  const wrong = { ...client, client_secret: client.client_secret + 'x' };
  for (const auth of [oidc.ClientSecretBasic(), oidc.ClientSecretPost()]) {
    const e = await oauthError(async () => oidc.clientCredentialsGrant(await discover(wrong, {}, auth)));
    assert.ok(e instanceof oidc.WWWAuthenticateChallengeError, String(e));
    assert.equal(e.status, 401);
    assert.equal(e.cause[0]?.scheme, 'basic');
    assert.equal((await e.response.json()).error, 'invalid_client');
  }
  // The code-flow client may not use the grant.
  const notAllowed = await oauthError(async () => oidc.clientCredentialsGrant(await discover(rp)));
  assert.equal(notAllowed.error, 'unauthorized_client', String(notAllowed));
});

test('RP-initiated logout: the end-session URL ends the SSO session and the sessions it issued', async () => {
  const config = await discover(rp);
  const jar = new CookieJar();
  const { tokens } = await codeFlow(config, { jar });
  const state = oidc.randomState();
  const url = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: SIGNED_OUT, state });
  assert.equal(url.origin + url.pathname, op.issuer + '/oauth/logout');
  const res = await jar.fetch()(url, { redirect: 'manual' });
  assert.ok([302, 303].includes(res.status), `GET /oauth/logout → ${res.status}`);
  const back = new URL(res.headers.get('location'));
  assert.equal(back.origin + back.pathname, SIGNED_OUT);
  assert.equal(back.searchParams.get('state'), state);
  // The client's session is over.
  const refresh = await oauthError(() => oidc.refreshTokenGrant(config, tokens.refresh_token));
  assert.equal(refresh.error, 'invalid_grant', String(refresh));
  const ui = await oauthError(() => oidc.fetchUserInfo(config, tokens.access_token, user.id));
  assert.equal(ui.status ?? ui.cause?.status, 401, String(ui));
  // And so is the browser's SSO session: prompt=none now gets login_required.
  const e = await oauthError(() => codeFlow(config, { jar, par: false, extra: { prompt: 'none' } }));
  assert.equal(e.error, 'login_required', String(e));
});

test('RP-initiated logout refuses an unregistered post_logout_redirect_uri', async () => {
  const config = await discover(rp);
  const jar = new CookieJar();
  const { tokens } = await codeFlow(config, { jar });
  const url = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: 'https://evil.example.com/' });
  const res = await jar.fetch()(url, { redirect: 'manual' });
  const loc = res.headers.get('location');
  assert.ok(!loc || !loc.startsWith('https://evil.example.com'), `redirected to ${loc}`);
});

/**
 * A back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0)
 * that collects the logout tokens POSTed to it.
 */
function startLogoutReceiver() {
  const tokens = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      tokens.push({ contentType: req.headers['content-type'], method: req.method, form: new URLSearchParams(body) });
      res.writeHead(200, { 'Cache-Control': 'no-store' });
      res.end();
    });
  });
  return new Promise((r) =>
    server.listen(0, '127.0.0.1', () => r({ url: `http://127.0.0.1:${server.address().port}/backchannel-logout`, tokens, stop: () => new Promise((c) => server.close(c)) })),
  );
}

test('back-channel logout: the RP receives a logout token it can validate as the spec says (§2.6)', async () => {
  const receiver = await startLogoutReceiver();
  try {
    const client = await op.addClient('bcl-rp', ['--redirect-uri', REDIRECT, '--post-logout-redirect-uri', SIGNED_OUT, '--first-party', '--backchannel-logout-uri', receiver.url]);
    const config = await discover(client);
    assert.equal(config.serverMetadata().backchannel_logout_supported, true);
    assert.equal(config.serverMetadata().backchannel_logout_session_supported, true);
    const jar = new CookieJar();
    const { tokens } = await codeFlow(config, { jar });
    const id = tokens.claims();
    const res = await jar.fetch()(oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: SIGNED_OUT }), { redirect: 'manual' });
    assert.ok([302, 303].includes(res.status), `GET /oauth/logout → ${res.status}`);
    // Delivery is asynchronous (durable, retried): wait for it.
    const until = Date.now() + 15_000;
    while (receiver.tokens.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.equal(receiver.tokens.length, 1, 'one logout token for the one session');
    const got = receiver.tokens[0];
    assert.equal(got.method, 'POST');
    assert.match(got.contentType, /^application\/x-www-form-urlencoded/);
    const logoutToken = got.form.get('logout_token');
    assert.ok(logoutToken, 'logout_token form field');
    const { payload, protectedHeader } = await jwtVerify(logoutToken, createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri)), {
      issuer: op.issuer,
      audience: client.client_id,
      requiredClaims: ['iat', 'exp', 'jti'],
      maxTokenAge: '2m',
    });
    assert.equal(protectedHeader.alg, 'RS256', 'signed like the client\'s ID tokens');
    assert.equal(protectedHeader.typ, 'logout+jwt');
    assert.deepEqual(payload.events, { 'http://schemas.openid.net/event/backchannel-logout': {} });
    assert.equal(payload.sub, id.sub);
    assert.equal(payload.sid, id.sid, 'the sid of the ID token, so the RP finds its session');
    assert.equal(payload.nonce, undefined, 'a logout token has no nonce');
  } finally {
    await receiver.stop();
  }
});
