// Email verification, password reset and email change against a real
// baton that delivers its messages over SMTP to a real SMTP server
// (internal/smtpsink); the tests take the tokens from the links in the
// messages, as a user would.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BatonClient, BatonError, NoSessionError } from '../dist/index.js';
import { startBaton, startMailSink, newUser, sleep } from './harness.js';

const FRESH_MS = 3000;
let server;
let sink;

before(async () => {
  sink = await startMailSink();
  server = await startBaton({ ...sink.env, BATON_FRESH_TTL: `${FRESH_MS / 1000}s` });
});

after(async () => {
  await server?.stop();
  await sink?.stop();
});

const client = () => new BatonClient({ baseUrl: server.url, crossTab: false });

/** The token of the next message to `to` whose link opens `page`, after `seen` such messages. */
async function linkToken(to, page, seen = 0) {
  const matches = (m) => m.to.includes(to) && m.link.includes(`/account/${page}#`);
  let found;
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    const all = (await sink.messages()).filter(matches);
    if (all.length > seen) {
      found = all[seen];
      break;
    }
    await sleep(50);
  }
  assert.ok(found, `no message to ${to} with a ${page} link`);
  assert.ok(found.link.startsWith(server.url + `/account/${page}#token=`), found.link);
  return new URLSearchParams(new URL(found.link).hash.slice(1)).get('token');
}

const is = (status, code) => (e) => e instanceof BatonError && e.status === status && e.code === code;

test('registration with an address: the link verifies it, once', async () => {
  const c = client();
  try {
    const u = newUser();
    const reg = await c.register(u.username, u.password, 'other-' + u.username);
    assert.equal(reg.email, 'other-' + u.username);
    assert.equal(reg.email_verified, false);
    const token = await linkToken('other-' + u.username, 'verify-email');
    assert.deepEqual(await c.verifyEmail(token), { email: 'other-' + u.username, email_verified: true });
    await assert.rejects(c.verifyEmail(token), is(400, 'invalid_link'));
    await assert.rejects(c.verifyEmail('bve_nonsense'), is(400, 'invalid_link'));
    await c.login(u.username, u.password);
    const me = await c.me();
    assert.equal(me.email_verified, true);
    await assert.rejects(c.resendVerification(), is(409, 'already_verified'));
  } finally {
    c.close();
  }
});

test('resendVerification sends a new link; no_email without an address', async () => {
  const c = client();
  try {
    const u = newUser(); // the username is an address, so it is the email too
    await c.register(u.username, u.password);
    await c.login(u.username, u.password);
    assert.equal((await c.me()).email, u.username);
    await linkToken(u.username, 'verify-email');
    await c.resendVerification();
    const second = await linkToken(u.username, 'verify-email', 1);
    assert.equal((await c.verifyEmail(second)).email, u.username);
    assert.equal((await c.me()).email_verified, true);
    await assert.rejects(client().resendVerification(), NoSessionError);
  } finally {
    c.close();
  }
  const bare = client();
  try {
    const name = `bare${process.pid}${Date.now()}`;
    await bare.register(name, 'correct horse battery staple');
    await bare.login(name, 'correct horse battery staple');
    await assert.rejects(bare.resendVerification(), is(400, 'no_email'));
  } finally {
    bare.close();
  }
});

test('forgotPassword and resetPassword: weak refused with the token still usable, then every session ends', async () => {
  const u = newUser();
  const old = client();
  const c = client();
  try {
    await c.register(u.username, u.password);
    await old.login(u.username, u.password);
    const ended = [];
    old.onSessionEnd((r) => ended.push(r));
    // The same answer whether or not the account exists.
    await c.forgotPassword({ username: 'nobody-' + u.username });
    await c.forgotPassword({ email: 'nobody-' + u.username });
    await c.forgotPassword({ email: u.username });
    const token = await linkToken(u.username, 'reset-password');
    await assert.rejects(c.resetPassword(token, 'password123'), is(400, 'weak_password'));
    await c.resetPassword(token, u.password + ' renewed');
    await assert.rejects(c.resetPassword(token, u.password + ' again'), is(400, 'invalid_link'));
    // The old session ends at its next call.
    const res = await old.fetch('/v1/me');
    assert.equal(res.status, 401);
    assert.deepEqual(ended, ['revoked']);
    await assert.rejects(c.login(u.username, u.password), is(401, 'invalid_credentials'));
    await c.login(u.username, u.password + ' renewed');
    assert.equal((await c.me()).email_verified, true); // the link reached the address
    // By username too.
    await c.forgotPassword({ username: u.username });
    assert.ok(await linkToken(u.username, 'reset-password', 1));
  } finally {
    old.close();
    c.close();
  }
});

test('changeEmail needs a fresh token; the link to the new address switches it', async () => {
  const u = newUser();
  const taken = newUser();
  const c = client();
  try {
    await client().register(taken.username, taken.password);
    await c.register(u.username, u.password);
    await c.login(u.username, u.password);
    await assert.rejects(c.changeEmail('not an address'), is(400, 'invalid_email'));
    await assert.rejects(c.changeEmail(taken.username), is(409, 'email_taken'));
    await sleep(FRESH_MS + 500);
    await assert.rejects(c.changeEmail('new-' + u.username), is(401, 'insufficient_user_authentication'));
    assert.equal(c.loggedIn, true, 'a stale token is no reason to end the session');
    await c.reauth(u.password);
    await c.changeEmail('new-' + u.username);
    assert.equal((await c.me()).email, u.username, 'the address changes only when the link is used');
    const token = await linkToken('new-' + u.username, 'verify-email');
    assert.deepEqual(await c.verifyEmail(token), { email: 'new-' + u.username, email_verified: true });
    const me = await c.me();
    assert.equal(me.email, 'new-' + u.username);
    assert.equal(me.email_verified, true);
  } finally {
    c.close();
  }
});
