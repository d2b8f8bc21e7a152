// The demo page's script: UI glue around the baton client (baton-client.js,
// the compiled @batonauth/client). No inline script: the page's CSP forbids
// it.
import { BatonClient, MemoryStorage, BatonError, NoSessionError, PasskeyError } from './baton-client.js';

const $ = (id) => document.getElementById(id);
const baseUrl = new URL('.', document.baseURI).href.replace(/\/$/, '');
const params = new URLSearchParams(location.search);
// Not a token: only which transport this browser used last, so a new tab
// can take up the session.
const PREF = 'baton-demo-transport';

const explain = {
  logged_out: 'you logged out (here or in another tab).',
  expired: 'the session reached its expiry; log in again.',
  revoked: 'the session was revoked (logged out elsewhere, password changed, or ended by an administrator).',
  reuse_detected: 'reuse detected: a refresh token of this session was used after it had been rotated, so the server revoked the whole session. Someone may have stolen it.',
};

let client = null;
let storage = null;
let transport = null;
let countdownTimer = null;

function log(text, cls = '') {
  const li = document.createElement('li');
  const t = new Date().toLocaleTimeString([], { hour12: false });
  li.textContent = `${t} ${text}`;
  if (cls) li.className = cls;
  $('log').prepend(li);
  while ($('log').children.length > 200) $('log').lastChild.remove();
}

function status(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

function describe(err) {
  if (err instanceof BatonError) return `${err.code}: ${err.description}`;
  if (err instanceof NoSessionError) return err.message;
  if (err instanceof PasskeyError) return `${err.reason}: ${err.message}`;
  return String(err && err.message ? err.message : err);
}

function makeClient(t) {
  if (client) client.close();
  transport = t;
  storage = new MemoryStorage();
  client = new BatonClient({ baseUrl, transport: t, storage });
  client.onTokenRefreshed((e) => {
    const secs = Math.round(e.expiresInMs / 1000);
    const what = e.kind === 'refresh' ? 'access token refreshed' : `new access token (${e.kind})`;
    log(`${what} ${e.source === 'this_tab' ? 'by this tab' : 'by another tab'}; expires in ${secs} s`, 'refresh');
    $('who-session').textContent = e.sessionId;
    showSignedIn();
  });
  client.onSessionEnd((reason) => {
    log(`session ended: ${reason}`, 'error');
    $('ended-reason').textContent = reason.replace('_', ' ');
    $('ended-reason').dataset.reason = reason;
    $('ended-explain').textContent = '— ' + explain[reason];
    $('ended').hidden = false;
    showSignedOut();
  });
  if (params.get('testhooks') === '1') {
    // For the end-to-end tests only: lets them read what this page holds.
    window.__baton = { client, storage, refreshToken: () => storage.load() };
  }
  return client;
}

function showSignedIn() {
  $('signed-out').hidden = true;
  $('signed-in').hidden = false;
  $('who-transport').textContent = transport;
  if (!countdownTimer) {
    countdownTimer = setInterval(tick, 250);
    tick();
  }
}

function showSignedOut() {
  closeStep('reauth');
  hideEnrolment();
  hideRecoveryCodes();
  $('signed-in').hidden = true;
  $('signed-out').hidden = false;
  clearInterval(countdownTimer);
  countdownTimer = null;
  $('countdown').textContent = '…';
  $('sessions-table').hidden = true;
  $('passkeys-body').replaceChildren();
}

let lastShown = '';
function tick() {
  const ms = client && client.accessExpiresInMs();
  if (ms === null || ms === undefined) return;
  const text = ms > 0 ? `${Math.ceil(ms / 1000)} s` : 'expired';
  // Update only when the second changes, so screen readers are not flooded.
  if (text !== lastShown) {
    $('countdown').textContent = text;
    lastShown = text;
  }
  $('countdown').classList.toggle('soon', ms < 5000);
}

async function loadMe() {
  const me = await client.me();
  $('who-username').textContent = me.username;
  $('who-id').textContent = me.id;
  $('who-session').textContent = me.session_id;
  $('who-email').textContent = me.email ? `${me.email} (${me.email_verified ? 'confirmed' : 'not confirmed'})` : 'none';
  $('who-email').dataset.email = me.email ?? '';
  $('who-email').dataset.verified = String(!!me.email_verified);
  $('verify-line').hidden = !me.email || me.email_verified;
  showMfa(me.mfa);
  await listPasskeys();
  return me;
}

// Two-step sign-in: the state, enrolment with the QR code the server
// draws, recovery codes, turning it off.
function showMfa(mfa) {
  const on = !!mfa && mfa.totp;
  const passkeys = (mfa && mfa.passkeys) || 0;
  const plural = (n, what) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const codes = mfa && mfa.recovery_codes_left ? ` ${plural(mfa.recovery_codes_left, 'recovery code')} left.` : '';
  $('mfa-state').dataset.totp = String(on);
  // A passkey is a second factor too: with one, the password alone no
  // longer signs in.
  $('mfa-state').textContent = on
    ? `On: an authenticator app.${codes}${passkeys ? ` Passkeys: ${passkeys}.` : ''}`
    : passkeys
      ? `On: ${plural(passkeys, 'passkey')}.${codes}`
      : 'Off: your password alone signs you in.';
  $('totp-setup').hidden = on;
  $('totp-off').hidden = !on;
  $('recovery-new').hidden = !on && !passkeys;
}

// Passkeys: the list (names, when added, when last used), adding one on
// this device, removing one.
async function listPasskeys() {
  let list;
  try {
    list = await client.listPasskeys();
  } catch (err) {
    if (err instanceof BatonError && err.code === 'not_found') {
      // The server has passkeys off (an issuer at a non-loopback IP address).
      $('passkeys-card').hidden = true;
      $('passkey-login').hidden = true;
      return;
    }
    throw err;
  }
  $('passkeys-card').hidden = false;
  const when = (t) => (t ? new Date(t).toLocaleString() : 'never');
  $('passkeys-body').replaceChildren(
    ...list.map((p) => {
      const tr = document.createElement('tr');
      tr.dataset.id = p.id;
      for (const text of [p.name, when(p.created_at), when(p.last_used_at)]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      tr.children[2].className = 'last-used';
      const td = document.createElement('td');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'secondary';
      b.textContent = 'Remove';
      b.setAttribute('aria-label', `Remove passkey ${p.name}`);
      b.addEventListener('click', () =>
        run(
          b,
          'Removing the passkey',
          async () => {
            await client.removePasskey(p.id);
            await loadMe();
            status(`Removed the passkey ${p.name}.`);
            log(`removed the passkey ${p.name}`);
          },
          freshForMfa,
        ),
      );
      td.append(b);
      tr.append(td);
      return tr;
    }),
  );
  $('passkeys-table').hidden = list.length === 0;
  $('passkeys-state').textContent = list.length
    ? `${list.length} passkey${list.length === 1 ? '' : 's'}: each signs you in without a password, or stands in for the code after your password.`
    : 'None yet. A passkey signs you in without a password, with your device\'s screen lock.';
}

$('passkey-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = ev.currentTarget;
  run(
    $('passkey-add'),
    'Adding a passkey',
    async () => {
      let p;
      try {
        p = await client.addPasskey($('passkey-name').value.trim() || undefined);
      } catch (err) {
        if (err instanceof PasskeyError && err.reason === 'cancelled') {
          status('No passkey was added: the prompt was dismissed or timed out.', true);
          log('adding a passkey: the prompt was dismissed');
          return;
        }
        throw err;
      }
      f.reset();
      await loadMe();
      status(`Added the passkey ${p.name}.`);
      log(`added the passkey ${p.name}`);
    },
    freshForMfa,
  );
});

let qrUrl = null;
function hideEnrolment() {
  $('totp-enrol').hidden = true;
  // The set-up button comes back unless two-step sign-in is on.
  $('totp-setup').hidden = $('mfa-state').dataset.totp === 'true';
  $('totp-form').reset();
  $('totp-secret').textContent = '';
  $('totp-qr').removeAttribute('src');
  if (qrUrl) URL.revokeObjectURL(qrUrl);
  qrUrl = null;
}

function showRecoveryCodes(codes) {
  const list = $('recovery-codes');
  list.replaceChildren(
    ...codes.map((c) => {
      const li = document.createElement('li');
      li.textContent = c;
      return li;
    }),
  );
  $('recovery-box').hidden = false;
  $('recovery-saved').focus();
}

function hideRecoveryCodes() {
  $('recovery-codes').replaceChildren();
  $('recovery-box').hidden = true;
}

const freshForMfa = 'reauthenticate with your password (and a code, once two-step sign-in is on), then try again.';

$('totp-setup').addEventListener('click', (ev) => {
  run(
    ev.currentTarget,
    'Setting up an authenticator app',
    async () => {
      const e = await client.beginTotp();
      // The QR code comes from the server, fetched with the token: the
      // secret never goes into a URL, and the CSP allows no other origin.
      const png = await client.totpQrCode();
      hideEnrolment();
      qrUrl = URL.createObjectURL(png);
      $('totp-qr').src = qrUrl;
      $('totp-secret').textContent = e.secret.replace(/(.{4})(?=.)/g, '$1 ');
      $('totp-secret').dataset.secret = e.secret;
      $('totp-enrol').hidden = false;
      $('totp-setup').hidden = true;
      $('totp-code').focus();
      status('Scan the QR code with your authenticator app, then enter the code it shows.');
      log('began an authenticator app enrolment');
    },
    freshForMfa,
  );
});

$('totp-cancel').addEventListener('click', () => {
  hideEnrolment();
  status('');
});

$('totp-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  run(
    $('totp-button'),
    'Turning on two-step sign-in',
    async () => {
      const codes = await client.confirmTotp($('totp-code').value);
      hideEnrolment();
      showRecoveryCodes(codes);
      await loadMe();
      status('Two-step sign-in is on. Save your recovery codes now: they are not shown again.');
      log('turned on two-step sign-in');
    },
    freshForMfa,
  );
});

$('recovery-saved').addEventListener('click', () => {
  hideRecoveryCodes();
  status('Recovery codes put away.');
});

$('recovery-new').addEventListener('click', (ev) => {
  run(
    ev.currentTarget,
    'New recovery codes',
    async () => {
      showRecoveryCodes(await client.regenerateRecoveryCodes());
      await loadMe();
      status('New recovery codes: the old ones no longer work. Save these now.');
      log('replaced the recovery codes');
    },
    freshForMfa,
  );
});

$('totp-off').addEventListener('click', (ev) => {
  run(
    ev.currentTarget,
    'Turning off two-step sign-in',
    async () => {
      await client.disableTotp();
      hideRecoveryCodes();
      await loadMe();
      status('Two-step sign-in is off.');
      log('turned off two-step sign-in');
    },
    'sign in again: reauthenticate with your password and a code from your authenticator app, then press Turn off again.',
  );
});

function formValue(form, name) {
  return form.elements.namedItem(name).value;
}

async function run(button, what, fn, freshHint = 'reauthenticate with your password, then try again.') {
  button.disabled = true;
  try {
    await fn();
  } catch (err) {
    log(`${what} failed: ${describe(err)}`, 'error');
    if (err instanceof BatonError && err.code === 'insufficient_user_authentication') {
      // RFC 9470: the token is too old for this; the session is fine.
      status(`${what} needs a fresh token: ${freshHint}`, true);
      closeStep('reauth');
      $('reauth-password').focus();
    } else {
      status(`${what} failed: ${describe(err)}`, true);
    }
  } finally {
    button.disabled = false;
  }
}

$('register-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = ev.currentTarget;
  run($('register-button'), 'Registration', async () => {
    const email = formValue(f, 'email').trim();
    const u = await (client ?? makeClient(transport ?? 'refresh_cookie')).register(formValue(f, 'username'), formValue(f, 'password'), email || undefined);
    status(`Registered ${u.username}.${u.email ? ` A link to confirm ${u.email} is on its way.` : ''} Now log in.`);
    log(`registered ${u.username}`);
    $('login-username').value = u.username;
    $('login-password').focus();
  });
});

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = ev.currentTarget;
  const t = f.querySelector('input[name=transport]:checked').value;
  run($('login-button'), 'Login', async () => {
    if (!client || client.transport !== t || client.loggedIn) makeClient(t);
    const r = await client.login(formValue(f, 'username'), formValue(f, 'password'));
    f.reset();
    f.querySelector(`#t-${t}`).checked = true;
    if (r.mfaRequired) {
      // The password was right; the session waits for the second factor.
      log('password accepted; a second factor is needed');
      openStep('login', r.methods);
      status(stepPrompt(r.methods));
      return;
    }
    await loggedIn(t, '');
  });
});

$('passkey-login').addEventListener('click', (ev) => {
  const t = $('login-form').querySelector('input[name=transport]:checked').value;
  run(ev.currentTarget, 'Passkey sign-in', async () => {
    if (!client || client.transport !== t || client.loggedIn) makeClient(t);
    try {
      await client.loginWithPasskey();
    } catch (err) {
      if (err instanceof PasskeyError && err.reason === 'cancelled') {
        // Browsers say the same for "dismissed" and "no passkey here".
        status('No passkey was used: the prompt was dismissed, or this device has no passkey for this site.', true);
        log('passkey sign-in: no passkey chosen');
        return;
      }
      if (err instanceof BatonError && err.code === 'invalid_credentials') {
        status('That passkey was not accepted: it may have been removed from your account.', true);
        log(`Passkey sign-in failed: ${describe(err)}`, 'error');
        return;
      }
      throw err;
    }
    closeStep('login');
    await loggedIn(t, ' and a passkey');
  });
});

async function loggedIn(t, how) {
  localStorage.setItem(PREF, t);
  $('ended').hidden = true;
  log(`logged in with transport ${t}${how}`);
  showSignedIn();
  await loadMe();
  status(`Logged in as ${$('who-username').textContent}.`);
}

// The second step of a login or a reauth: a code from the authenticator
// app, or a recovery code.
const steps = {
  login: { first: 'login-form', what: 'Login', done: () => loggedIn(client.transport, ' and a second factor') },
  reauth: {
    first: 'reauth-form',
    what: 'Reauthentication',
    done: async () => {
      status('Reauthenticated with your second factor: your token is fresh.');
      log('reauthenticated with a second factor');
    },
  },
};

function openStep(kind, methods) {
  $(steps[kind].first).hidden = true;
  $(`${kind}-mfa-form`).hidden = false;
  const codes = methods.includes('totp') || methods.includes('recovery_code');
  $(`${kind}-mfa-switch`).hidden = !(methods.includes('totp') && methods.includes('recovery_code'));
  $(`${kind}-mfa-passkey-line`).hidden = !methods.includes('passkey');
  // Only a passkey: no code fields, no Continue.
  $(`${kind}-mfa-button`).hidden = !codes;
  useRecoveryCode(kind, !methods.includes('totp'), codes);
  if (!codes) {
    $(`${kind}-mfa-totp`).hidden = true;
    $(`${kind}-mfa-recovery`).hidden = true;
    $(`${kind}-mfa-code`).required = false;
    $(`${kind}-mfa-rc`).required = false;
    $(`${kind}-mfa-passkey`).focus();
  }
}

/** What a step's prompt says, by the methods it takes. */
function stepPrompt(methods) {
  if (!methods.includes('passkey')) return 'Enter the code from your authenticator app.';
  if (methods.includes('totp')) return 'Enter the code from your authenticator app, or use a passkey.';
  return 'Use your passkey to finish signing in.';
}

function useRecoveryCode(kind, on, focus = true) {
  const form = $(`${kind}-mfa-form`);
  form.dataset.method = on ? 'recovery_code' : 'totp';
  $(`${kind}-mfa-totp`).hidden = on;
  $(`${kind}-mfa-recovery`).hidden = !on;
  $(`${kind}-mfa-code`).required = !on;
  $(`${kind}-mfa-rc`).required = on;
  $(`${kind}-mfa-switch`).textContent = on ? 'Use a code from your authenticator app instead' : 'Use a recovery code instead';
  if (focus) $(on ? `${kind}-mfa-rc` : `${kind}-mfa-code`).focus();
}

function closeStep(kind) {
  const form = $(`${kind}-mfa-form`);
  if (form.hidden) return;
  form.reset();
  form.hidden = true;
  $(steps[kind].first).hidden = false;
}

for (const kind of Object.keys(steps)) {
  $(`${kind}-mfa-switch`).addEventListener('click', (ev) => {
    ev.preventDefault();
    useRecoveryCode(kind, $(`${kind}-mfa-form`).dataset.method !== 'recovery_code');
  });
  $(`${kind}-mfa-cancel`).addEventListener('click', () => {
    client.cancelSecondFactor();
    closeStep(kind);
    status('');
  });
  $(`${kind}-mfa-form`).addEventListener('submit', (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const recovery = form.dataset.method === 'recovery_code';
    const input = $(recovery ? `${kind}-mfa-rc` : `${kind}-mfa-code`);
    finishStep(kind, $(`${kind}-mfa-button`), recovery ? { recoveryCode: input.value } : { totp: input.value }, input);
  });
  $(`${kind}-mfa-passkey`).addEventListener('click', (ev) => finishStep(kind, ev.currentTarget, { passkey: true }, null));
}

function finishStep(kind, button, factor, input) {
  run(button, steps[kind].what, async () => {
    try {
      await client.completeLogin(factor);
    } catch (err) {
      if (err instanceof PasskeyError) {
        // Nothing reached the server: the step stays open.
        status(err.reason === 'cancelled' ? 'No passkey was used: the prompt was dismissed or timed out. Try again.' : `The passkey did not work here: ${describe(err)}`, true);
        log(`${steps[kind].what}: ${describe(err)}`, 'error');
        return;
      }
      if (!(err instanceof BatonError)) throw err;
      log(`${steps[kind].what} failed: ${describe(err)}`, 'error');
      if (!client.pendingSecondFactor) {
        // Used, expired or ended by wrong codes: the password again.
        closeStep(kind);
        status(`${steps[kind].what} failed: that took too long or had too many wrong codes. Enter your password again.`, true);
        return;
      }
      if (!input) {
        status('That passkey was not accepted. Try again, or another way.', true);
        return;
      }
      status(err.code === 'invalid_credentials' ? 'That code is wrong or was used already. Try again.' : `That is not a code: ${err.description}`, true);
      input.select();
      return;
    }
    closeStep(kind);
    await steps[kind].done();
  });
}

$('forgot-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = ev.currentTarget;
  run($('forgot-button'), 'Password reset request', async () => {
    const who = formValue(f, 'who').trim();
    await (client ?? makeClient(transport ?? 'refresh_cookie')).forgotPassword(who.includes('@') ? { email: who } : { username: who });
    f.reset();
    // The server's answer is the same whether or not the account exists.
    status('If an account exists for that, a message with a reset link is on its way.');
    log('asked for a password reset link');
  });
});

$('resend-verification').addEventListener('click', (ev) => {
  run(ev.currentTarget, 'Sending the link', async () => {
    await client.resendVerification();
    status(`A new confirmation link is on its way to ${$('who-email').dataset.email}.`);
    log('asked for a new confirmation link');
  });
});

$('email-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = ev.currentTarget;
  run($('email-button'), 'Email change', async () => {
    const email = $('new-email').value.trim();
    await client.changeEmail(email);
    f.reset();
    status(`A confirmation link went to ${email}; your address changes when you open it.`);
    log(`asked to change the address to ${email}`);
  });
});

$('call-protected').addEventListener('click', (ev) => {
  run(ev.currentTarget, 'Protected call', async () => {
    const res = await client.fetch('/v1/me');
    const body = await res.json();
    $('protected-result').textContent = `GET /v1/me → ${res.status}\n${JSON.stringify(body, null, 2)}`;
    log(`GET /v1/me → ${res.status}`);
  });
});

$('refresh-now').addEventListener('click', (ev) => {
  run(ev.currentTarget, 'Refresh', () => client.refresh());
});

$('logout').addEventListener('click', (ev) => {
  run(ev.currentTarget, 'Logout', async () => {
    await client.logout('local');
    status('Logged out.');
  });
});

$('logout-global').addEventListener('click', (ev) => {
  run(ev.currentTarget, 'Logout', async () => {
    await client.logout('global');
    status('Logged out of every session.');
  });
});

async function listSessions() {
  const res = await client.fetch('/v1/sessions');
  if (!res.ok) throw await res.json().then((b) => new BatonError(res.status, b.error, b.error_description));
  const { sessions } = await res.json();
  const body = $('sessions-body');
  body.replaceChildren();
  for (const s of sessions) {
    const tr = document.createElement('tr');
    const cells = [s.id.slice(0, 8) + (s.current ? ' (this one)' : ''), new Date(s.created_at).toLocaleString(), new Date(s.last_used_at).toLocaleString(), s.user_agent.slice(0, 40)];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i === 0) td.className = 'sid';
      tr.append(td);
    });
    const td = document.createElement('td');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'secondary';
    b.textContent = 'Revoke';
    b.setAttribute('aria-label', `Revoke session ${s.id.slice(0, 8)}`);
    b.addEventListener('click', () =>
      run(b, 'Revoke', async () => {
        const r = await client.fetch(`/v1/sessions/${encodeURIComponent(s.id)}`, { method: 'DELETE' });
        log(`revoked session ${s.id.slice(0, 8)} → ${r.status}`);
        if (s.current) {
          // Our own session: the next request is refused and ends it.
          await client.fetch('/v1/me').catch(() => undefined);
        } else {
          await listSessions();
        }
      }),
    );
    td.append(b);
    tr.append(td);
    body.append(tr);
  }
  $('sessions-table').hidden = false;
  log(`${sessions.length} live session(s)`);
}

$('list-sessions').addEventListener('click', (ev) => run(ev.currentTarget, 'Listing sessions', listSessions));

$('reauth-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = ev.currentTarget;
  run($('reauth-button'), 'Reauthentication', async () => {
    const r = await client.reauth($('reauth-password').value);
    f.reset();
    if (r.mfaRequired) {
      openStep('reauth', r.methods);
      status(r.methods.includes('passkey') && !r.methods.includes('totp') ? 'Use your passkey to finish reauthenticating.' : 'Enter the code from your authenticator app to finish reauthenticating.');
      return;
    }
    status('Reauthenticated: your token is fresh.');
  });
});

$('password-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = ev.currentTarget;
  run($('password-button'), 'Password change', async () => {
    await client.changePassword($('current-password').value, $('new-password').value);
    f.reset();
    await loadMe();
    if (!$('sessions-table').hidden) await listSessions();
    status('Password changed; every other session has ended.');
  });
});

// Start: take up a session another tab (or the refresh cookie) holds.
(async () => {
  const t = localStorage.getItem(PREF) || 'refresh_cookie';
  const radio = $(`t-${t}`);
  if (radio) radio.checked = true;
  makeClient(radio ? t : 'refresh_cookie');
  if (await client.resume()) {
    log(`took up the session (transport ${transport})`);
    showSignedIn();
    try {
      await loadMe();
    } catch (err) {
      log(`could not load the user: ${describe(err)}`, 'error');
    }
  } else {
    log('not logged in');
  }
  document.body.dataset.ready = '1';
})();
