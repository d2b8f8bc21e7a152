// A session that reaches its absolute expiry ends with the reason
// `expired`. The server runs sessions of 2 s (access tokens of 1 s), which
// the configuration accepts since every lifetime may be as short as 1 s:
// the client refreshes on its own until the session's end, and the first
// refresh after it fails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BatonClient, NoSessionError } from '../dist/index.js';
import { startBaton, CookieJar, newUser, waitFor } from './harness.js';

let server;
before(async () => {
  server = await startBaton({ BATON_REFRESH_TTL: '2s', BATON_ACCESS_TTL: '1s' });
});
after(async () => {
  await server?.stop();
});

for (const transport of ['body', 'refresh_cookie', 'cookies']) {
  test(`${transport} transport: a session past its absolute lifetime ends as expired`, async () => {
    const u = newUser();
    const jar = new CookieJar();
    let refreshes = 0;
    const inner = jar.fetch();
    const f = (input, init) => {
      if (String(input).endsWith('/v1/refresh')) refreshes++;
      return inner(input, init);
    };
    const c = new BatonClient({ baseUrl: server.url, crossTab: false, transport, fetch: f, getCookie: (n) => jar.get(n) });
    try {
      await c.register(u.username, u.password);
      const tr = await c.login(u.username, u.password);
      assert.equal(tr.refresh_token_expires_in, 2);
      const ended = [];
      c.onSessionEnd((r) => ended.push(r));
      // No timed assertion: wait (polling) for the end, however long the
      // machine takes to get there.
      await waitFor(() => ended.length > 0, 30_000, 'the session to end');
      assert.deepEqual(ended, ['expired']);
      assert.ok(refreshes >= 1, `refreshed ${refreshes} times, want the client to have tried`);
      assert.equal(c.loggedIn, false);
      await assert.rejects(c.me(), NoSessionError);
    } finally {
      c.close();
    }
  });
}
