// Shared by the relying-party tests: a baton provider whose clients are
// registered the way an operator registers them (`baton clients add …
// --json` on the same store), users registered over the API, a scripted
// user agent that signs in on baton's own HTML pages (fetch + a cookie
// jar, no JavaScript).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildBaton, startBaton, startMailSink, newUser, CookieJar, freePort, repoRoot, sleep, waitFor } from '../clients/js/test/harness.js';

export { startMailSink, newUser, CookieJar, freePort, repoRoot, sleep, waitFor };
// The system Chromium, as the demo's browser tests drive it (with e2e's
// playwright-core: make rp-deps installs e2e's dependencies too).
export { launch, artifactPath } from '../e2e/helpers.js';

const run = promisify(execFile);

/**
 * Starts `baton serve` on its own SQLite store (BATON_DATA_DIR) with the
 * issuer naming its real address, as an OpenID provider is configured
 * (env may name another store, BATON_DATABASE_URL, and another issuer).
 * Returns the server plus:
 *  - cli(...args): runs `baton args…` against the same store (the admin
 *    commands) and returns what it printed;
 *  - addClient(name, flags): `baton clients add name …flags --json`,
 *    parsed ({client_id, client_secret?});
 *  - register(user?): POST /v1/register, returns the user with its id.
 */
export async function startProvider(env = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'baton-rp-data-'));
  const serverEnv = { BATON_DATA_DIR: dataDir, ...env };
  let server;
  try {
    // An issuer in env (a load balancer's) stays; else it is the server's own address.
    server = await startBaton(serverEnv, { issuerFromPort: !env.BATON_ISSUER });
  } catch (e) {
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const issuer = env.BATON_ISSUER ?? server.url;
  return {
    ...server,
    issuer,
    dataDir,
    /** Runs `baton args…` on the server's store; returns its stdout. */
    async cli(...args) {
      try {
        return (await run(buildBaton(), args, { env: { ...process.env, ...serverEnv, BATON_ISSUER: issuer }, cwd: repoRoot })).stdout;
      } catch (e) {
        throw new Error(`baton ${args.join(' ')} failed (${e.code}):\n${e.stdout}\n${e.stderr}`);
      }
    },
    async addClient(name, flags = []) {
      const out = await this.cli('clients', 'add', name, ...flags, '--json');
      try {
        return JSON.parse(out);
      } catch {
        throw new Error(`baton clients add ${name} printed no JSON object:\n${out}`);
      }
    },
    async register(user = newUser(), extra = {}) {
      const res = await fetch(server.url + '/v1/register', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: user.username, password: user.password, ...extra }),
      });
      const body = await res.json();
      if (res.status !== 201) throw new Error(`POST /v1/register → ${res.status} ${JSON.stringify(body)}`);
      return { ...user, ...body };
    },
    stop: async () => {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const entities = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
function unescapeHTML(s) {
  return s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
    return entities[e.toLowerCase()] ?? m;
  });
}

function attributes(tag) {
  const out = {};
  const re = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  // Skip the tag name itself.
  const body = tag.replace(/^<\w+/, '').replace(/\/?>$/, '');
  for (const m of body.matchAll(re)) out[m[1].toLowerCase()] = unescapeHTML(m[2] ?? m[3] ?? m[4] ?? '');
  return out;
}

/**
 * The forms of an HTML page as a browser sees them: action (resolved
 * against the page's URL; the page itself when absent), method, the
 * inputs by name and the named submit buttons.
 */
export function parseForms(html, pageURL) {
  const forms = [];
  for (const m of html.matchAll(/<form\b[^>]*>[\s\S]*?<\/form>/gi)) {
    const open = attributes(m[0].match(/^<form\b[^>]*>/i)[0]);
    const inputs = {};
    const buttons = [];
    for (const t of m[0].matchAll(/<(input|button)\b[^>]*>/gi)) {
      const a = attributes(t[0]);
      if (!a.name) continue;
      const type = (a.type ?? (t[1].toLowerCase() === 'button' ? 'submit' : 'text')).toLowerCase();
      if (type === 'submit') buttons.push({ name: a.name, value: a.value ?? '' });
      else if ((type === 'checkbox' || type === 'radio') && !('checked' in a)) continue;
      else inputs[a.name] = { type, value: a.value ?? (type === 'checkbox' ? 'on' : '') };
    }
    forms.push({ action: new URL(open.action || pageURL, pageURL), method: (open.method || 'get').toLowerCase(), inputs, buttons });
  }
  return forms;
}

/**
 * Plays a user agent without JavaScript from url until baton redirects to
 * redirectUri (not fetched): follows redirects, fills the sign-in form
 * (username, password; the hidden request and csrf ride along), the
 * second-factor form with code() (the first form with a code field: TOTP
 * when the user has it), and answers the consent form with decision. Returns {url, pages}: the URL
 * baton redirected to and the paths of the pages shown on the way, in
 * order. Form posts carry the Origin a browser sends.
 */
export async function userAgent(jar, url, { user, redirectUri, decision = 'allow', code, maxHops = 20 }) {
  const fetch = jar.fetch();
  const target = new URL(redirectUri);
  const pages = [];
  let next = new URL(url);
  let init = { method: 'GET' };
  for (let hop = 0; hop < maxHops; hop++) {
    if (next.origin === target.origin && next.pathname === target.pathname) return { url: next, pages };
    const res = await fetch(next, { ...init, redirect: 'manual' });
    if (res.status >= 300 && res.status < 400) {
      const loc = res.headers.get('location');
      if (!loc) throw new Error(`${init.method} ${next} → ${res.status} without Location`);
      next = new URL(loc, next);
      init = { method: 'GET' };
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`${init.method} ${next} → ${res.status}:\n${html.slice(0, 2000)}`);
    pages.push(next.pathname);
    const forms = parseForms(html, next);
    const login = forms.find((f) => f.inputs.password);
    const consent = forms.find((f) => f.buttons.some((b) => b.name === 'decision'));
    const secondFactor = forms.find((f) => f.inputs.code);
    let form;
    const fields = new URLSearchParams();
    if (secondFactor && !login) {
      if (!code) throw new Error(`${next.pathname} asks for a second factor, and no code was given`);
      form = secondFactor;
      for (const [k, v] of Object.entries(form.inputs)) fields.set(k, v.value);
      fields.set('code', code());
    } else if (login) {
      if (!user) throw new Error(`${next.pathname} asks for a password, and no user was given`);
      form = login;
      for (const [k, v] of Object.entries(form.inputs)) fields.set(k, v.value);
      fields.set('username', user.username);
      fields.set('password', user.password);
    } else if (consent) {
      form = consent;
      for (const [k, v] of Object.entries(form.inputs)) fields.set(k, v.value);
      fields.set('decision', decision);
    } else {
      throw new Error(`${next} shows no sign-in or consent form:\n${html.slice(0, 2000)}`);
    }
    if (form.method !== 'post') throw new Error(`the form of ${next.pathname} has method ${form.method}, want post`);
    next = form.action;
    init = {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: new URL(url).origin },
      body: fields.toString(),
    };
  }
  throw new Error(`no redirect to ${redirectUri} after ${maxHops} hops; pages: ${pages.join(', ')}`);
}

/** The payload of a JWT, unverified (for asserting on claims). */
export function jwtPayload(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

/** The protected header of a JWT. */
export function jwtHeader(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString());
}

/** Records a page's script errors and console errors. */
export function watchErrors(page) {
  page.errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') page.errors.push(m.text());
  });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return page;
}
