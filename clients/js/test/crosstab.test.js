// Cross-tab coordination, with node's BroadcastChannel standing in for the
// tabs of one browser (node 20 has no Web Locks, so this exercises the
// BroadcastChannel election). The server's reuse grace is 0: a second
// refresh with a spent token would end the session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BatonClient } from '../dist/index.js';
import { startBaton, CookieJar, newUser, sleep, waitFor } from './harness.js';

let server;
before(async () => {
  server = await startBaton({ BATON_ACCESS_TTL: '3s', BATON_REUSE_GRACE: '0' });
});
after(async () => {
  await server?.stop();
});

let channelSeq = 0;

function counting(inner = globalThis.fetch) {
  let n = 0;
  const f = (input, init) => {
    if (String(input).endsWith('/v1/refresh')) n++;
    return inner(input, init);
  };
  f.refreshes = () => n;
  return f;
}

for (const transport of ['body', 'refresh_cookie']) {
  test(`${transport}: two tabs refreshing at once rotate once, 20 times over`, async () => {
    const channelName = `test-${process.pid}-${++channelSeq}`;
    const jar = new CookieJar(); // one browser: the tabs share the cookies
    const fa = counting(jar.fetch());
    const fb = counting(jar.fetch());
    const common = { baseUrl: server.url, transport, channelName, getCookie: (n) => jar.get(n), refreshMarginMs: () => 500 };
    const a = new BatonClient({ ...common, fetch: fa });
    const b = new BatonClient({ ...common, fetch: fb });
    const ended = [];
    a.onSessionEnd((r) => ended.push('a:' + r));
    b.onSessionEnd((r) => ended.push('b:' + r));
    try {
      const u = newUser();
      await a.register(u.username, u.password);
      await a.login(u.username, u.password);
      await waitFor(() => b.loggedIn, 2000, 'tab b to adopt the login');
      assert.equal(b.currentSessionId, a.currentSessionId);
      // A refresh right after another tab's is shared without a request.
      await a.refresh();
      const shared = fb.refreshes();
      await b.refresh();
      assert.equal(fb.refreshes(), shared);
      for (let i = 0; i < 20; i++) {
        // More than 300 ms after the last rotation, so both tabs really
        // race (within 300 ms one would simply share the other's).
        await sleep(320);
        const before = fa.refreshes() + fb.refreshes();
        await Promise.all([a.refresh(), b.refresh()]);
        assert.equal(fa.refreshes() + fb.refreshes() - before, 1, `round ${i}: one rotation for both tabs`);
        assert.deepEqual(ended, []);
      }
      // Both keep working on the shared rotated session.
      assert.equal((await a.me()).session_id, a.currentSessionId);
      assert.equal((await b.me()).session_id, a.currentSessionId);
      // Logout in one tab ends the other.
      await a.logout();
      await waitFor(() => !b.loggedIn, 2000, 'tab b to log out');
      assert.deepEqual(ended.sort(), ['a:logged_out', 'b:logged_out']);
    } finally {
      a.close();
      b.close();
    }
  });
}

test('a new tab takes up the session of an open one (body transport)', async () => {
  const channelName = `test-${process.pid}-${++channelSeq}`;
  const a = new BatonClient({ baseUrl: server.url, channelName });
  const u = newUser();
  await a.register(u.username, u.password);
  await a.login(u.username, u.password);
  const b = new BatonClient({ baseUrl: server.url, channelName });
  try {
    assert.equal(await b.resume(), true);
    assert.equal((await b.me()).username, u.username);
    // Timers in both tabs across several expiries: no reuse detection.
    await sleep(4000);
    assert.ok(a.loggedIn && b.loggedIn);
    assert.equal((await a.me()).username, u.username);
    assert.equal((await b.me()).username, u.username);
  } finally {
    a.close();
    b.close();
  }
});
