// Passkeys through the client, as far as they go without a browser: the
// base64url conversion the client falls back on where the browser lacks
// PublicKeyCredential.parseCreationOptionsFromJSON / toJSON, what a failed
// navigator.credentials call becomes (PasskeyError), and the requests
// against a real baton with a stand-in for navigator.credentials that
// records what the browser would be given, and with a software
// authenticator (test/webauthn.js: a real P-256 key, answers without
// toJSON, so the client's own conversion is what the server checks). The
// browser's side, with Chromium's virtual authenticator, is
// e2e/passkey.test.js.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import {
  BatonClient,
  BatonError,
  MemoryStorage,
  PasskeyError,
  bufferToBase64url,
  base64urlToBuffer,
  creationOptionsFromJSON,
  requestOptionsFromJSON,
  credentialToJSON,
  passkeyErrorFrom,
} from '../dist/index.js';
import { startBaton, CookieJar, newUser } from './harness.js';
import { softAuthenticator } from './webauthn.js';

let server;
before(async () => {
  // The issuer names the real port: a page's origin is checked against it.
  server = await startBaton({}, { issuerFromPort: true });
});
after(async () => {
  await server?.stop();
});

const is = (status, code) => (e) => e instanceof BatonError && e.status === status && e.code === code;
const reason = (r) => (e) => e instanceof PasskeyError && e.reason === r;
const bytes = (b) => [...new Uint8Array(b)];

/**
 * A stand-in for navigator.credentials: records the options it is given
 * and answers with answer(options) (a credential, or throws).
 */
function authenticator(answer) {
  const calls = [];
  const run = (kind) => async (options) => {
    calls.push({ kind, options });
    return answer(options, kind);
  };
  return { calls, create: run('create'), get: run('get') };
}

function newClient(credentials, transport = 'body') {
  const jar = new CookieJar();
  const fetch = jar.fetch();
  const answers = [];
  // Records the server's JSON options, to compare with what the browser got.
  const recording = async (input, init) => {
    const res = await fetch(input, init);
    if (/\/options$/.test(String(input)) && res.ok) answers.push(await res.clone().json());
    return res;
  };
  const c = new BatonClient({ baseUrl: server.url, transport, crossTab: false, storage: new MemoryStorage(), fetch: recording, getCookie: (n) => jar.get(n), credentials });
  return { c, answers };
}

test('base64url: round trips every length and agrees with Node', () => {
  for (let n = 0; n <= 70; n++) {
    const b = randomBytes(n);
    const s = bufferToBase64url(b);
    assert.equal(s, b.toString('base64url'), `length ${n}`);
    assert.deepEqual(bytes(base64urlToBuffer(s)), [...b]);
    // A view into a larger buffer encodes only its own bytes.
    const outer = new Uint8Array(n + 3).fill(7);
    outer.set(b, 2);
    const view = outer.subarray(2, 2 + n);
    assert.equal(bufferToBase64url(view), s);
    assert.equal(bufferToBase64url(view.slice().buffer), s);
  }
  // All 256 byte values, in a buffer large enough to be chunked.
  const big = Buffer.alloc(0x20001, 0).map((_, i) => i & 0xff);
  assert.deepEqual(bytes(base64urlToBuffer(bufferToBase64url(big))), [...big]);
  // Padding is tolerated; the other alphabet and impossible lengths are not.
  assert.deepEqual(bytes(base64urlToBuffer('_-8=')), [0xff, 0xef]);
  assert.deepEqual(bytes(base64urlToBuffer('AA==')), [0]);
  for (const bad of ['a', 'abcde', '+/==', 'ab cd', 'ab.c', '=', 'AA=', 'AAAA==', 'AA===', '☃', null]) {
    assert.throws(() => base64urlToBuffer(bad), TypeError, String(bad));
  }
});

test('a failed navigator.credentials call becomes a PasskeyError with a reason', () => {
  const dom = (name) => new DOMException('the browser says no', name);
  for (const [err, want] of [
    [dom('NotAllowedError'), 'cancelled'],
    [dom('InvalidStateError'), 'already_registered'],
    [dom('AbortError'), 'aborted'],
    [dom('NotSupportedError'), 'unsupported'],
    [dom('SecurityError'), 'security'],
    [dom('UnknownError'), 'failed'],
    [new TypeError('bad options'), 'failed'],
    ['a string', 'failed'],
  ]) {
    const e = passkeyErrorFrom(err);
    assert.ok(e instanceof PasskeyError && e instanceof Error);
    assert.equal(e.reason, want, String(err.name ?? err));
    assert.equal(e.cause, err);
  }
  // The caller's own abort wins over whatever the browser called it.
  const ac = new AbortController();
  ac.abort();
  assert.equal(passkeyErrorFrom(dom('NotAllowedError'), ac.signal).reason, 'aborted');
  const same = new PasskeyError('cancelled', 'x');
  assert.equal(passkeyErrorFrom(same), same);
});

test('the fallback builds the server JSON of a registration and of an assertion', () => {
  const ab = (...b) => new Uint8Array(b).buffer;
  const reg = {
    id: 'AQID',
    rawId: ab(1, 2, 3),
    type: 'public-key',
    authenticatorAttachment: 'platform',
    getClientExtensionResults: () => ({ credProps: { rk: true } }),
    response: {
      clientDataJSON: ab(123, 125),
      attestationObject: ab(0xa0),
      getTransports: () => ['internal'],
      getAuthenticatorData: () => ab(9, 9),
      getPublicKey: () => {
        throw new Error('not exportable');
      },
      getPublicKeyAlgorithm: () => -7,
    },
  };
  assert.deepEqual(credentialToJSON(reg), {
    id: 'AQID',
    rawId: 'AQID',
    type: 'public-key',
    authenticatorAttachment: 'platform',
    clientExtensionResults: { credProps: { rk: true } },
    response: { clientDataJSON: 'e30', attestationObject: 'oA', authenticatorData: 'CQk', transports: ['internal'], publicKeyAlgorithm: -7 },
  });
  const assertion = {
    id: 'BAU',
    rawId: ab(4, 5),
    type: 'public-key',
    authenticatorAttachment: null,
    response: { clientDataJSON: ab(123, 125), authenticatorData: ab(1), signature: ab(0x30, 0), userHandle: ab(0xfb, 0xff) },
  };
  assert.deepEqual(credentialToJSON(assertion), {
    id: 'BAU',
    rawId: 'BAU',
    type: 'public-key',
    authenticatorAttachment: null,
    clientExtensionResults: {},
    response: { clientDataJSON: 'e30', authenticatorData: 'AQ', signature: 'MAA', userHandle: '-_8' },
  });
  assert.equal(credentialToJSON({ ...assertion, response: { ...assertion.response, userHandle: null } }).response.userHandle, null);
  // A browser's own toJSON is used as it is.
  assert.deepEqual(credentialToJSON({ toJSON: () => ({ id: 'native' }) }), { id: 'native' });
});

test('the options parsers decode exactly the binary members', () => {
  const c = creationOptionsFromJSON({
    challenge: 'AAEC',
    rp: { id: 'localhost', name: 'baton' },
    user: { id: '_w', name: 'u', displayName: 'u' },
    pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
    excludeCredentials: [{ type: 'public-key', id: 'BAU', transports: ['usb'] }],
    authenticatorSelection: { residentKey: 'required' },
  });
  assert.deepEqual(bytes(c.challenge), [0, 1, 2]);
  assert.deepEqual(bytes(c.user.id), [0xff]);
  assert.equal(c.user.name, 'u');
  assert.deepEqual(bytes(c.excludeCredentials[0].id), [4, 5]);
  assert.deepEqual(c.excludeCredentials[0].transports, ['usb']);
  assert.deepEqual(c.pubKeyCredParams, [{ type: 'public-key', alg: -7 }]);
  const r = requestOptionsFromJSON({ challenge: 'AAEC', rpId: 'localhost', allowCredentials: [{ type: 'public-key', id: 'BAU' }] });
  assert.deepEqual(bytes(r.challenge), [0, 1, 2]);
  assert.deepEqual(bytes(r.allowCredentials[0].id), [4, 5]);
  assert.equal(requestOptionsFromJSON({ challenge: 'AA' }).allowCredentials, undefined);
  assert.throws(() => requestOptionsFromJSON({ challenge: 'not base64url!' }), TypeError);
});

test('addPasskey gives the browser the server options, decoded; a dismissed prompt is PasskeyError cancelled', async () => {
  const auth = authenticator(() => {
    throw new DOMException('The operation either timed out or was not allowed.', 'NotAllowedError');
  });
  const { c, answers } = newClient(auth);
  const u = newUser();
  await c.register(u.username, u.password);
  await c.login(u.username, u.password);
  await assert.rejects(c.addPasskey('Laptop'), reason('cancelled'));
  assert.equal(auth.calls.length, 1);
  const { kind, options } = auth.calls[0];
  assert.equal(kind, 'create');
  const json = answers[0].options;
  assert.match(answers[0].flow_id, /^bpk_/);
  assert.equal(bufferToBase64url(options.publicKey.challenge), json.challenge);
  assert.ok(options.publicKey.challenge.byteLength >= 16);
  assert.equal(bufferToBase64url(options.publicKey.user.id), json.user.id);
  assert.equal(options.publicKey.rp.id, 'localhost');
  assert.equal(options.publicKey.authenticatorSelection.residentKey, 'required');
  assert.deepEqual(await c.listPasskeys(), []);
  await assert.rejects(c.removePasskey('nope'), is(404, 'not_found'));
  // Without a session: nothing is asked of the browser.
  await c.logout();
  await assert.rejects(c.addPasskey(), (e) => e.name === 'NoSessionError');
  assert.equal(auth.calls.length, 1);
  c.close();
});

test('without navigator.credentials the passkey calls are PasskeyError unsupported', async () => {
  const { c } = newClient(undefined);
  await assert.rejects(c.loginWithPasskey(), reason('unsupported'));
  assert.equal(c.loggedIn, false);
  c.close();
});

for (const transport of ['body', 'cookies']) {
  test(`${transport}: loginWithPasskey asks for any passkey of the site and posts the answer; an unknown one is invalid_credentials`, async () => {
    const auth = authenticator((options) => {
      const pk = options.publicKey;
      const clientData = JSON.stringify({ type: 'webauthn.get', challenge: bufferToBase64url(pk.challenge), origin: 'http://localhost:8080', crossOrigin: false });
      const id = randomBytes(16);
      // RP ID hash, flags (user present and verified), counter 0.
      const authenticatorData = Buffer.concat([createHash('sha256').update('localhost').digest(), Buffer.from([0x05, 0, 0, 0, 0])]);
      return {
        id: id.toString('base64url'),
        rawId: id.buffer.slice(id.byteOffset, id.byteOffset + 16),
        type: 'public-key',
        response: { clientDataJSON: new TextEncoder().encode(clientData).buffer, authenticatorData, signature: randomBytes(70), userHandle: randomBytes(16) },
      };
    });
    const { c, answers } = newClient(auth, transport);
    await assert.rejects(c.loginWithPasskey(), is(401, 'invalid_credentials'));
    assert.equal(c.loggedIn, false);
    const { kind, options } = auth.calls[0];
    assert.equal(kind, 'get');
    // Usernameless: nothing names a user or a credential.
    assert.equal(answers[0].options.allowCredentials, undefined);
    assert.equal(options.publicKey.allowCredentials, undefined);
    assert.equal(options.publicKey.rpId, 'localhost');
    assert.equal(bufferToBase64url(options.publicKey.challenge), answers[0].options.challenge);
    assert.equal(options.mediation, undefined);
    // Conditional mediation is passed on; an abort is the caller's.
    const ac = new AbortController();
    ac.abort();
    const aborting = authenticator(() => {
      throw new DOMException('aborted', 'AbortError');
    });
    const { c: c2 } = newClient(aborting, transport);
    await assert.rejects(c2.loginWithPasskey({ mediation: 'conditional', signal: ac.signal }), reason('aborted'));
    assert.equal(aborting.calls[0].options.mediation, 'conditional');
    assert.equal(aborting.calls[0].options.signal, ac.signal);
    c.close();
    c2.close();
  });
}

test('completeLogin({passkey: true}) without an open second step is invalid_grant and asks nothing of the browser', async () => {
  const auth = authenticator(() => {
    throw new Error('not reached');
  });
  const { c } = newClient(auth);
  await assert.rejects(c.completeLogin({ passkey: true }), is(401, 'invalid_grant'));
  assert.equal(auth.calls.length, 0);
  c.close();
});

/** The payload of a JWT (the access token), to read amr. */
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

/** The origin a page of this server's relying party has: localhost, not the loopback IP. */
const pageOrigin = () => server.url.replace('127.0.0.1', 'localhost');

test('a software authenticator: enrol, sign in without a username, finish a password login and a reauth, remove', async () => {
  const auth = softAuthenticator(pageOrigin());
  const { c } = newClient(auth);
  const u = newUser();
  await c.register(u.username, u.password);
  await c.login(u.username, u.password);
  const pk = await c.addPasskey('Node');
  assert.equal(pk.name, 'Node');
  assert.equal(pk.last_used_at, null);
  assert.deepEqual(await c.listPasskeys(), [pk]);
  assert.deepEqual((await c.me()).mfa, { totp: false, passkeys: 1, recovery_codes_left: 0 });
  // The same authenticator again: excluded by the options, so refused by
  // the authenticator, and also by the server since a second factor is
  // on and this token did not use it.
  await assert.rejects(c.addPasskey('Again'), is(401, 'insufficient_user_authentication'));
  await c.logout();

  // No username: any passkey of the site; the session is hwk + mfa.
  const tr = await c.loginWithPasskey();
  assert.equal(c.loggedIn, true);
  assert.deepEqual(claims(tr.access_token).amr, ['hwk', 'mfa']);
  assert.equal((await c.me()).username, u.username);
  const [used] = await c.listPasskeys();
  assert.notEqual(used.last_used_at, null);
  await assert.rejects(c.addPasskey('Again'), reason('already_registered'));
  await c.logout();

  // The password now asks for the passkey; a dismissed prompt keeps the step.
  const r = await c.login(u.username, u.password);
  assert.deepEqual(r, { mfaRequired: true, methods: ['passkey'], expiresInMs: 300_000 });
  auth.refuse('get');
  await assert.rejects(c.completeLogin({ passkey: true }), reason('cancelled'));
  assert.deepEqual(c.pendingSecondFactor, { purpose: 'login', methods: ['passkey'] });
  const second = await c.completeLogin({ passkey: true });
  assert.deepEqual(claims(second.access_token).amr, ['pwd', 'hwk', 'mfa']);
  assert.equal(c.pendingSecondFactor, null);
  // The second step's options name this user's passkey (and only it).
  const last = auth.calls.at(-1);
  assert.deepEqual(last.publicKey.allowCredentials.map((d) => bufferToBase64url(d.id)), [auth.held[0].id]);

  // A reauth asks for it too and gives a fresh token of this session.
  const sid = c.currentSessionId;
  assert.equal((await c.reauth(u.password)).mfaRequired, true);
  const fresh = await c.completeLogin({ passkey: true });
  assert.equal(fresh.session_id, sid);
  assert.equal(claims(fresh.access_token).fresh, true);

  // Removing the last second factor with this token (it used the
  // passkey); then the password alone signs in and the passkey does not.
  await c.removePasskey(pk.id);
  assert.deepEqual(await c.listPasskeys(), []);
  await assert.rejects(c.removePasskey(pk.id), is(404, 'not_found'));
  await c.logout();
  await assert.rejects(c.loginWithPasskey(), is(401, 'invalid_credentials'));
  assert.equal(c.loggedIn, false);
  assert.equal((await c.login(u.username, u.password)).mfaRequired, undefined);
  c.close();
});

test('cookies: loginWithPasskey opens a cookie session', async () => {
  const auth = softAuthenticator(pageOrigin());
  const { c } = newClient(auth, 'cookies');
  const u = newUser();
  await c.register(u.username, u.password);
  await c.login(u.username, u.password);
  await c.addPasskey();
  await c.logout();
  const tr = await c.loginWithPasskey();
  assert.equal(tr.access_token, undefined);
  assert.equal((await c.me()).username, u.username);
  const { sessions } = await (await c.fetch('/v1/sessions')).json();
  assert.deepEqual(sessions.find((s) => s.current).amr, ['hwk', 'mfa']);
  c.close();
});
