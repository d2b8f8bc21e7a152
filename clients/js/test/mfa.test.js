// Second factors through the client against a real baton: TOTP enrolment,
// the two-step login and reauth, recovery codes, turning TOTP off. The
// codes come from the test's own RFC 6238 (test/totp.js), checked first
// against the RFC's vectors. baton accepts a code of its step and the steps
// either side, each step once per user and only after the last used one,
// so a user's codes are taken as confirm → step-1, login → step,
// reauth → step+1 (all without waiting for the clock).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BatonClient, BatonError, MemoryStorage, NoSessionError } from '../dist/index.js';
import { startBaton, CookieJar, newUser } from './harness.js';
import { hotp, totp, stepOf, awayFromStepEdge } from './totp.js';

const FRESH_MS = 30_000;
let server;

before(async () => {
  server = await startBaton({ BATON_FRESH_TTL: `${FRESH_MS / 1000}s` });
});

after(async () => {
  await server?.stop();
});

const is = (status, code) => (e) => e instanceof BatonError && e.status === status && e.code === code;

function newClient(transport = 'body') {
  const jar = new CookieJar();
  return new BatonClient({ baseUrl: server.url, transport, crossTab: false, storage: new MemoryStorage(), fetch: jar.fetch(), getCookie: (n) => jar.get(n) });
}

/** The payload of a JWT (the access token), to read amr. */
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

/** A registered user with TOTP on; returns the client that enrolled, the secret and the recovery codes. */
async function enrolled(transport = 'body') {
  await awayFromStepEdge();
  const u = newUser();
  const c = newClient(transport);
  await c.register(u.username, u.password);
  const first = await c.login(u.username, u.password);
  // A user without a second factor: the token response, as before.
  assert.equal(first.mfaRequired, undefined);
  assert.equal(first.session_id, c.currentSessionId);
  assert.deepEqual((await c.me()).mfa, { totp: false, passkeys: 0, recovery_codes_left: 0 });
  await assert.rejects(c.totpQrCode(), is(404, 'not_found'));
  const e = await c.beginTotp();
  assert.match(e.secret, /^[A-Z2-7]{32}$/);
  const uri = new URL(e.otpauth_uri);
  assert.equal(uri.protocol, 'otpauth:');
  assert.equal(uri.searchParams.get('secret'), e.secret);
  const qr = await c.totpQrCode();
  assert.equal(qr.type, 'image/png');
  assert.deepEqual([...new Uint8Array(await qr.slice(0, 8).arrayBuffer())], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  await assert.rejects(c.confirmTotp('12345x'), is(400, 'invalid_code'));
  const step = stepOf();
  const wrong = ['000000', '999999'].find((x) => ![step - 1, step, step + 1].some((s) => totp(e.secret, s) === x));
  await assert.rejects(c.confirmTotp(wrong), is(400, 'invalid_code'));
  const codes = await c.confirmTotp(totp(e.secret, step - 1));
  assert.equal(codes.length, 10);
  assert.equal(new Set(codes).size, 10);
  for (const rc of codes) assert.match(rc, /^[a-z2-9]{5}-[a-z2-9]{5}$/);
  assert.deepEqual((await c.me()).mfa, { totp: true, passkeys: 0, recovery_codes_left: 10 });
  // With TOTP on, this token (fresh, but from before the factor) cannot
  // replace or read it.
  await assert.rejects(c.totpQrCode(), is(401, 'insufficient_user_authentication'));
  return { c, u, secret: e.secret, codes, step };
}

test("the test's TOTP gives RFC 6238's SHA-1 vectors (Appendix B)", () => {
  const secret = Buffer.from('12345678901234567890');
  for (const [t, want] of [
    [59, '94287082'],
    [1111111109, '07081804'],
    [1111111111, '14050471'],
    [1234567890, '89005924'],
    [2000000000, '69279037'],
    [20000000000, '65353130'],
  ]) {
    assert.equal(hotp(secret, Math.floor(t / 30), 8), want, `T=${t}`);
  }
});

for (const transport of ['body', 'refresh_cookie', 'cookies']) {
  test(`${transport}: enrol TOTP, then login() asks for the code and completeLogin() signs in`, async () => {
    const { c: enroller, u, secret, step } = await enrolled(transport);
    enroller.close();
    const c = newClient(transport);
    try {
      const r = await c.login(u.username, u.password);
      assert.deepEqual(r, { mfaRequired: true, methods: ['totp', 'recovery_code'], expiresInMs: 300_000 });
      assert.equal(c.loggedIn, false);
      assert.deepEqual(c.pendingSecondFactor, { purpose: 'login', methods: ['totp', 'recovery_code'] });
      await assert.rejects(c.me(), NoSessionError);
      // A wrong code: refused, and the step stays open.
      await assert.rejects(c.completeLogin({ totp: totp(secret, step - 5) }), is(401, 'invalid_credentials'));
      await assert.rejects(c.completeLogin({ totp: 'abc' }), is(400, 'invalid_code'));
      assert.notEqual(c.pendingSecondFactor, null);
      const tr = await c.completeLogin({ totp: totp(secret, step) });
      assert.equal(c.loggedIn, true);
      assert.equal(tr.session_id, c.currentSessionId);
      assert.equal(c.pendingSecondFactor, null);
      assert.equal((await c.me()).username, u.username);
      if (transport === 'cookies') assert.equal(tr.access_token, undefined);
      else assert.deepEqual(claims(tr.access_token).amr, ['pwd', 'otp', 'mfa']);
      if (transport === 'body') assert.match(tr.refresh_token, /^brt_/);
      // The session refreshes like any other.
      await c.refresh();
      assert.equal((await c.me()).session_id, tr.session_id);
      // The step is over.
      await assert.rejects(c.completeLogin({ totp: totp(secret, step + 1) }), is(401, 'invalid_grant'));
      await c.logout();
    } finally {
      c.close();
    }
  });
}

test('a used code is refused; a recovery code signs in once', async () => {
  const { c: enroller, u, secret, codes, step } = await enrolled();
  enroller.close();
  const c = newClient();
  try {
    assert.equal((await c.login(u.username, u.password)).mfaRequired, true);
    await c.completeLogin({ totp: totp(secret, step) });
    await c.logout();
    assert.equal((await c.login(u.username, u.password)).mfaRequired, true);
    // The same code again (a replay), and the step before it.
    await assert.rejects(c.completeLogin({ totp: totp(secret, step) }), is(401, 'invalid_credentials'));
    await assert.rejects(c.completeLogin({ totp: totp(secret, step - 1) }), is(401, 'invalid_credentials'));
    // Recovery codes are typed however: upper case, without the dash.
    const tr = await c.completeLogin({ recoveryCode: codes[3].replace('-', '').toUpperCase() });
    assert.equal(tr.session_id, c.currentSessionId);
    assert.equal((await c.me()).mfa.recovery_codes_left, 9);
    await c.logout();
    assert.equal((await c.login(u.username, u.password)).mfaRequired, true);
    await assert.rejects(c.completeLogin({ recoveryCode: codes[3] }), is(401, 'invalid_credentials'));
    await c.completeLogin({ recoveryCode: codes[4] });
    assert.equal((await c.me()).mfa.recovery_codes_left, 8);
  } finally {
    c.close();
  }
});

test('five wrong codes end the step; completeLogin without one says invalid_grant', async () => {
  const { c: enroller, u, secret, step } = await enrolled();
  enroller.close();
  const c = newClient();
  try {
    await assert.rejects(c.completeLogin({ totp: '123456' }), is(401, 'invalid_grant'));
    await c.login(u.username, u.password);
    for (let i = 0; i < 5; i++) await assert.rejects(c.completeLogin({ recoveryCode: 'aaaaa-aaaaa' }), is(401, 'invalid_credentials'));
    await assert.rejects(c.completeLogin({ totp: totp(secret, step) }), is(401, 'invalid_grant'));
    assert.equal(c.pendingSecondFactor, null);
    assert.equal(c.loggedIn, false);
    // A wrong password is what it always was.
    await assert.rejects(c.login(u.username, 'not the password'), is(401, 'invalid_credentials'));
    assert.equal(c.pendingSecondFactor, null);
  } finally {
    c.close();
  }
});

test('turning TOTP off, new recovery codes and a new enrolment need a reauth with the second factor', async () => {
  const { c, u, secret, codes, step } = await enrolled('refresh_cookie');
  try {
    const sid = c.currentSessionId;
    // The enrolment's token is fresh but did not use the factor.
    await assert.rejects(c.disableTotp(), is(401, 'insufficient_user_authentication'));
    await assert.rejects(c.regenerateRecoveryCodes(), is(401, 'insufficient_user_authentication'));
    await assert.rejects(c.beginTotp(), is(401, 'insufficient_user_authentication'));
    await assert.rejects(c.reauth('not the password'), is(401, 'invalid_credentials'));
    const r = await c.reauth(u.password);
    assert.deepEqual(r, { mfaRequired: true, methods: ['totp', 'recovery_code'], expiresInMs: 300_000 });
    assert.deepEqual(c.pendingSecondFactor, { purpose: 'reauth', methods: ['totp', 'recovery_code'] });
    assert.equal(c.loggedIn, true); // the session goes on meanwhile
    await assert.rejects(c.completeLogin({ totp: totp(secret, step - 5) }), is(401, 'invalid_credentials'));
    const tr = await c.completeLogin({ totp: totp(secret, step + 1) });
    assert.equal(tr.session_id, sid);
    assert.equal(c.currentSessionId, sid);
    assert.equal(tr.refresh_token, undefined);
    assert.deepEqual(claims(tr.access_token).amr, ['pwd', 'otp', 'mfa']);

    const fresh = await c.regenerateRecoveryCodes();
    assert.equal(fresh.length, 10);
    assert.ok(!fresh.some((x) => codes.includes(x)));
    assert.equal((await c.me()).mfa.recovery_codes_left, 10);
    const other = newClient();
    try {
      await other.login(u.username, u.password);
      await assert.rejects(other.completeLogin({ recoveryCode: codes[0] }), is(401, 'invalid_credentials')); // the old set died
      await other.completeLogin({ recoveryCode: fresh[0] });
      assert.equal(other.loggedIn, true);
    } finally {
      other.close();
    }

    await c.disableTotp();
    assert.deepEqual((await c.me()).mfa, { totp: false, passkeys: 0, recovery_codes_left: 0 });
    await assert.rejects(c.disableTotp(), is(404, 'not_found'));
    await assert.rejects(c.regenerateRecoveryCodes(), is(404, 'not_found'));
    // One step again.
    const again = newClient();
    try {
      assert.match((await again.login(u.username, u.password)).access_token, /^ey/);
    } finally {
      again.close();
    }
  } finally {
    c.close();
  }
});

test('a reauth step does not revive a session that ended meanwhile', async () => {
  const { c, u, secret, step } = await enrolled();
  try {
    assert.equal((await c.reauth(u.password)).mfaRequired, true);
    await c.logout();
    assert.equal(c.pendingSecondFactor, null);
    await assert.rejects(c.completeLogin({ totp: totp(secret, step) }), is(401, 'invalid_grant'));
    assert.equal(c.loggedIn, false);
  } finally {
    c.close();
  }
});

test('an mfa_token never leaves the client', async () => {
  const { c: enroller, u } = await enrolled();
  enroller.close();
  const seen = [];
  const c = new BatonClient({
    baseUrl: server.url,
    crossTab: false,
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      const text = await res.clone().text();
      const m = /"mfa_token":"([^"]+)"/.exec(text);
      if (m) seen.push(m[1]);
      return res;
    },
  });
  try {
    const r = await c.login(u.username, u.password);
    assert.equal(seen.length, 1);
    assert.ok(!JSON.stringify(r).includes(seen[0]));
    assert.ok(!JSON.stringify(c.pendingSecondFactor).includes(seen[0]));
    assert.ok(!Object.values(r).includes(seen[0]));
  } finally {
    c.close();
  }
});
