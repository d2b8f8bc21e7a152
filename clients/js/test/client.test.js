// The client against a real baton server (the Go binary, built and started
// by the harness). Access tokens live 2 s and the reuse grace is 0, so any
// second refresh with a spent token would be reuse detection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BatonClient, BatonError, MemoryStorage, NoSessionError } from '../dist/index.js';
import { startBaton, CookieJar, newUser, sleep, waitFor } from './harness.js';

let server;
let expiredToken; // an access token expired for longer than the server's leeway
let expiredReady;

before(async () => {
  server = await startBaton({ BATON_ACCESS_TTL: '2s', BATON_REUSE_GRACE: '0' });
  // Mint a token now; it is past exp + 5 s leeway about 7 s from now.
  const u = newUser();
  const c = new BatonClient({ baseUrl: server.url, crossTab: false });
  await c.register(u.username, u.password);
  const tr = await c.login(u.username, u.password);
  c.close();
  expiredToken = tr.access_token;
  expiredReady = Date.now() + 7500;
});

after(async () => {
  await server?.stop();
});

/** A fetch that counts calls per path. */
function counting(inner = globalThis.fetch) {
  const counts = new Map();
  const f = (input, init) => {
    const p = new URL(input instanceof Request ? input.url : String(input)).pathname;
    counts.set(p, (counts.get(p) ?? 0) + 1);
    return inner(input, init);
  };
  f.count = (p) => counts.get(p) ?? 0;
  return f;
}

async function loggedIn(opts = {}) {
  const u = newUser();
  const jar = new CookieJar();
  const f = counting(jar.fetch());
  const c = new BatonClient({ baseUrl: server.url, crossTab: false, fetch: f, getCookie: (n) => jar.get(n), ...opts });
  await c.register(u.username, u.password);
  await c.login(u.username, u.password);
  return { c, u, jar, f };
}

test('body transport: login, me, refresh before expiry, logout', async () => {
  const storage = new MemoryStorage();
  const { c, u, f } = await loggedIn({ transport: 'body', storage });
  try {
    assert.match(storage.load(), /^brt_/);
    const me = await c.me();
    assert.equal(me.username, u.username);
    const refreshed = [];
    c.onTokenRefreshed((e) => refreshed.push(e));
    // 2 s tokens refresh at ~1.33 s; after 3.5 s two rotations happened and
    // no request ever met an expired token.
    await sleep(3500);
    assert.ok(refreshed.length >= 2, `refreshed ${refreshed.length} times, want >= 2`);
    assert.ok(refreshed.every((e) => e.source === 'this_tab' && e.kind === 'refresh'));
    assert.ok(c.accessExpiresInMs() > 0);
    assert.equal((await c.me()).username, u.username);
    assert.equal(f.count('/v1/refresh'), refreshed.length);
    const ended = [];
    c.onSessionEnd((r) => ended.push(r));
    await c.logout();
    assert.deepEqual(ended, ['logged_out']);
    assert.equal(storage.load(), null);
    assert.equal(c.loggedIn, false);
    await assert.rejects(c.me(), NoSessionError);
  } finally {
    c.close();
  }
});

test('errors carry the contract code', async () => {
  const c = new BatonClient({ baseUrl: server.url, crossTab: false });
  const u = newUser();
  await c.register(u.username, u.password);
  await assert.rejects(c.register(u.username, u.password), (e) => e instanceof BatonError && e.status === 409 && e.code === 'username_taken');
  await assert.rejects(c.login(u.username, 'wrong password!'), (e) => e instanceof BatonError && e.code === 'invalid_credentials');
  c.close();
});

test('single-flight: concurrent requests and refreshes share one refresh', async () => {
  const { c, f } = await loggedIn({ transport: 'body', refreshMarginMs: () => 0 });
  try {
    const before = f.count('/v1/refresh');
    await Promise.all([...Array(16)].map(() => c.refresh()));
    assert.equal(f.count('/v1/refresh') - before, 1);
    const refreshes = f.count('/v1/refresh');
    // Let the token get close to expiry: every request then needs the
    // refresh, and they must share it.
    await sleep(Math.max(0, c.accessExpiresInMs() - 800));
    const results = await Promise.all([...Array(32)].map(() => c.fetch('/v1/me')));
    assert.ok(results.every((r) => r.status === 200), results.map((r) => r.status).join(','));
    assert.equal(f.count('/v1/refresh') - refreshes, 1);
  } finally {
    c.close();
  }
});

test('401 token_expired: refresh and retry once', async () => {
  await sleep(Math.max(0, expiredReady - Date.now()));
  let swapped = false;
  const inner = counting();
  const f = (input, init) => {
    // The first /v1/me goes out with a token the server sees as expired.
    if (!swapped && String(input).endsWith('/v1/me')) {
      swapped = true;
      const h = new Headers(init.headers);
      h.set('Authorization', `Bearer ${expiredToken}`);
      return inner(input, { ...init, headers: h });
    }
    return inner(input, init);
  };
  const u = newUser();
  const c = new BatonClient({ baseUrl: server.url, crossTab: false, fetch: f, refreshMarginMs: () => -60_000 });
  try {
    await c.register(u.username, u.password);
    await c.login(u.username, u.password);
    const res = await c.fetch('/v1/me');
    assert.equal(res.status, 200);
    assert.equal(inner.count('/v1/me'), 2);
    assert.equal(inner.count('/v1/refresh'), 1);
  } finally {
    c.close();
  }
});

test('refresh_cookie transport: refresh token only in the cookie', async () => {
  const { c, u, jar, f } = await loggedIn({ transport: 'refresh_cookie' });
  try {
    assert.ok(jar.value('baton_refresh', '/v1/refresh'), 'refresh cookie on /v1/refresh');
    assert.ok(jar.get('baton_csrf'));
    assert.equal((await c.me()).username, u.username);
    const first = jar.value('baton_refresh', '/v1/refresh');
    await c.refresh();
    assert.notEqual(jar.value('baton_refresh', '/v1/refresh'), first);
    await sleep(2500); // across an expiry
    assert.equal((await c.me()).username, u.username);
    assert.ok(f.count('/v1/refresh') >= 2);
    await c.logout();
    assert.equal(jar.value('baton_refresh', '/v1/refresh'), undefined);
  } finally {
    c.close();
  }
});

test('cookies transport: no token in the body, CSRF on unsafe requests', async () => {
  const { c, u, jar } = await loggedIn({ transport: 'cookies' });
  try {
    assert.ok(jar.get('baton_access'));
    assert.equal((await c.me()).username, u.username);
    await sleep(2500);
    assert.equal((await c.me()).username, u.username);
    const fresh = await c.reauth(u.password);
    assert.equal(fresh.access_token, undefined);
    // An unsafe request gets X-CSRF-Token from the cookie: DELETE of an
    // unknown session is 404, not 403 csrf_failed.
    const res = await c.fetch('/v1/sessions/nope', { method: 'DELETE' });
    assert.equal(res.status, 404);
    await c.logout();
    assert.equal(jar.get('baton_access'), undefined);
  } finally {
    c.close();
  }
});

test('reauth gives a fresh token; change password moves to the new session', async () => {
  const { c, u } = await loggedIn({ transport: 'body' });
  try {
    const sid = c.currentSessionId;
    const tr = await c.reauth(u.password);
    assert.ok(tr.access_token);
    const claims = JSON.parse(Buffer.from(tr.access_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.fresh, true);
    await assert.rejects(c.reauth('not the password'), (e) => e.code === 'invalid_credentials');
    await c.changePassword(u.password, u.password + ' and more');
    assert.notEqual(c.currentSessionId, sid);
    assert.equal((await c.me()).session_id, c.currentSessionId);
  } finally {
    c.close();
  }
});

test('a stolen refresh token replayed after rotation: reuse_detected', async () => {
  const storage = new MemoryStorage();
  const { c } = await loggedIn({ transport: 'body', storage, refreshMarginMs: () => -60_000 });
  try {
    const stolen = storage.load();
    await c.refresh(); // the client rotates; `stolen` is spent
    const res = await fetch(server.url + '/v1/refresh', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: stolen }),
    });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, 'invalid_grant');
    const ended = [];
    c.onSessionEnd((r) => ended.push(r));
    await assert.rejects(c.refresh(), NoSessionError);
    assert.deepEqual(ended, ['reuse_detected']);
  } finally {
    c.close();
  }
});

test('a session revoked elsewhere: the next request ends it as revoked', async () => {
  const storage = new MemoryStorage();
  const { c } = await loggedIn({ transport: 'body', storage });
  try {
    const res = await fetch(server.url + '/v1/logout', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: storage.load() }),
    });
    assert.equal(res.status, 204);
    const ended = [];
    c.onSessionEnd((r) => ended.push(r));
    const me = await c.fetch('/v1/me');
    assert.equal(me.status, 401);
    assert.deepEqual(ended, ['revoked']);
    assert.equal(c.loggedIn, false);
  } finally {
    c.close();
  }
});

test('a wrong client clock does not matter', async () => {
  const realNow = Date.now;
  Date.now = () => realNow() - 3_600_000; // an hour slow
  try {
    const { c, u } = await loggedIn({ transport: 'body' });
    try {
      assert.ok(Math.abs(c.serverNow() - realNow()) < 1500, `server time estimate off by ${c.serverNow() - realNow()} ms`);
      const left = c.accessExpiresInMs();
      assert.ok(left > 1000 && left <= 2000, `expires in ${left} ms`);
      await sleep(2500);
      assert.equal((await c.me()).username, u.username);
    } finally {
      c.close();
    }
  } finally {
    Date.now = realNow;
  }
});

test('the access token is attached only to the server and listed origins', async () => {
  const seen = [];
  const { c } = await loggedIn({
    transport: 'body',
    resourceOrigins: ['http://api.example.test'],
    fetch: (input, init) => {
      const u = String(input);
      if (!u.startsWith(server.url)) {
        seen.push([u, new Headers(init.headers).get('Authorization')]);
        return Promise.resolve(new Response('{}', { status: 200 }));
      }
      return fetch(input, init);
    },
  });
  try {
    await c.fetch('http://api.example.test/x');
    await c.fetch('http://elsewhere.example.test/x');
    assert.match(seen[0][1], /^Bearer ey/);
    assert.equal(seen[1][1], null);
  } finally {
    c.close();
  }
});
