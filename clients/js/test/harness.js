// Test harness: builds the real baton binary, starts `baton serve` on a
// loopback port and gives tests a tiny cookie jar for the cookie
// transports. Shared by the e2e tests.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

let binary;
/** Builds cmd/baton once per process (go's build cache makes repeats cheap). */
export function buildBaton() {
  if (binary) return binary;
  const dir = mkdtempSync(join(tmpdir(), 'baton-js-bin-'));
  binary = join(dir, 'baton');
  execFileSync('go', ['build', '-o', binary, './cmd/baton'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return binary;
}

let sinkBinary;
/**
 * Starts internal/smtpsink, a real SMTP server (mail/smtptest) that hands
 * the messages it receives to the test as JSON. Pass `env` to startBaton so
 * baton delivers to it. Returns {env, messages(), waitForMessage(pred),
 * stop()}; a message is {from, to, subject, text, html, link}.
 */
export async function startMailSink() {
  if (!sinkBinary) {
    const dir = mkdtempSync(join(tmpdir(), 'baton-js-sink-'));
    sinkBinary = join(dir, 'smtpsink');
    execFileSync('go', ['build', '-o', sinkBinary, './internal/smtpsink'], { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'] });
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  // stdin is a pipe: the sink exits when this process goes away.
  const child = spawn(sinkBinary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.removeListener('exit', reap));
  const first = await new Promise((res, rej) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', res);
    child.once('exit', (code) => rej(new Error(`smtpsink exited with ${code}`)));
  });
  const { smtp, http } = JSON.parse(first);
  const messages = async () => (await fetch(`http://${http}/messages`)).json();
  return {
    env: { BATON_SMTP_URL: `smtp+plain://${smtp}`, BATON_MAIL_FROM: 'noreply@example.com' },
    messages,
    /** Waits for a message that pred accepts and returns it. */
    async waitForMessage(pred, timeoutMs = 15_000) {
      let found;
      await waitFor(async () => (found = (await messages()).find(pred)) !== undefined, timeoutMs, 'a mail message');
      return found;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin.end();
      await exited;
    },
  };
}

/** A free loopback port (for when the issuer must name the real address). */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * Starts `baton serve` with env (BATON_* overrides). With `issuerFromPort`
 * the server listens on a port chosen here and BATON_ISSUER is its URL
 * (browsers send Origin, which must match the issuer); otherwise it listens
 * on 127.0.0.1:0 and the address comes from the "baton listening" log line.
 * Returns {url, logs(), stop()}.
 */
export async function startBaton(env = {}, { issuerFromPort = false } = {}) {
  const bin = buildBaton();
  const data = mkdtempSync(join(tmpdir(), 'baton-js-data-'));
  let addr = '127.0.0.1:0';
  const extra = {};
  if (issuerFromPort) {
    addr = `127.0.0.1:${await freePort()}`;
    extra.BATON_ISSUER = `http://${addr}`;
  }
  const child = spawn(bin, ['serve'], {
    env: {
      ...process.env,
      BATON_ADDR: addr,
      BATON_DATA_DIR: data,
      BATON_COOKIE_SECURE: 'false',
      BATON_LIMIT_IP_FAILURES: 'off',
      BATON_LIMIT_IP_REGISTRATIONS: 'off',
      BATON_LIMIT_ACCOUNT_FAILURES: 'off',
      ...extra,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Never outlive the test process, whatever happens to it.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.removeListener('exit', reap));
  const lines = [];
  const rl = createInterface({ input: child.stderr });
  const listening = new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error('baton did not start:\n' + lines.join('\n'))), 20_000);
    rl.on('line', (line) => {
      lines.push(line);
      try {
        const m = JSON.parse(line);
        if (m.msg === 'baton listening') {
          clearTimeout(timer);
          res(m.addr);
        }
      } catch {
        // not JSON
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`baton exited with ${code}:\n` + lines.join('\n')));
    });
  });
  const listenAddr = await listening;
  let stopped = false;
  return {
    url: `http://${listenAddr}`,
    logs: () => lines.join('\n'),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/**
 * A minimal cookie jar for node's fetch: keeps name, value and path per
 * cookie, honours Max-Age/Expires deletion, sends cookies whose path
 * prefixes the request path. Enough for baton's cookies on one origin.
 */
export class CookieJar {
  constructor() {
    this.cookies = new Map(); // `${name};${path}` -> {name, value, path, expires}
  }

  /** A fetch that sends and stores cookies. */
  fetch(inner = globalThis.fetch) {
    return async (input, init = {}) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
      const cookie = this.header(url.pathname);
      if (cookie && init.credentials !== 'omit') headers.set('Cookie', cookie);
      const res = await inner(input, { ...init, headers });
      for (const sc of res.headers.getSetCookie()) this.store(sc);
      return res;
    };
  }

  store(setCookie) {
    const [pair, ...attrs] = setCookie.split(';');
    const i = pair.indexOf('=');
    const name = pair.slice(0, i).trim();
    const value = pair.slice(i + 1).trim();
    let path = '/';
    let expires = Infinity;
    for (const a of attrs) {
      const [k, v = ''] = a.split('=');
      const key = k.trim().toLowerCase();
      if (key === 'path') path = v.trim();
      if (key === 'max-age') expires = Number(v) <= 0 ? 0 : Date.now() + Number(v) * 1000;
      if (key === 'expires' && expires === Infinity) expires = Date.parse(v);
    }
    const k = `${name};${path}`;
    if (expires <= Date.now() || value === '') this.cookies.delete(k);
    else this.cookies.set(k, { name, value, path, expires });
  }

  header(pathname) {
    const out = [];
    for (const c of this.cookies.values()) {
      if (c.expires <= Date.now()) continue;
      if (pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : c.path + '/')) out.push(`${c.name}=${c.value}`);
    }
    return out.join('; ');
  }

  /** A cookie's value as a page's script would read it (Path=/ cookies). */
  get(name) {
    for (const c of this.cookies.values()) if (c.name === name && c.path === '/' && c.expires > Date.now()) return c.value;
    return undefined;
  }

  /** Any cookie's value by name and path. */
  value(name, path) {
    return this.cookies.get(`${name};${path}`)?.value;
  }
}

let userSeq = 0;
/** A fresh username and a password that passes the strength check. */
export function newUser() {
  userSeq++;
  return { username: `user${process.pid}-${Date.now()}-${userSeq}@example.com`, password: 'correct horse battery staple ' + userSeq };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until cond() is true, polling; throws after timeoutMs. */
export async function waitFor(cond, timeoutMs = 10_000, what = 'condition') {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
