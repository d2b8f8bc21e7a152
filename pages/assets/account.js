// What the account pages share: the one-time token from the fragment, a
// JSON POST to baton's API, and the outcome line. No inline script: the
// page's CSP forbids it.

export const $ = (id) => document.getElementById(id);

/**
 * Calls use with the link's token (#token=…), or null when there is none,
 * and again whenever a link is opened over this page (only the fragment
 * changes then, and the page is not loaded again). The fragment is removed
 * from the address bar and the history entry first, so the token is not
 * left behind in the browser's history or shown over a shoulder.
 */
export function withToken(use) {
  const take = () => {
    const token = new URLSearchParams(location.hash.slice(1)).get('token');
    if (location.hash) history.replaceState(null, '', location.pathname + location.search);
    return token || null;
  };
  use(take());
  window.addEventListener('hashchange', () => {
    const token = take();
    if (token) use(token);
  });
}

/**
 * POSTs body as JSON to path below the issuer (same origin) and resolves
 * to {status, error, description, data}; a network failure is status 0.
 */
export async function post(path, body) {
  let res;
  try {
    res = await fetch(document.body.dataset.base + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    return { status: 0, error: 'network', description: 'the server could not be reached' };
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    // an empty answer (204) or not JSON
  }
  return {
    status: res.status,
    error: res.ok ? null : (data && data.error) || `http_${res.status}`,
    description: (data && data.error_description) || '',
    data,
  };
}

/** Shows text as the page's outcome; kind is '', 'ok' or 'error'. */
export function say(text, kind = '') {
  const o = $('outcome');
  o.textContent = text;
  o.classList.toggle('ok', kind === 'ok');
  o.classList.toggle('error', kind === 'error');
}

/** Shows the sign-in link, where there is a sign-in page. */
export function offerSignIn() {
  const s = $('sign-in');
  if (s) s.hidden = false;
}

export const missing = 'This link is incomplete. Open the whole link from the message, or copy all of it into the address bar.';
export const dead = 'This link has expired or has already been used.';

/** Words for answers every page may get. */
export function trouble(r) {
  if (r.status === 0) return 'The server could not be reached. Check your connection and try again.';
  if (r.status === 429) return 'Too many attempts from your network. Wait a while, then try again.';
  return `Something went wrong (${r.error}). Try again in a moment.`;
}
